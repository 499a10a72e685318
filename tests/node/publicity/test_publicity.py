"""Complaint publicity at one node (issue 12 item 6; CONTRACT §10; docs/publicity.md).

Cases are filed and concluded through the staff API (the real lifecycle), and the publicity
is read the way the public reads it: the JSON, the CSV, the Atom feed and the page. The
oracle for privacy: the complainant's name, phone, address and e-mail appear in no response
body. Every test runs on SQLite and on PostgreSQL (``app_client``).
"""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from node.cases.uscc import check_character
from node.publicity import Disclosure, migrate_tables, service
from tests.node.cases.examples import complaint, consultation, report, staff_report

ATOM = "{http://www.w3.org/2005/Atom}"
PERSON = {"name": "王小明", "phone": "13912345678", "address": "深圳市南山区桃源村八栋", "email": "wxm@example.com"}
COMPANY_USCC = "914403001922038216"
SHOP_USCC = "92440305MA5F0Q1B3" + check_character("92440305MA5F0Q1B3")   # an individual business


def file(api, body) -> str:
    r = api.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def act(api, cid, role="handler", expect=200, **payload):
    r = api.post(f"/api/v1/cases/{cid}/actions", json=payload, role=role)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def concluded(api, body=None, outcome="mediated") -> str:
    cid = file(api, body or complaint())
    act(api, cid, action="accept")
    act(api, cid, action="conclude", outcome=outcome)
    return cid


def listing(api, query: str = "") -> dict:
    r = api.get(f"/public/v1/disclosures{query}", role=None)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def bodies(api, query: str = "") -> dict[str, str]:
    """Every public rendering of the publicity, as text."""
    out = {}
    for name, path in (("json", "/public/v1/disclosures"), ("csv", "/public/v1/disclosures.csv"),
                       ("atom", "/public/v1/disclosures.atom"), ("html", "/public/disclosures")):
        r = api.get(path + query, role=None)
        assert r.status_code == 200, (name, r.status_code)
        out[name] = r.get_data().decode("utf-8-sig")
    return out


def csv_rows(api, query: str = "") -> list[list[str]]:
    r = api.get("/public/v1/disclosures.csv" + query, role=None)
    assert r.status_code == 200
    return list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))


def atom_entries(api, query: str = "") -> list[ET.Element]:
    r = api.get("/public/v1/disclosures.atom" + query, role=None)
    assert r.status_code == 200 and r.content_type.startswith("application/atom+xml")
    return ET.fromstring(r.get_data()).findall(f"{ATOM}entry")


# -- what is published -------------------------------------------------------------------------
def test_a_concluded_complaint_is_published_with_the_fields_of_the_rules_and_nothing_of_the_complainant(app_client):
    api = app_client
    body = complaint(complainant={**PERSON, "type": "organisation"}, demand="退货并赔偿", occurred_on="2026-09-20")
    cid = file(api, body)
    assert listing(api)["items"] == []                 # registered: nothing yet
    act(api, cid, action="accept")
    assert listing(api)["total"] == 0                  # accepted: nothing yet
    api.clock.advance(days=3)
    act(api, cid, action="conclude", outcome="mediated")

    got = listing(api)
    assert got["total"] == 1 and got["page"] == 1
    entry = got["items"][0]
    assert {k: v for k, v in entry.items() if k != "published_at"} == {
        "case_id": cid, "complainant_type": "organisation", "business_name": "深圳市某某电器有限公司",
        "business_uscc": COMPANY_USCC, "goods_or_service": "家用电器", "category": "G0303",
        "submitted_on": "2026-09-29", "dispute_on": "2026-09-20", "problem": "新买的冰箱不制冷，商家拒绝退货",
        "demand": "退货并赔偿", "handled_on": "2026-10-03", "result": "调解成功", "result_code": "mediated",
        "region_code": "440305", "handling_node": "440305"}
    assert entry["published_at"] == "2026-10-03T09:00:00+08:00"
    assert api.get(f"/public/v1/disclosures/{cid}", role=None).get_json() == entry

    seen = bodies(api)
    seen["one"] = api.get(f"/public/v1/disclosures/{cid}", role=None).get_data().decode()
    for name, text in seen.items():
        assert "新买的冰箱不制冷" in text, name
        for value in PERSON.values():
            assert value not in text, (name, value)

    rows = csv_rows(api)
    assert rows[0] == ["编号", "投诉人类型", "被投诉人", "统一社会信用代码", "商品或服务", "投诉日期", "争议发生日期",
                       "投诉问题", "投诉诉求", "处理日期", "处理结果", "公示时间"]
    assert rows[1][:11] == [cid, "单位", "深圳市某某电器有限公司", COMPANY_USCC, "家用电器", "2026-09-29",
                            "2026-09-20", "新买的冰箱不制冷，商家拒绝退货", "退货并赔偿", "2026-10-03", "调解成功"]
    raw = api.get("/public/v1/disclosures.csv", role=None).get_data()
    assert raw.startswith(b"\xef\xbb\xbf")            # the BOM: Excel reads UTF-8

    html = seen["html"]
    assert "投诉公示" in html and "调解成功" in html and 'id="csv-link"' in html and 'id="atom-link"' in html


def test_the_atom_feed_is_valid_and_links_from_the_configured_url_not_the_host_header(app_client):
    api = app_client
    cid = concluded(api)
    r = api.client.get("/public/v1/disclosures.atom", headers={"Host": "evil.example"})
    feed = ET.fromstring(r.get_data())
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{tag}").text
    hrefs = [link.get("href") for link in feed.iter(f"{ATOM}link")]
    assert hrefs and all(h.startswith("http://440305.test/") for h in hrefs), hrefs
    assert b"evil.example" not in r.get_data()
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}id").text == f"http://440305.test/public/v1/disclosures/{cid}"
    assert entry.find(f"{ATOM}category").get("label") == "调解成功"
    assert "家用电器" in entry.find(f"{ATOM}content").text


def test_reports_consultations_referred_declined_and_open_complaints_are_never_published(app_client):
    api = app_client
    business = file(api, report())
    act(api, business, action="verify")
    act(api, business, action="file")
    act(api, business, action="conclude")
    staff = file(api, staff_report())
    act(api, staff, role="discipline", action="verify")
    act(api, staff, role="discipline", action="file")
    act(api, staff, role="discipline", action="conclude")
    asked = file(api, consultation())
    act(api, asked, action="answer", text="七天自签收次日起算。")
    referred = file(api, complaint(summary="物业收费纠纷"))
    act(api, referred, action="refer", body="住房和城乡建设局", reason="物业服务不属本部门职责")
    act(api, referred, action="close")
    declined = file(api, complaint(summary="超过时效的投诉"))
    act(api, declined, action="decline", reason="outside_remit")
    act(api, declined, action="close")
    still_open = file(api, complaint(summary="仍在调解的投诉"))
    act(api, still_open, action="accept")
    act(api, still_open, action="mediate")

    assert listing(api) == {"items": [], "total": 0, "page": 1, "per_page": 20}
    assert csv_rows(api)[1:] == [] and atom_entries(api) == []
    assert 'id="no-results"' in api.get("/public/disclosures", role=None).get_data(as_text=True)
    for cid in (business, staff, asked, referred, declined, still_open):
        assert api.get(f"/public/v1/disclosures/{cid}", role=None).status_code == 404
    with api.node.activate():
        assert Disclosure.select().count() == 0


@pytest.mark.parametrize("outcome", ["mediated", "not_mediated", "settled", "withdrawn"])
def test_every_conclusion_of_a_complaint_is_published_with_its_label(app_client, outcome):
    from node.cases import OUTCOMES
    concluded(app_client, outcome=outcome)
    (entry,) = listing(app_client)["items"]
    assert (entry["result_code"], entry["result"]) == (outcome, OUTCOMES[outcome][0])


def test_reopening_withdraws_the_entry_and_concluding_again_publishes_it_once(app_client):
    api = app_client
    cid = concluded(api)
    act(api, cid, action="close")                       # archived after the follow-up: still published
    assert [e["case_id"] for e in listing(api)["items"]] == [cid]
    act(api, cid, action="reopen", reason="回访不满意")
    assert listing(api)["total"] == 0 and csv_rows(api)[1:] == [] and atom_entries(api) == []
    assert api.get(f"/public/v1/disclosures/{cid}", role=None).status_code == 404
    api.clock.advance(days=5)
    act(api, cid, action="conclude", outcome="settled")
    got = listing(api)
    assert got["total"] == 1
    assert (got["items"][0]["result"], got["items"][0]["handled_on"]) == ("和解", "2026-10-05")


def test_an_individual_business_is_masked_everywhere_yet_found_by_its_code(app_client):
    api = app_client
    shop = {"name": "深圳市南山区张大山五金店", "uscc": SHOP_USCC, "region_code": "440305"}
    cid = concluded(api, complaint(respondent=shop, complainant=PERSON))
    entry = listing(api)["items"][0]
    assert entry["case_id"] == cid
    assert entry["business_name"] == "深***五金店"
    assert entry["business_uscc"] == SHOP_USCC[:8] + "*********" + SHOP_USCC[17]
    assert entry["complainant_type"] == "individual"          # no type given: an individual
    for name, text in bodies(api).items():
        assert "张大山" not in text and SHOP_USCC not in text, name
        assert "深***五金店" in text, name
    # the masked name is what the search sees: the real one finds nothing
    assert listing(api, "?q=张大山")["total"] == 0
    assert listing(api, "?q=五金店")["total"] == 1
    # the code on the licence the shop displays finds it, typed in lower case too
    assert [e["case_id"] for e in listing(api, f"?uscc={SHOP_USCC.lower()}")["items"]] == [cid]


def test_a_business_named_without_code_and_like_a_person_is_masked(app_client):
    cid = concluded(app_client, complaint(respondent={"name": "李四", "region_code": "440305"}))
    (entry,) = listing(app_client)["items"]
    assert (entry["case_id"], entry["business_name"], entry["business_uscc"]) == (cid, "李***", None)


@pytest.mark.parametrize(("name", "shown"), [
    ("张三五金店", "张***五金店"), ("李四", "李***"), ("王记餐饮店", "王***餐饮店"), ("某超市", "某***超市"),
    ("赵六", "赵***"), ("", ""),
])
def test_mask_name(name, shown):
    assert service.mask_name(name) == shown


def test_search_by_name_problem_and_code(app_client):
    api = app_client
    fridge = concluded(api)
    phone = concluded(api, complaint(respondent={"name": "深圳市某某通讯有限公司", "uscc": "91440300708461136T",
                                                 "region_code": "440305"}, summary="手机充电发烫"))
    assert {e["case_id"] for e in listing(api)["items"]} == {fridge, phone}
    assert [e["case_id"] for e in listing(api, "?q=通讯")["items"]] == [phone]
    assert [e["case_id"] for e in listing(api, "?q=不制冷")["items"]] == [fridge]          # the problem
    assert [e["case_id"] for e in listing(api, "?uscc=91440300708461136t")["items"]] == [phone]
    assert listing(api, "?uscc=91440300708461136T&q=冰箱")["total"] == 0
    assert listing(api, "?q=%25")["total"] == listing(api, "?q=_")["total"] == 0               # no wildcards
    assert [r[0] for r in csv_rows(api, "?q=通讯")[1:]] == [phone]
    assert [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in atom_entries(api, "?q=通讯")] == [phone]
    page = api.get("/public/disclosures?q=通讯", role=None).get_data(as_text=True)
    assert f'id="d-{phone}"' in page and f'id="d-{fridge}"' not in page and 'value="通讯"' in page


def test_paging(app_client):
    api = app_client
    ids = [concluded(api, complaint(summary=f"第{i}件投诉")) for i in range(3)]
    first, second = listing(api, "?per_page=2"), listing(api, "?per_page=2&page=2")
    assert (first["total"], len(first["items"]), second["page"], len(second["items"])) == (3, 2, 2, 1)
    assert {e["case_id"] for e in first["items"] + second["items"]} == set(ids)
    page = api.get("/public/disclosures?per_page=2", role=None).get_data(as_text=True)
    assert 'rel="next" href="?page=2&amp;per_page=2"' in page


@pytest.mark.parametrize(("query", "field"), [
    ("page=0", "page"), ("page=x", "page"), ("page=-1", "page"), ("per_page=101", "per_page"),
    ("per_page=0", "per_page"), ("uscc=12345", "uscc"), ("uscc=91440300708461136I", "uscc"),
    ("q=" + "长" * 101, "q"),
    # a NUL was a 500 on PostgreSQL (found by tests/node/test_api_fuzz.py); other controls alike
    ("q=%E5%95%86%00", "q"), ("q=a%01b", "q"), ("q=a%0Ab", "q"),
])
def test_bad_parameters_are_refused_naming_the_field(app_client, query, field):
    api = app_client
    for path in ("/public/v1/disclosures", "/public/v1/disclosures.csv", "/public/v1/disclosures.atom"):
        if path != "/public/v1/disclosures" and field in ("page", "per_page"):
            continue   # the export and the feed take no paging
        r = api.get(f"{path}?{query}", role=None)
        assert r.status_code == 400, (path, r.status_code)
        assert r.get_json()["error"]["field"] == field, path
    page = api.get(f"/public/disclosures?{query}", role=None)
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "<form" in text and "<html" in text and "Traceback" not in text
    if field in ("q", "uscc"):
        assert f'id="{field}-error"' in text


def test_typed_script_and_formulas_stay_text(app_client):
    api = app_client
    name = '=HYPERLINK("http://x")<script>alert(1)</script>有限公司'
    summary = "<script>alert('s')</script>冰箱坏了"
    cid = concluded(api, complaint(respondent={"name": name, "uscc": COMPANY_USCC, "region_code": "440305"},
                                   summary=summary, demand="+1 退款 @once"))
    html = api.get("/public/disclosures", role=None).get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;alert(" in html
    raw_atom = api.get("/public/v1/disclosures.atom", role=None).get_data()
    assert b"<script>" not in raw_atom
    (entry,) = atom_entries(api)
    assert entry.find(f"{ATOM}title").text == f"{name}：{summary}"
    (row,) = csv_rows(api)[1:]
    assert row[0] == cid
    assert row[2] == "'" + name and row[8] == "'+1 退款 @once" and row[7] == summary
    assert listing(api)["items"][0]["business_name"] == name   # JSON carries the text as typed


# -- the table ---------------------------------------------------------------------------------
def test_the_hook_is_idempotent_and_keeps_the_first_publication_time(app_client):
    api = app_client
    cid = concluded(api)
    first = listing(api)["items"][0]["published_at"]
    api.clock.advance(days=1)
    act(api, cid, action="feedback", satisfaction="satisfied")     # a change that leaves it concluded
    from node.cases import Case, CaseChange
    with api.node.activate():
        row = Case.row(cid)
        change = CaseChange(row=row, events=[], previous_version=row["version"] - 1, changed={"status": "concluded"},
                            action="feedback")
        service.after_change(api.node, [change])
        service.after_change(api.node, [change])
        assert Disclosure.select().where(Disclosure.case_id == cid).count() == 1
    got = listing(api)
    assert got["total"] == 1 and got["items"][0]["published_at"] == first


def test_migration_backfills_the_concluded_complaints_already_stored(app_client):
    api = app_client
    cid = concluded(api, complaint(complainant=PERSON, demand="换货"))
    api.clock.advance(days=2)
    act(api, cid, action="close")
    file(api, complaint(summary="未办结"))
    with api.node.activate():
        Disclosure.delete().execute()          # as a node upgraded from before migration 10
    assert listing(api)["total"] == 0
    migrate_tables(api.node.db)
    migrate_tables(api.node.db)                # twice: still one entry
    got = listing(api)
    assert got["total"] == 1
    entry = got["items"][0]
    assert (entry["case_id"], entry["demand"], entry["handled_on"]) == (cid, "换货", "2026-09-30")
    for value in PERSON.values():
        assert value not in str(entry)


def test_the_routes_need_no_token_and_a_wrong_case_number_is_404(app_client):
    r = app_client.get("/public/v1/disclosures/440305-20260929-000099", role=None)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_the_csv_is_capped_and_says_so(app_client, monkeypatch):
    api = app_client
    ids = [concluded(api, complaint(summary=f"第{i}件投诉")) for i in range(3)]
    monkeypatch.setattr(service, "CSV_MAX_ROWS", 2)
    r = api.get("/public/v1/disclosures.csv", role=None)
    assert r.headers["X-Truncated"] == "2"
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert len(rows) == 1 + 2 + 1 and {row[0] for row in rows[1:3]} <= set(ids)
    assert "仅导出最新 2 条" in rows[-1][0]
    monkeypatch.setattr(service, "CSV_MAX_ROWS", 3)
    r = api.get("/public/v1/disclosures.csv", role=None)
    assert "X-Truncated" not in r.headers and len(r.get_data().decode("utf-8-sig").splitlines()) == 4


def test_the_page_is_chinese_by_default_and_english_on_request(app_client):
    api = app_client
    concluded(api)
    zh = api.get("/public/disclosures", role=None).get_data(as_text=True)
    assert "<dt>商品或服务</dt>" in zh and "<dt>处理结果</dt>" in zh and "下载 CSV" in zh
    en = api.get("/public/disclosures?lang=en", role=None).get_data(as_text=True)
    assert "<dt>Goods or service</dt>" in en and "Download as CSV" in en


def test_the_front_page_helper_gives_the_newest_entries(app_client):
    from node.publicity import recent_disclosures
    api = app_client
    ids = [concluded(api, complaint(summary=f"第{i}件投诉")) for i in range(3)]
    with api.node.activate():
        got = recent_disclosures(api.node, 2)
    assert len(got) == 2 and {g["case_id"] for g in got} <= set(ids)
    assert all(g["result"] == "调解成功" and "complainant" not in g for g in got)
