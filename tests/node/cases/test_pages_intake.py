"""The intake form (登记, issue 11 item 3; CONTRACT §9) through the pages, as a browser uses it:
field names, keyboard order, saving through ``create_case``, errors beside the field, the
two-track pair, the preview (triage and deadlines, nothing stored), duplicate hints, roles and
CSRF."""
from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import count_rows
from tests.node.cases import examples
from tests.node.desk.conftest import Desk

CONTRACT_NAMES = ["kind", "channel", "category", "urgency", "complainant.name", "complainant.phone",
                  "complainant.address", "respondent.name", "respondent.uscc", "respondent.region_code", "summary",
                  "description", "amount", "also_report"]
TAB_ORDER = ["kind", "complainant.name", "complainant.phone", "complainant.address", "respondent.name",
             "respondent.uscc", "respondent.region_code", "category", "summary", "description", "amount"]


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


def _signed_in(desk: Desk, role: str = "intake") -> Desk:
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    return desk


def form_of(case: dict) -> dict[str, str]:
    """A CONTRACT §5 body as the intake form posts it (dotted names, strings)."""
    out: dict[str, str] = {}
    for key, value in case.items():
        if key in ("received_at", "extensions", "report_target") or value is None:
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                if v not in (None, False):
                    out[f"{key}.{sub}"] = "1" if v is True else str(v)
        else:
            out[key] = str(value)
    return out


def _cases(desk: Desk) -> list[dict]:
    from node.cases import Actor, list_cases
    with desk.node.activate():
        return list_cases(desk.node, {}, Actor("t", "admin"))["items"]


def _get_case(desk: Desk, case_id: str) -> dict:
    from node.cases import Actor, get_case
    with desk.node.activate():
        return get_case(desk.node, case_id, Actor("t", "admin"))


def _error_beside(page: str, name: str) -> str | None:
    """The message shown in the field block of input ``name`` (None when there is none)."""
    ident = name.replace(".", "-")
    block = re.search(rf'<div class="field[^"]*"[^>]*>\s*<label for="f-{re.escape(ident)}".*?</div>', page, re.S)
    if block is None:
        block = re.search(rf'<div class="field[^"]*" id="w-{re.escape(ident)}">.*?</div>', page, re.S)
    assert block is not None, f"no field block for {name}"
    found = re.search(rf'<p class="error" id="e-{re.escape(ident)}"[^>]*>(.*?)</p>', block.group(0), re.S)
    return unescape(found.group(1)).strip() if found else None


def test_the_form_names_its_inputs_as_contract_9_with_a_label_each(desk):
    page = desk.text(_signed_in(desk).get("/desk/cases/new"))
    assert '<html lang="zh-CN">' in page
    names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page)
    for name in CONTRACT_NAMES + ["report_target", "complainant.anonymous"]:
        assert name in names, name
    for ident in re.findall(r'<(?:input|select|textarea)[^>]*\bid="(f-[^"]+)"', page):
        assert f'<label for="{ident}"' in page, f"no label for #{ident}"
    for ident in re.findall(r'<select[^>]*\bid="(region-level-\d)"', page):
        assert f'<label for="{ident}"' in page
    kind = re.search(r'<select[^>]*name="kind"[^>]*>', page).group(0)
    assert "autofocus" in kind
    assert len(re.findall(r"\bautofocus\b", page)) == 1
    # CSP: no inline script or style
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert "style=" not in page and "<style" not in page
    assert 'action="/desk/cases/new"' in page and 'name="csrf_token"' in page


def test_the_keyboard_meets_the_fields_in_the_order_an_operator_hears_them(desk):
    page = desk.text(_signed_in(desk).get("/desk/cases/new"))
    names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', page)
    positions = [names.index(n) for n in TAB_ORDER]
    assert positions == sorted(positions)
    assert names.index("kind") < names.index("channel") < names.index("complainant.name")
    assert "tabindex=" not in page.replace('tabindex="-1"', "")      # DOM order is the tab order


@pytest.mark.parametrize("level, code, channel", [("county", "440305", "visit"), ("province", "440000", "phone")])
def test_the_channel_defaults_to_the_hotline_where_the_node_takes_it(tmp_path, make_node, clock, level, code,
                                                                      channel):
    desk = _signed_in(Desk(make_node(tmp_path, level, code), clock))
    page = desk.text(desk.get("/desk/cases/new"))
    select = re.search(r'<select[^>]*name="channel".*?</select>', page, re.S).group(0)
    assert re.search(rf'<option value="{channel}" selected>', select)


def test_a_valid_submission_registers_through_create_case_and_opens_the_case_page(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    resp = desk.post("/desk/cases/new", form_of(examples.complaint(respondent={
        "name": "深圳市某某电器有限公司", "uscc": "914403001922038216", "region_code": "440305"})))
    assert resp.status_code in (302, 303)
    location = resp.headers["Location"]
    case_id = re.fullmatch(r"/desk/cases/(440305-20260930-\d{6})", location).group(1)
    case = _get_case(desk, case_id)
    want = examples.complaint()
    assert case["kind"] == "complaint" and case["channel"] == "phone" and case["category"] == "G0303"
    assert case["complainant"] == {**want["complainant"]}
    assert case["respondent"]["uscc"] == "914403001922038216" and case["respondent"]["region_code"] == "440305"
    assert case["summary"] == want["summary"] and case["description"] == want["description"]
    assert case["amount"] == "1299.00" and case["status"] == "registered"
    assert case["history"][0]["actor"] == "intake1"
    assert [c["id"] for c in _cases(desk)] == [case_id]


def test_a_category_picked_from_the_list_or_typed_by_name_is_stored_as_its_code(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    for typed in ("G0303 家用电器", "家用电器", "g0303"):
        resp = desk.post("/desk/cases/new", {**form_of(examples.complaint()), "category": typed, "amount": "¥1,299"})
        assert resp.status_code == 303, desk.text(resp)
        case = _get_case(desk, resp.headers["Location"].rsplit("/", 1)[1])
        assert case["category"] == "G0303" and case["amount"] == "1299.00"


@pytest.mark.parametrize("field, value, message", [
    ("respondent.uscc", "914403001922038217", "统一社会信用代码校验位错误：应为 6，实为 7"),
    ("complainant.phone", "", "投诉人联系电话（complainant.phone）为必填项"),
    ("respondent.region_code", "440399", "未知的行政区划代码 440399"),
    ("category", "Z99", "未知的分类代码 Z99"),
    ("amount", "12.345", "涉案金额（元）（amount）格式不正确"),
    ("summary", "", "摘要（summary）为必填项"),
])
def test_a_bad_field_shows_the_message_beside_it_and_stores_nothing(desk, field, value, message):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    before = count_rows(desk.node)
    form = form_of(examples.complaint())
    form[field] = value
    resp = desk.post("/desk/cases/new", form)
    assert resp.status_code == 422
    page = desk.text(resp)
    beside = _error_beside(page, field)
    assert beside is not None and message in beside, beside
    assert "/" not in beside.split("（")[0]                       # the Chinese half only
    others = [n for n in CONTRACT_NAMES if n not in (field, "also_report")]
    assert all(_error_beside(page, n) is None for n in others)
    # what was typed is still there
    assert 'value="深圳市南山区科技园"' in page and "使用三天后不制冷" in page
    assert count_rows(desk.node) == before


def test_the_message_is_english_on_an_english_page(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new?lang=en")
    resp = desk.post("/desk/cases/new", {**form_of(examples.complaint()), "respondent.uscc": "914403001922038217"})
    assert "check character is wrong: expected 6, got 7" in _error_beside(desk.text(resp), "respondent.uscc")


def test_also_report_registers_the_two_track_pair(desk):
    _signed_in(desk, "handler")
    desk.get("/desk/cases/new")
    resp = desk.post("/desk/cases/new", {**form_of(examples.complaint()), "also_report": "1"})
    assert resp.status_code == 303
    complaint = _get_case(desk, resp.headers["Location"].rsplit("/", 1)[1])
    assert complaint["kind"] == "complaint" and complaint["linked_case"]
    report = _get_case(desk, complaint["linked_case"])
    assert report["kind"] == "report" and report["linked_case"] == complaint["id"]
    assert len(_cases(desk)) == 2


def test_also_report_on_a_consultation_is_refused_beside_the_checkbox(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    resp = desk.post("/desk/cases/new", {**form_of(examples.consultation()), "also_report": "1"})
    assert resp.status_code == 422
    assert "仅投诉可同时登记为举报" in _error_beside(desk.text(resp), "also_report")
    assert _cases(desk) == []


def test_an_anonymous_report_needs_no_name_or_phone(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    form = {"kind": "report", "report_target": "business", "channel": "phone", "complainant.anonymous": "1",
            "respondent.name": "某超市", "respondent.region_code": "440305", "category": "G0101",
            "summary": "某超市销售过期食品"}
    resp = desk.post("/desk/cases/new", form)
    assert resp.status_code == 303, desk.text(resp)
    case = _get_case(desk, resp.headers["Location"].rsplit("/", 1)[1])
    assert case["kind"] == "report" and case["complainant"]["anonymous"] is True
    assert case["department"] != "discipline"                   # a report on a business, not on staff


def test_the_preview_shows_the_triage_urgency_and_the_accept_by_deadline_and_stores_nothing(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    before = count_rows(desk.node)
    form = {**form_of(examples.complaint()), "summary": "孩子吃了蛋糕后食物中毒"}
    panel = desk.text(desk.post("/desk/cases/new/preview", form, headers={"HX-Request": "true"}))
    assert "<html" not in panel                                   # a fragment for htmx
    assert re.search(r'id="preview-urgency"[^>]*>紧急<', panel)
    assert "关键词「食物中毒」" in panel
    accept_by = re.search(r'id="clock-complaint-accept_by".*?<strong class="due">([0-9-]{10})</strong>', panel,
                          re.S).group(1)
    assert "45 个工作日" in panel and "自受理之日起" in panel       # conclude_by starts at acceptance
    assert count_rows(desk.node) == before
    # the no-JavaScript way: the preview button on the form itself
    page = desk.text(desk.post("/desk/cases/new", {**form, "preview": "1"}))
    assert 'name="kind"' in page and accept_by in page and re.search(r'id="preview-urgency"[^>]*>紧急<', page)
    assert count_rows(desk.node) == before
    # and registering the same form gives the case exactly what the preview said
    resp = desk.post("/desk/cases/new", form)
    case = _get_case(desk, resp.headers["Location"].rsplit("/", 1)[1])
    assert case["urgency"] == "urgent" and case["deadlines"]["accept_by"] == accept_by


def test_the_preview_of_a_half_filled_form_says_what_is_still_missing(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    panel = desk.text(desk.post("/desk/cases/new/preview", {"kind": "report", "channel": "phone",
                                                             "summary": "商场发生火灾", "also_report": ""}))
    assert re.search(r'id="preview-urgency"[^>]*>特别紧急<', panel)
    assert 'id="clock-report-verify_by"' in panel
    assert "为必填项" in re.search(r'id="preview-problem">(.*?)<', panel).group(1)
    assert _cases(desk) == []


def test_the_preview_of_a_two_track_pair_shows_both_clocks(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    panel = desk.text(desk.post("/desk/cases/new/preview", {**form_of(examples.complaint()), "also_report": "1"}))
    assert 'id="clock-complaint-accept_by"' in panel and 'id="clock-report-verify_by"' in panel


def _register(desk: Desk, body: dict) -> str:
    from node.cases import Actor, create_case
    with desk.node.activate():
        return create_case(desk.node, body, Actor("earlier", "intake"))["id"]


def _similar_ids(panel: str) -> list[str]:
    block = re.search(r'id="similar-cases">.*?</section>', panel, re.S).group(0)
    return re.findall(r'<a href="/desk/cases/([0-9-]+)">', block)


def test_duplicate_hints_link_earlier_cases_with_the_same_phone_or_respondent(desk, clock):
    from tests.node.cases.examples import complaint, staff_report
    old = _register(desk, complaint(received_at=None, summary="一个多月前的投诉"))
    clock.advance(days=31)
    same_phone = _register(desk, complaint(received_at=None, respondent={"name": "另一家公司", "region_code": "440305"}))
    same_firm = _register(desk, complaint(received_at=None, complainant={"name": "李四", "phone": "13900000000",
                                                                         "address": "深圳"}))
    same_uscc = _register(desk, complaint(received_at=None, complainant={"name": "王五", "phone": "13700000000",
                                                                         "address": "深圳"},
                                          respondent={"name": "改了名的公司", "uscc": "914403001922038216",
                                                      "region_code": "440305"}))
    staff = _register(desk, staff_report(received_at=None, complainant={"name": "赵六", "phone": "13800000000"}))
    unrelated = _register(desk, complaint(received_at=None, complainant={"name": "钱七", "phone": "13600000000",
                                                                         "address": "深圳"},
                                          respondent={"name": "无关公司", "region_code": "440305"}))
    _signed_in(desk)
    desk.get("/desk/cases/new")
    panel = desk.text(desk.post("/desk/cases/new/preview", form_of(complaint(
        respondent={"name": "新公司", "region_code": "440305"}))))
    assert _similar_ids(panel) == [same_phone]                # same phone; not 31 days ago, not the staff report
    assert "同一电话" in panel
    panel = desk.text(desk.post("/desk/cases/new/preview", form_of(complaint(
        complainant={"name": "某", "phone": "13500000000", "address": "深圳"}))))
    assert _similar_ids(panel) == [same_uscc, same_firm]      # same USCC, same name; newest first
    assert old not in _similar_ids(panel) and unrelated not in _similar_ids(panel) and staff not in panel
    # on the re-shown form after an error too
    page = desk.text(desk.post("/desk/cases/new", {**form_of(complaint()), "summary": ""}))
    assert same_phone in _similar_ids(page)


def test_the_summary_a_person_typed_is_shown_as_text_in_the_hints(desk):
    from tests.node.cases.examples import complaint
    _register(desk, complaint(received_at=None, summary="<script>alert(1)</script>"))
    _signed_in(desk)
    desk.get("/desk/cases/new")
    panel = desk.text(desk.post("/desk/cases/new/preview", form_of(complaint())))
    assert "<script>alert(1)</script>" not in panel and "&lt;script&gt;alert(1)&lt;/script&gt;" in panel


def test_an_analyst_cannot_open_or_post_the_intake_form(desk):
    _signed_in(desk, "analyst")
    assert desk.get("/desk/cases/new").status_code == 403
    desk.get("/desk/")                                       # a page with a CSRF token
    before = count_rows(desk.node)
    assert desk.post("/desk/cases/new", form_of(examples.complaint())).status_code == 403
    assert desk.post("/desk/cases/new/preview", form_of(examples.complaint())).status_code == 403
    assert count_rows(desk.node) == before


def test_a_post_without_a_csrf_token_is_refused_and_stores_nothing(desk):
    _signed_in(desk)
    desk.get("/desk/cases/new")
    before = count_rows(desk.node)
    resp = desk.post("/desk/cases/new", form_of(examples.complaint()), csrf=False)
    assert resp.status_code == 400
    forged = desk.post("/desk/cases/new", {**form_of(examples.complaint()), "csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 400
    assert count_rows(desk.node) == before


def test_without_a_session_the_form_sends_you_to_sign_in(desk):
    resp = desk.get("/desk/cases/new")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/desk/login?next=/desk/cases/new")


def test_the_region_cascade_reads_the_division_table(desk):
    _signed_in(desk)
    provinces = desk.get("/desk/divisions/000000").get_json()
    assert {"code": "440000", "name": "广东省"} in provinces["children"]
    shenzhen = desk.get("/desk/divisions/440300").get_json()
    assert shenzhen["full_name"] == "广东省深圳市" and shenzhen["chain"] == ["440000", "440300"]
    assert {"code": "440305", "name": "南山区"} in shenzhen["children"]
    assert desk.get("/desk/divisions/440399").status_code == 404
    page = desk.text(desk.get("/desk/cases/new"))
    province = re.search(r'<select id="region-level-0".*?</select>', page, re.S).group(0)
    assert '<option value="440000" selected>广东省</option>' in province      # this node's province first
    again = desk.text(desk.post("/desk/cases/new", {**form_of(examples.complaint()), "summary": ""}))
    assert "广东省深圳市南山区" in again                                          # the typed code, named


def test_the_uscc_check_in_the_browser_is_the_server_check(desk):
    """intake.js ports node/cases/uscc.py: same charset, same weights."""
    from pathlib import Path

    from node.cases.uscc import CHARSET, WEIGHTS
    js = (Path(__file__).resolve().parents[3] / "node" / "static" / "cases" / "intake.js").read_text(encoding="utf-8")
    assert f'var CHARSET = "{CHARSET}";' in js
    assert "var WEIGHTS = [" + ", ".join(str(w) for w in WEIGHTS) + "];" in js
