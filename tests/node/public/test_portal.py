"""The public portal (issue 12 items 1-3; CONTRACT §10): a consumer files, gets a case number
and query code, follows the case; bad input, forged forms, limits and scripts change nothing
and echo nothing raw."""
from __future__ import annotations

import io
import re

import pytest

from node.cases import Case
from node.evidence.models import Evidence
from node.public.models import QueryCode
from tests.node.evidence.images import PDF, has_metadata, jpeg_with_gps
from tests.node.notify.stubs import SmsGateway
from tests.node.notify.stubs import configure as configure_notify
from tests.node.public.conftest import Consumer, complaint_form, configure

XSS = "<script>alert('x')</script>"


def cases(node) -> list[Case]:
    with node.activate():
        return list(Case.select().order_by(Case.pk))


def file_case(consumer: Consumer, form: dict, **kw):
    consumer.get("/public/complaint")
    return consumer.post("/public/complaint", form, **kw)


def receipt(consumer: Consumer) -> tuple[str, str]:
    page = consumer.text(consumer.get("/public/receipt"))
    return (re.search(r'id="case-id">([^<]+)<', page).group(1), re.search(r'id="query-code">([^<]+)<', page).group(1))


@pytest.fixture
def consumer(county) -> Consumer:
    configure(county, require_phone_code=False)
    return Consumer(county)


def test_the_form_names_its_inputs_as_contract_9_and_is_chinese_first(consumer):
    page = consumer.text(consumer.get("/public/complaint"))
    assert '<html lang="zh-CN">' in page
    for name in ("kind", "category", "complainant.name", "complainant.phone", "complainant.address",
                 "respondent.name", "respondent.uscc", "respondent.region_code", "summary", "description", "amount",
                 "also_report", "consent", "evidence"):
        assert f'name="{name}"' in page, name
    assert 'name="channel"' not in page                     # the portal's channel is always web
    assert "投诉" in page and "/public/privacy" in page       # consent text linked
    english = consumer.text(consumer.get("/public/complaint?lang=en"))
    assert '<html lang="en">' in english and "File a complaint" in english


def test_a_complaint_is_filed_with_a_receipt_and_followed_with_its_query_code(consumer, county):
    r = file_case(consumer, complaint_form(**{"complainant.email": "zhang@example.com"}))
    assert r.status_code == 303 and r.headers["Location"].endswith("/public/receipt")
    case_id, code = receipt(consumer)
    [row] = cases(county)
    assert row.case_id == case_id and row.channel == "web" and row.kind == "complaint"
    assert row.demand == "退货退款" and str(row.occurred_on) == "2026-09-20"
    assert '"email":"zhang@example.com"' in row.complainant.replace(" ", "")
    with county.activate():
        assert code not in QueryCode.get_by_id(case_id).code_hash        # only a hash is kept
    fresh = Consumer(county)                                              # another browser, no session
    page = fresh.text(fresh.get(f"/public/track?case_id={case_id}&query_code={code.lower()}"))
    assert re.search(r'id="case-status"[^>]*>已登记<', page)
    assert "广东省深圳市南山区市场监督管理局" in page                     # the handling unit, by name
    assert "13800138000" not in page and "张三" not in page            # nothing of the person on the page


def test_a_wrong_code_and_an_unknown_number_get_the_same_answer(consumer, county):
    file_case(consumer, complaint_form())
    case_id, code = receipt(consumer)
    other = case_id[:-1] + ("2" if case_id[-1] != "2" else "3")
    wrong = consumer.get(f"/public/track?case_id={case_id}&query_code=ZZZZZZZZ")
    unknown = consumer.get(f"/public/track?case_id={other}&query_code={code}")
    assert wrong.status_code == unknown.status_code == 404
    strip = lambda t, cid: re.sub(r'name="csrf_token" value="[^"]*"', "", t).replace(cid, "N")  # noqa: E731
    assert strip(consumer.text(wrong), case_id) == strip(consumer.text(unknown), other)
    assert "未找到与该编号和查询码相符的案件" in consumer.text(wrong)


def test_a_form_without_the_csrf_token_is_refused_and_stores_nothing(consumer, county):
    consumer.get("/public/complaint")
    r = consumer.post("/public/complaint", complaint_form(), csrf=False)
    assert r.status_code in (400, 403)
    assert cases(county) == []


@pytest.mark.parametrize(("drop", "field"), [("consent", "consent"), ("complainant.phone", "complainant.phone"),
                                             ("respondent.region_code", "respondent.region_code"),
                                             ("category", "category")])
def test_a_missing_field_shows_the_form_again_with_the_message_by_it(consumer, county, drop, field):
    r = file_case(consumer, complaint_form(**{drop: None}))
    page = consumer.text(r)
    assert 400 <= r.status_code < 500
    assert f'id="error-{field.replace(".", "-")}"' in page
    assert 'value="手机屏幕三天后失灵"' in page                         # what was typed is kept
    assert cases(county) == []


def test_script_in_every_text_field_is_stored_as_text_and_never_echoed_raw(consumer, county):
    fields = ("complainant.name", "complainant.address", "respondent.name", "respondent.address", "summary",
              "description", "demand")
    r = file_case(consumer, complaint_form(**{f: XSS for f in fields}))
    assert r.status_code == 303
    case_id, code = receipt(consumer)
    [row] = cases(county)
    assert row.summary == XSS
    assert "<script>alert" not in consumer.text(consumer.get("/public/receipt"))
    page = consumer.text(consumer.get(f"/public/track?case_id={case_id}&query_code={code}"))
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    # refused forms echo what was typed, escaped
    bad = consumer.text(file_case(consumer, complaint_form(consent=None, **{f: XSS for f in fields})))
    assert "<script>alert" not in bad and "&lt;script&gt;alert" in bad


def test_an_anonymous_report_needs_nobody_and_gets_a_query_code(consumer, county):
    form = {"kind": "report", "complainant.anonymous": "1", "respondent.name": "某无证诊所",
            "respondent.region_code": "440305", "category": "S0101", "summary": "无证行医", "consent": "1"}
    r = file_case(consumer, form)
    assert r.status_code == 303, consumer.text(r)[-800:]
    case_id, _ = receipt(consumer)
    [row] = cases(county)
    assert row.kind == "report" and '"anonymous":true' in row.complainant.replace(" ", "")


def test_two_tracks_are_followed_with_one_code(consumer, county):
    file_case(consumer, complaint_form(also_report="1"))
    case_id, code = receipt(consumer)
    rows = cases(county)
    assert len(rows) == 2
    linked = rows[1].case_id
    assert linked in consumer.text(consumer.get("/public/receipt"))
    fresh = Consumer(county)
    r = fresh.get(f"/public/track?case_id={linked}&query_code={code}")
    assert r.status_code == 200, (linked, code, [x.case_id for x in rows])


def test_attachments_are_stored_stripped_and_a_wrong_type_refuses_the_whole_filing(consumer, county):
    photo = jpeg_with_gps()
    consumer.get("/public/complaint")
    r = consumer.post("/public/complaint", {**complaint_form(), "evidence": [(io.BytesIO(photo), "票据.jpg"),
                                                                              (io.BytesIO(PDF), "合同.pdf")]},
                      content_type="multipart/form-data")
    assert r.status_code == 303
    with county.activate():
        stored = list(Evidence.select())
    assert sorted(e.media_type for e in stored) == ["application/pdf", "image/jpeg"]
    from node.evidence import store
    jpeg = next(e for e in stored if e.media_type == "image/jpeg")
    assert not has_metadata(store.read_blob(county, jpeg.sha256))
    before = len(cases(county))
    r = consumer.post("/public/complaint", {**complaint_form(), "evidence": [(io.BytesIO(b"MZ\x90\x00" * 50), "a.exe")]},
                      content_type="multipart/form-data")
    assert r.status_code in (415, 422) and 'id="error-evidence"' in consumer.text(r)
    assert len(cases(county)) == before                                  # no case without its files


def test_attachments_too_large_get_a_clear_413(consumer, county):
    import dataclasses
    county.config = dataclasses.replace(county.config, evidence=dataclasses.replace(county.config.evidence,
                                                                                      max_bytes=64 * 1024))
    consumer.get("/public/complaint")
    big = b"%PDF-1.4\n" + b"0" * (1200 * 1024)
    r = consumer.post("/public/complaint", {**complaint_form(), "evidence": [(io.BytesIO(big), "big.pdf")]},
                      content_type="multipart/form-data")
    assert r.status_code == 413 and "MiB" in consumer.text(r)
    assert cases(county) == []


def test_submissions_from_one_address_are_limited_with_a_chinese_message(consumer, county):
    configure(county, require_phone_code=False, submit_per_address_per_hour=2)
    assert file_case(consumer, complaint_form()).status_code == 303
    assert file_case(consumer, complaint_form()).status_code == 303
    r = file_case(consumer, complaint_form())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "提交次数过多" in consumer.text(r)
    assert len(cases(county)) == 2
    other = Consumer(county, address="198.51.100.9")                   # another address is not held up
    assert file_case(other, complaint_form()).status_code == 303


def test_track_lookups_are_limited_per_address(consumer, county):
    configure(county, require_phone_code=False, track_per_address_per_hour=3)
    for _ in range(3):
        assert consumer.get("/public/track?case_id=440305-20260930-000001&query_code=AAAAAAAA").status_code == 404
    assert consumer.get("/public/track?case_id=440305-20260930-000001&query_code=AAAAAAAA").status_code == 429


# -- the phone check ------------------------------------------------------------------------------
@pytest.fixture
def sms(county):
    with SmsGateway(secret="s") as gateway:
        configure_notify(county, sms_url=gateway.url, sms_secret="s")
        yield gateway


def sent_code(sms: SmsGateway) -> str:
    [code] = re.findall(r"(?<!\d)\d{6}(?!\d)", sms.messages[-1]["text"])
    return code


def test_a_complaint_needs_the_sms_code_sent_to_its_phone(county, sms):
    configure(county, require_phone_code=True)
    c = Consumer(county)
    r = file_case(c, complaint_form(phone_code="000000"))
    assert r.status_code == 422 and 'id="error-phone_code"' in c.text(r)
    assert cases(county) == []
    r = c.post("/public/phone-code", {"phone": "13800138000"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["sent"] is True
    assert sms.messages[-1]["to"] == "13800138000"
    code = sent_code(sms)
    assert file_case(c, complaint_form(phone_code=code)).status_code == 303
    assert file_case(c, complaint_form(phone_code=code)).status_code == 422     # a code is used once


def test_the_send_code_button_without_js_keeps_the_form(county, sms):
    configure(county, require_phone_code=True)
    c = Consumer(county)
    c.get("/public/complaint")
    r = c.post("/public/phone-code", complaint_form())
    page = c.text(r)
    assert r.status_code == 200 and 'id="form-notice"' in page and 'value="手机屏幕三天后失灵"' in page
    assert len(sms.messages) == 1


def test_codes_to_one_phone_are_limited(county, sms):
    configure(county, code_per_phone_per_hour=2)
    c = Consumer(county)
    c.get("/public/complaint")
    for _ in range(2):
        assert c.post("/public/phone-code", {"phone": "13800138000"}, headers={"Accept": "application/json"}).status_code == 200
    r = c.post("/public/phone-code", {"phone": "138 0013 8000"}, headers={"Accept": "application/json"})
    assert r.status_code == 429 and "验证码" in r.get_json()["error"]["message"]
    assert len(sms.messages) == 2


def test_wrong_codes_spend_the_code(county, sms):
    configure(county, require_phone_code=True, code_max_tries=2)
    c = Consumer(county)
    c.get("/public/complaint")
    c.post("/public/phone-code", {"phone": "13800138000"}, headers={"Accept": "application/json"})
    code = sent_code(sms)
    wrong = "111111" if code != "111111" else "222222"
    assert file_case(c, complaint_form(phone_code=wrong)).status_code == 422
    assert file_case(c, complaint_form(phone_code=wrong)).status_code == 422
    assert file_case(c, complaint_form(phone_code=code)).status_code == 422     # spent after two wrong tries
    assert cases(county) == []


def test_following_by_phone_lists_the_phones_cases(county, sms):
    configure(county, require_phone_code=False)
    c = Consumer(county)
    file_case(c, complaint_form())
    case_id, _ = receipt(c)
    fresh = Consumer(county)
    fresh.get("/public/track")
    r = fresh.post("/public/phone-code", {"phone": "13800138000", "purpose": "track"})
    assert r.status_code == 200
    r = fresh.post("/public/track/phone", {"phone": "13800138000", "phone_code": sent_code(sms)})
    assert r.status_code == 200 and case_id in fresh.text(r)
    page = fresh.text(fresh.get(f"/public/track?case={case_id}"))
    assert 'id="case-status"' in page
    stranger = Consumer(county)                                           # without the code: nothing
    assert 'id="case-status"' not in stranger.text(stranger.get(f"/public/track?case={case_id}"))


def test_query_codes_use_no_look_alike_characters_and_survive_any_case_and_spacing(county):
    from node.public import codes
    with county.activate():
        made = [codes.new_query_code(county, f"440305-20260930-{i:06d}") for i in range(1, 41)]
        assert all(len(c) == 8 and not set(c) & set("01OIL") for c in made)
        for i, c in enumerate(made[:5], start=1):
            typed = f" {c[:4].lower()}-{c[4:]} "
            assert codes.query_code_matches(county, f"440305-20260930-{i:06d}", typed)
            assert not codes.query_code_matches(county, f"440305-20260930-{i + 1:06d}", c)


def test_the_front_page_shows_warnings_typical_cases_and_publicity(county):
    from node.accounts import add_user
    with county.activate():
        token = add_user("leader1", "leader", county.now())
    c = Consumer(county)
    for kind, title in (("warning", "警惕预付卡“跑路”"), ("typical_case", "某健身房闭店退费案")):
        r = c.client.post("/api/v1/warnings", json={"kind": kind, "title": title, "body": "正文 <b>x</b>"},
                          headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201, r.get_json()
    page = c.text(c.get("/public/"))
    for anchor in ('id="go-complaint"', 'id="go-report"', 'id="go-consultation"', 'id="go-track"',
                   'id="front-warnings"', 'id="front-disclosures"', 'id="front-typical"'):
        assert anchor in page
    warnings = page[page.index('id="front-warnings"'):page.index('id="front-disclosures"')]
    typical = page[page.index('id="front-typical"'):]
    assert "警惕预付卡“跑路”" in warnings and "某健身房闭店退费案" not in warnings
    assert "某健身房闭店退费案" in typical and "<b>x</b>" not in page
