"""The case page of the desk (issue 11 item 5; CONTRACT §9 ``#case-id``, ``#case-status``):
its sections, the action buttons each role gets, actions confirmed before they are done,
refusals, the Word form, and routing to another node — all through the pages, as a browser
would (``Desk`` signs in through the form and posts with the page's CSRF token).

Every test runs on SQLite and on PostgreSQL (``make_node`` / the network's ``db_url_for``).
"""
from __future__ import annotations

import io
import re
from html import unescape

import pytest

from node.cases import Actor, act, create_case
from node.cases.models import Case, CaseEvent
from replication.models import OutboxEntry
from tests.network.harness import Network
from tests.node.cases.examples import complaint, report, staff_report
from tests.node.desk.conftest import Desk

INTAKE = Actor("intake0", "intake")
HANDLER = Actor("handler0", "handler")


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


def new_case(desk: Desk, body: dict | None = None, actor: Actor = INTAKE) -> dict:
    with desk.node.activate():
        return create_case(desk.node, body or complaint(), actor)


def do(desk: Desk, case_id: str, **payload) -> dict:
    with desk.node.activate():
        return act(desk.node, case_id, payload, HANDLER)


def as_role(desk: Desk, role: str) -> Desk:
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    desk.get("/desk/")                     # a page of the new session: its CSRF token
    return desk


def stored(desk: Desk, case_id: str) -> tuple[str, int, int, int]:
    """(status, version, history events, outbox entries): what "nothing changed" compares."""
    with desk.node.activate():
        row = Case.row(case_id)
        return (row["status"], row["version"], CaseEvent.for_case(case_id).count(), OutboxEntry.select().count())


def buttons(html: str) -> set[str]:
    return set(re.findall(r'id="act-([a-z_]+)"', html))


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return unescape(found.group(1)).strip()


def page(desk: Desk, case_id: str) -> str:
    resp = desk.get(f"/desk/cases/{case_id}")
    assert resp.status_code == 200, resp.status_code
    return desk.text(resp)


# -- what the page shows -------------------------------------------------------------------------
def test_the_case_page_shows_the_id_the_status_and_every_section(desk):
    case = new_case(desk)
    html = page(as_role(desk, "handler"), case["id"])
    assert text_of(html, "case-id") == case["id"]
    assert text_of(html, "case-status") == "已登记"
    for section in ("registration", "complaint-form", "requirements", "trail", "linked", "evidence", "case-actions"):
        assert f'id="{section}"' in html, section
    # registration: who took it (the first history event's actor), channel, accepting unit
    registration = re.search(r'id="registration".*?</section>', html, re.S).group(0)
    assert "intake0" in registration and "12315 电话" in registration
    assert "深圳市南山区市场监督管理局（440305）" in registration
    # the complaint form: respondent with USCC and region name, category name, money
    assert "914403001922038216" in html and "广东省深圳市南山区（440305）" in html
    assert "家用电器（G0303）" in html and "¥1,299.00" in html
    # handling requirements: received 09-29, now 09-30: accept_by 10-14 on the official calendar
    clock = re.search(r'id="clock-accept_by".*?</tr>', html, re.S).group(0)
    assert "2026-10-14" in clock and "剩余 6 个工作日" in clock
    assert 'id="clock-conclude_by"' in html and "尚未开始" in html
    # the trail in Asia/Shanghai time, the custody trail
    assert "2026-09-30 09:00" in re.search(r'id="history".*?</table>', html, re.S).group(0)
    assert 'id="custody"' in html
    # evidence loads by itself (htmx) and is a plain link without JavaScript
    evidence = re.search(r'id="evidence".*?</section>', html, re.S).group(0)
    assert f'hx-get="/desk/cases/{case["id"]}/evidence"' in evidence and 'hx-trigger="load"' in evidence
    assert f'href="/desk/cases/{case["id"]}/evidence"' in evidence
    assert f'href="/desk/cases/{case["id"]}/form.docx"' in html
    assert "<script>" not in html.split("</head>", 1)[1]          # no inline script (CSP)
    assert 'style="' not in html


def test_every_input_of_the_action_forms_has_a_label(desk):
    case = new_case(desk)
    do(desk, case["id"], action="accept")
    html = page(as_role(desk, "admin"), case["id"])
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html)
    assert ids
    for input_id in ids:
        assert f'<label for="{input_id}"' in html, input_id


def test_user_text_is_shown_as_text(desk):
    case = new_case(desk, complaint(summary="<script>alert('x')</script>", description='<img src=x onerror="y">',
                                    respondent={"name": "<b>坏店</b>", "region_code": "440305"}))
    html = page(as_role(desk, "handler"), case["id"])
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>坏店" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;坏店&lt;/b&gt;" in html


def test_english_on_request(desk):
    case = new_case(desk)
    html = desk.text(as_role(desk, "handler").get(f"/desk/cases/{case['id']}?lang=en"))
    assert text_of(html, "case-status") == "Registered" and "Handling requirements" in html


# -- which buttons ----------------------------------------------------------------------------------
@pytest.mark.parametrize("role, registered, accepted", [
    ("analyst", set(), set()),
    ("handler", {"accept", "decline", "refer", "urge", "comment", "assign"},
     {"mediate", "conclude", "pause", "urge", "comment", "assign"}),
    ("admin", {"accept", "decline", "refer", "urge", "comment", "assign"},
     {"mediate", "conclude", "pause", "urge", "comment", "assign"}),
    ("intake", {"comment"}, {"comment"}),
    ("supervisor", {"urge", "comment"}, {"urge", "comment"}),
    ("leader", {"urge", "comment"}, {"urge", "comment"}),
    ("discipline", set(), set()),          # acts on reports against staff only
])
def test_each_role_sees_only_the_actions_it_may_take(desk, role, registered, accepted):
    first, second = new_case(desk), new_case(desk)
    do(desk, second["id"], action="accept")
    as_role(desk, role)
    assert buttons(page(desk, first["id"])) == registered
    assert buttons(page(desk, second["id"])) == accepted


def test_the_buttons_follow_the_state_machine(desk):
    as_role(desk, "handler")
    rep = new_case(desk, report())
    assert {"verify", "refer", "extend"} <= buttons(page(desk, rep["id"]))
    assert "accept" not in buttons(page(desk, rep["id"]))
    do(desk, rep["id"], action="verify")
    do(desk, rep["id"], action="file")
    assert {"conclude", "notify"} <= buttons(page(desk, rep["id"]))
    done = new_case(desk)
    do(desk, done["id"], action="accept")
    do(desk, done["id"], action="conclude", outcome="settled")
    assert buttons(page(desk, done["id"])) >= {"feedback", "close", "notify", "reopen"}
    assert "conclude" not in buttons(page(desk, done["id"]))


def test_only_leaders_and_admins_may_turn_a_case_into_a_directive(desk):
    case = new_case(desk)
    link = f'href="/desk/directives/new?case_id={case["id"]}"'
    assert link in page(as_role(desk, "leader"), case["id"])
    assert link not in page(as_role(desk, "handler"), case["id"])


# -- doing an action ------------------------------------------------------------------------------
def test_an_action_without_confirmation_changes_nothing_and_says_what_will_happen(desk):
    case = new_case(desk)
    as_role(desk, "handler")
    before = stored(desk, case["id"])
    resp = desk.post(f"/desk/cases/{case['id']}/actions", {"action": "accept", "mode": "investigation"})
    assert resp.status_code == 200
    html = desk.text(resp)
    assert "已登记 → 已受理" in text_of(html, "confirm-status")
    assert "调查" in html and "2026-12-08" in html                 # the 45-working-day clock it starts
    assert 'id="confirm-action"' in html and 'name="confirmed" value="1"' in html
    assert 'name="mode" value="investigation"' in html
    assert stored(desk, case["id"]) == before
    assert text_of(page(desk, case["id"]), "case-status") == "已登记"


def test_confirmed_actions_change_the_status_and_the_history_shows_them(desk):
    case = new_case(desk)
    as_role(desk, "handler")
    url = f"/desk/cases/{case['id']}/actions"
    resp = desk.post(url, {"action": "accept", "mode": "mediation", "confirmed": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/desk/cases/{case['id']}?done=accept")
    html = page(desk, case["id"])
    assert text_of(html, "case-status") == "已受理"
    assert "受理（调解）" in re.search(r'id="history".*?</table>', html, re.S).group(0)
    # conclude: the confirmation names the outcome; then it is done
    form = {"action": "conclude", "outcome": "mediated", "amount_recovered": "50.00", "note": "退款 50 元"}
    confirm = desk.text(desk.post(url, form))
    assert "调解成功" in confirm and "¥50.00" in confirm and "已受理 → 已办结" in confirm
    assert desk.post(url, {**form, "confirmed": "1"}).status_code == 302
    html = page(desk, case["id"])
    assert text_of(html, "case-status") == "已办结"
    history = re.search(r'id="history".*?</table>', html, re.S).group(0)
    assert "办结" in history and "已受理 → 已办结" in history
    assert stored(desk, case["id"])[:3] == ("concluded", 3, 3)


@pytest.mark.parametrize("form, field, message", [
    ({"action": "conclude"}, "f-conclude-outcome", "outcome 为必填项"),
    ({"action": "conclude", "outcome": "mediated", "amount_recovered": "12.345"}, "f-conclude-amount_recovered",
     "amount_recovered"),
])
def test_a_refusal_is_shown_beside_the_field_and_nothing_changes(desk, form, field, message):
    case = new_case(desk)
    do(desk, case["id"], action="accept")
    as_role(desk, "handler")
    before = stored(desk, case["id"])
    for confirmed in ({}, {"confirmed": "1"}):
        resp = desk.post(f"/desk/cases/{case['id']}/actions", {**form, **confirmed})
        assert resp.status_code == 422
        html = desk.text(resp)
        assert f'id="{field}"' in html and 'aria-invalid="true"' in html
        assert message in text_of(html, f"e-{field}")
        assert stored(desk, case["id"]) == before


def test_an_action_the_state_machine_does_not_allow_is_refused_with_the_reason(desk):
    case = new_case(desk)
    as_role(desk, "handler")
    resp = desk.post(f"/desk/cases/{case['id']}/actions", {"action": "conclude", "outcome": "mediated"})
    assert resp.status_code == 409
    assert "不能执行「办结」" in text_of(desk.text(resp), "action-error")


@pytest.mark.parametrize("role, form", [
    ("intake", {"action": "conclude", "outcome": "mediated", "confirmed": "1"}),
    ("intake", {"action": "conclude", "outcome": "mediated"}),
    ("supervisor", {"action": "accept", "confirmed": "1"}),
    ("analyst", {"action": "comment", "note": "看一下", "confirmed": "1"}),
])
def test_a_forbidden_action_posted_directly_is_a_403_page_and_changes_nothing(desk, role, form):
    case = new_case(desk)
    if form["action"] == "conclude":
        do(desk, case["id"], action="accept")
    before = stored(desk, case["id"])
    resp = as_role(desk, role).post(f"/desk/cases/{case['id']}/actions", form)
    assert resp.status_code == 403
    assert "<h1>无权访问</h1>" in desk.text(resp) and 'id="confirm-action"' not in desk.text(resp)
    assert stored(desk, case["id"]) == before


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(desk):
    case = new_case(desk)
    as_role(desk, "handler")
    page(desk, case["id"])
    before = stored(desk, case["id"])
    resp = desk.post(f"/desk/cases/{case['id']}/actions", {"action": "accept", "confirmed": "1"}, csrf=False)
    assert resp.status_code == 400
    assert stored(desk, case["id"]) == before


def test_without_a_session_the_page_asks_to_sign_in(desk):
    case = new_case(desk)
    resp = desk.get(f"/desk/cases/{case['id']}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/desk/login?next=")


def test_refer_offers_the_directory_and_says_what_the_consumer_will_be_told(desk):
    case = new_case(desk, complaint(category="S0401", summary="手机套餐乱扣费"))
    html = page(as_role(desk, "handler"), case["id"])
    refer = re.search(r'id="form-refer".*?</form>', html, re.S).group(0)
    options = re.findall(r'<option value="([a-z_0-9]+)"', refer)
    assert options[0] == "telecom" and {"finance", "hotline_12345"} <= set(options)   # suggested first
    confirm = desk.text(desk.post(f"/desk/cases/{case['id']}/actions",
                                  {"action": "refer", "body": "telecom", "reason": "属电信服务争议"}))
    assert "通信管理局" in confirm and "12300" in confirm and "已登记 → 已移送 / 告知" in confirm
    assert stored(desk, case["id"])[0] == "registered"


# -- visibility ---------------------------------------------------------------------------------
def test_a_report_against_staff_is_a_404_page_to_the_handler_like_an_unknown_id(desk):
    case = new_case(desk, staff_report())
    as_role(desk, "handler")
    hidden = desk.get(f"/desk/cases/{case['id']}")
    unknown = desk.get("/desk/cases/440305-20260929-999999")
    assert hidden.status_code == unknown.status_code == 404
    assert "<h1>未找到</h1>" in desk.text(hidden)
    message = re.compile(r'class="error" role="alert">([^<]+)<')
    assert message.search(desk.text(hidden)).group(1).replace(case["id"], "?") == \
        message.search(desk.text(unknown)).group(1).replace("440305-20260929-999999", "?")
    assert desk.get(f"/desk/cases/{case['id']}/form.docx").status_code == 404
    assert desk.post(f"/desk/cases/{case['id']}/actions", {"action": "comment", "note": "x"}).status_code == 404
    # discipline inspection sees it and may act on it
    as_role(desk, "discipline")
    html = page(desk, case["id"])
    assert text_of(html, "case-id") == case["id"] and "verify" in buttons(html)


# -- linked cases ---------------------------------------------------------------------------------
def test_the_two_track_pair_and_the_duplicates_are_linked(desk):
    pair = new_case(desk, complaint(also_report=True))
    same_phone = new_case(desk, complaint(respondent={"name": "另一家店", "region_code": "440305"}))
    other = new_case(desk, complaint(complainant={"name": "李四", "phone": "13900000000", "address": "深圳"},
                                     respondent={"name": "无关的店", "region_code": "440305"}))
    html = page(as_role(desk, "handler"), pair["id"])
    assert pair["linked_case"] and f'href="/desk/cases/{pair["linked_case"]}"' in html
    duplicates = re.search(r'id="duplicates".*?</ul>', html, re.S).group(0)
    assert same_phone["id"] in duplicates and "同一电话" in duplicates
    assert other["id"] not in duplicates and pair["id"] not in duplicates
    assert pair["linked_case"] not in duplicates            # shown as the pair, not as a duplicate


# -- the Word form ---------------------------------------------------------------------------------
def test_the_case_form_exports_as_a_word_document(desk):
    from docx import Document
    case = new_case(desk, complaint(summary="冰箱不制冷 <退货>"))
    do(desk, case["id"], action="accept")
    resp = as_role(desk, "analyst").get(f"/desk/cases/{case['id']}/form.docx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert f'filename="{case["id"]}.docx"' in resp.headers["Content-Disposition"]
    doc = Document(io.BytesIO(resp.data))
    paragraphs = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert "投诉处理单" in paragraphs and "深圳市南山区市场监督管理局" in paragraphs
    assert case["id"] in paragraphs and case["id"] in cells
    # an analyst prints the complainant masked (issue 13 item 3: analysts are not the handler)
    assert "冰箱不制冷 <退货>" in cells and "张**" in cells and "张三" not in cells and "¥1,299.00" in cells
    assert "2026-12-08" in cells                              # the handling requirements
    assert "受理（调解）" in cells                             # the trail
    assert "承办人（签字）" in paragraphs


# -- two nodes: routing and proposals ------------------------------------------------------------
@pytest.fixture
def county_and_station(tmp_path, db_backend):
    from tests.conftest import drop_pg_schema, new_pg_url
    made: list[str] = []

    def url_for(code: str):
        if db_backend == "sqlite":
            return None
        made.append(new_pg_url())
        return made[-1]

    net = Network(tmp_path, db_url_for=url_for)
    net.add("county", "440305", name="深圳市南山区市场监督管理局")
    net.add("station", "440305001", name="粤海市场监管所")
    net.link("440305", "440305001")
    yield net
    net.close()
    for url in made:
        drop_pg_schema(url)


def test_the_route_confirmation_names_the_destination_and_routing_works(county_and_station):
    net = county_and_station
    county = Desk(net.nodes["440305"], net.clock)
    # an address no station area covers: the county keeps it
    case = new_case(county, complaint(respondent={"name": "某电器店", "region_code": "440305",
                                                  "address": "深圳市南山区某路 1 号"}))
    assert case["handling_node"] == "440305"
    html = page(as_role(county, "handler"), case["id"])
    assert "route" in buttons(html)
    route_form = re.search(r'id="form-route".*?</form>', html, re.S).group(0)
    assert 'value="440305001"' in route_form and "粤海市场监管所（440305001）" in route_form
    url = f"/desk/cases/{case['id']}/actions"
    # "auto": the rules make this county competent: refused beside the field, nothing done
    before = stored(county, case["id"])
    auto = county.post(url, {"action": "route", "to": "auto"})
    assert auto.status_code == 409 and "无需分流" in text_of(county.text(auto), "e-f-route-to")
    # by hand to the station: the confirmation names it, nothing is sent yet
    confirm = county.post(url, {"action": "route", "to": "440305001", "note": "属粤海所辖区"})
    assert confirm.status_code == 200
    assert "粤海市场监管所（440305001）" in text_of(county.text(confirm), "confirm-destination")
    assert "已登记 → 已转办" in county.text(confirm)
    assert stored(county, case["id"]) == before                     # no change, no document queued
    done = county.post(url, {"action": "route", "to": "440305001", "note": "属粤海所辖区", "confirmed": "1"})
    assert done.status_code == 302
    html = page(county, case["id"])
    assert text_of(html, "case-status") == "已转办"
    custody = re.search(r'id="custody".*?</table>', html, re.S).group(0)
    assert "440305001" in custody and "属粤海所辖区" in custody
    net.settle()
    with net.nodes["440305001"].activate():
        row = Case.row(case["id"])
    assert row["held_as"] == "handler" and row["status"] == "registered"
    # the county now holds a copy: it may only propose, and as the superior it may take over
    as_role(county, "leader")
    copy_page = page(county, case["id"])
    assert "只读副本" in copy_page
    assert buttons(copy_page) == {"urge", "comment", "take_over"}
    proposal = county.text(county.post(url, {"action": "urge", "note": "请尽快办理"}))
    assert "粤海市场监管所（440305001）" in text_of(proposal, "confirm-proposal")
    sent = county.post(url, {"action": "urge", "note": "请尽快办理", "confirmed": "1"})
    assert sent.status_code == 302 and "proposed=1" in sent.headers["Location"]
    assert "已作为提议送承办单位：督办" in text_of(county.text(county.get(sent.headers["Location"])), "action-done")
    net.settle()
    # at the station, the handler works it
    station = Desk(net.nodes["440305001"], net.clock)
    at_station = page(as_role(station, "handler"), case["id"])
    assert buttons(at_station) >= {"accept", "decline", "return", "escalate"}
    assert "请尽快办理" in re.search(r'id="history".*?</table>', at_station, re.S).group(0)   # the urge arrived


def test_assign_to_a_lead_department_with_others_copied_confirms_first(desk):
    case = new_case(desk)
    as_role(desk, "handler")
    url = f"/desk/cases/{case['id']}/actions"
    form = {"action": "assign", "department": "enforcement", "copy_departments": ["consumer_protection"]}
    confirm = desk.text(desk.post(url, form))
    assert "执法稽查机构" in confirm and "消费者权益保护机构" in confirm and 'id="confirm-action"' in confirm
    assert stored(desk, case["id"])[1] == 1                     # nothing changed yet
    assert desk.post(url, {**form, "copy_departments": "consumer_protection", "confirmed": "1"}).status_code == 302
    with desk.node.activate():
        row = Case.row(case["id"])
    assert row["department"] == "enforcement"
    history = re.search(r'id="history".*?</table>', page(desk, case["id"]), re.S).group(0)
    assert "主办 执法稽查机构" in history and "协办 消费者权益保护机构" in history
