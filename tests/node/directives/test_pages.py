"""The emergency-command pages at one node (issue 11 item 7; docs/desk.md): roles, the level that
may not issue, user text escaped, confirmation before every action, CSRF, the live progress
fragment, plans, update and cancel. Through the pages, as a browser would; every test runs on
SQLite and on PostgreSQL. Receiving, acknowledging and reporting across nodes:
tests/network/test_directive_pages.py."""
from __future__ import annotations

import re
from html import unescape

import pytest

from node import directives
from node.directives import Actor
from node.directives.models import Directive, DirectiveMessage
from replication.models import OutboxEntry
from tests.conftest import count_rows
from tests.node.desk.conftest import Desk

PROVINCE = "广东省市场监督管理局"
GOOD = {"title": "食物中毒应急处置", "body": "请立即赶赴现场处置。", "severity": "severe", "urgency": "immediate",
        "certainty": "observed", "category": "food_safety", "targets": ["440300/*", "440305001"],
        "ack_within_minutes": "30"}


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "province", "440000", name=PROVINCE)
    return Desk(node, clock)


def signed_in(desk: Desk, role: str) -> Desk:
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    desk.get("/desk/")                  # a page, for the CSRF token a browser would hold
    return desk


def issue_here(desk: Desk, **fields) -> str:
    """A directive issued at the desk's node through the API's function (not the page)."""
    payload = {"title": "食物中毒应急处置", "body": "请立即赶赴现场处置。", "severity": "severe",
               "targets": ["440305"], "ack_within_minutes": 30, **fields}
    with desk.node.activate():
        return directives.issue(desk.node, payload, Actor("boss", "leader", "王局长"))["id"]


def stored(desk: Desk) -> dict[str, int]:
    return count_rows(desk.node, Directive, DirectiveMessage, OutboxEntry)


def element(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id} in the page"
    return unescape(found.group(1)).strip()


def progress_section(page: str) -> str:
    found = re.search(r'<section id="directive-progress".*?</section>', page, re.S)
    assert found, "no #directive-progress"
    return found.group(0)


def assert_labelled(page: str) -> None:
    """Every visible input, select and textarea has a label pointing at it."""
    for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", page):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'\bid="([^"]+)"', tag)
        assert found and f'for="{found.group(1)}"' in page, f"no label for {tag}"


def the_directive(desk: Desk, did: str) -> Directive:
    with desk.node.activate():
        return Directive.by_id(did)


# -- who may issue, where --------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["analyst", "discipline", "intake", "handler", "supervisor"])
def test_only_leader_and_admin_reach_the_issue_form_and_others_change_nothing(desk, role):
    signed_in(desk, role)
    assert desk.get("/desk/directives/new").status_code == 403
    before = stored(desk)
    resp = desk.post("/desk/directives/new", {**GOOD, "confirmed": "1"})
    assert resp.status_code == 403
    assert stored(desk) == before


def test_analyst_and_discipline_do_not_reach_emergency_command(desk):
    signed_in(desk, "analyst")
    assert desk.get("/desk/directives").status_code == 403


@pytest.mark.parametrize("role", ["leader", "admin"])
def test_leader_and_admin_get_the_issue_form_with_the_ids_tests_rely_on(desk, role):
    signed_in(desk, role)
    page = desk.text(desk.get("/desk/directives/new"))
    assert 'id="issue-directive"' in page
    for name in ("title", "body", "severity", "urgency", "category", "targets", "ack_within_minutes", "plan"):
        assert f'name="{name}"' in page, name
    assert 'value="*"' in page                               # everything below, as a box
    assert_labelled(page)


def test_a_station_does_not_issue_and_the_page_says_so(tmp_path, make_node, clock):
    station = Desk(make_node(tmp_path, "station", "440305001", name="粤海市场监管所"), clock)
    signed_in(station, "leader")
    resp = station.get("/desk/directives/new")
    assert resp.status_code == 403
    assert "不能下达应急指令" in element(station.text(resp), "no-capability")
    before = stored(station)
    assert station.post("/desk/directives/new", {**GOOD, "targets": ["*"], "confirmed": "1"}).status_code == 403
    assert stored(station) == before
    assert 'id="new-directive"' not in station.text(station.get("/desk/directives"))


# -- issuing through the pages -----------------------------------------------------------------------
def test_the_confirmation_page_changes_nothing_until_confirmed(desk):
    signed_in(desk, "leader")
    before = stored(desk)
    resp = desk.post("/desk/directives/new", GOOD)
    assert resp.status_code == 200
    page = desk.text(resp)
    assert 'id="confirm-action"' in page
    assert stored(desk) == before                          # nothing issued, signed or queued
    # it says how many nodes will receive it and names them
    assert element(page, "receiver-count").endswith("2。")
    receivers = re.search(r'id="receivers">(.*?)</ul>', page, re.S).group(1)
    assert "广东省深圳市" in receivers and "440305001" in receivers
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert hidden["confirmed"] == "1" and unescape(hidden["title"]) == GOOD["title"]
    resp = desk.post("/desk/directives/new", {**GOOD, "confirmed": "1"})
    assert resp.status_code == 302
    did = resp.headers["Location"].split("/desk/directives/")[1].split("?")[0]
    row = the_directive(desk, did)
    assert (row.title, row.severity, row.category, row.ack_within_minutes) == (GOOD["title"], "severe",
                                                                                "food_safety", 30)
    assert row.targets == '["440300/*","440305001"]' and row.role == "issuer"
    assert stored(desk)["directive"] == before["directive"] + 1


def test_a_post_without_the_csrf_token_is_refused_and_issues_nothing(desk):
    signed_in(desk, "leader")
    desk.get("/desk/directives/new")
    before = stored(desk)
    resp = desk.post("/desk/directives/new", {**GOOD, "confirmed": "1"}, csrf=False)
    assert resp.status_code == 400
    forged = desk.post("/desk/directives/new", {**GOOD, "confirmed": "1", "csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 400
    assert stored(desk) == before
    did = issue_here(desk)
    desk.get(f"/desk/directives/{did}")
    assert desk.post(f"/desk/directives/{did}/cancel", {"confirmed": "1"}, csrf=False).status_code == 400
    assert the_directive(desk, did).status == "active"


@pytest.mark.parametrize("change, field, message", [
    ({"title": ""}, "title", "标题为必填项"),
    ({"severity": ""}, "severity", "severity 为必填项"),
    ({"targets": []}, "targets", "请选择接收指令的节点"),
    ({"targets": ["330106"]}, "targets", "不在本节点 440000 辖区内"),
    ({"targets": ["000000"]}, "targets", "只能向下级下达"),
    ({"ack_within_minutes": "half an hour"}, "ack_within_minutes", "须为整数分钟"),
    ({"ack_within_minutes": "0"}, "ack_within_minutes", "须在 1 到"),
])
def test_a_bad_issue_form_comes_back_with_the_error_beside_the_field(desk, change, field, message):
    signed_in(desk, "leader")
    before = stored(desk)
    resp = desk.post("/desk/directives/new", {**GOOD, **change})
    assert resp.status_code == 422
    page = desk.text(resp)
    error = element(page, f"f-{field}-error" if field != "targets" else "targets-error")
    assert message in error
    assert 'id="issue-directive"' in page and "食物中毒应急处置" in page or field == "title"
    assert stored(desk) == before


def test_a_plan_fills_the_form_and_its_steps_travel_with_the_directive(desk):
    signed_in(desk, "leader")
    page = desk.text(desk.get("/desk/directives/new?plan=food_poisoning&targets=440300/*"))
    assert 'value="启动食物中毒事件应急处置预案"' in page        # title from the plan
    assert "签收并赶赴现场" in page                             # its steps, shown before issuing
    assert 'name="targets" value="440300/*"' in page           # the targets chosen are kept
    form = {"plan": "food_poisoning", "title": "启动食物中毒事件应急处置预案", "body": "按预案处置。",
            "severity": "severe", "urgency": "immediate", "category": "food_safety", "targets": ["440300/*"],
            "ack_within_minutes": "30", "report_within_minutes": "120"}
    confirm = desk.text(desk.post("/desk/directives/new", form))
    assert "食物中毒事件应急处置预案" in confirm
    resp = desk.post("/desk/directives/new", {**form, "confirmed": "1"})
    did = resp.headers["Location"].split("/desk/directives/")[1].split("?")[0]
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert "控制现场" in page and "报告处置情况" in page
    assert '"food_poisoning"' in the_directive(desk, did).plan


def test_user_text_is_shown_as_text(desk):
    did = issue_here(desk, title="<b>标题</b>", body='<script>alert("x")</script>\n第二行')
    signed_in(desk, "handler")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert "<script>alert" not in page and "<b>标题" not in page
    assert element(page, "directive-body").startswith('<script>alert("x")</script>')
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    listed = desk.text(desk.get("/desk/directives"))
    assert "&lt;b&gt;标题&lt;/b&gt;" in listed and "<b>标题" not in listed


# -- the directive page and its live progress ---------------------------------------------------------
def test_the_progress_fragment_is_the_pages_section_and_its_numbers_are_progress_view(desk):
    did = issue_here(desk, targets=["440300/*", "440305001", "440306"])
    signed_in(desk, "supervisor")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    section = progress_section(page)
    assert f'hx-get="/desk/directives/{did}/progress"' in section
    assert 'hx-trigger="every 2s"' in section and 'hx-swap="outerHTML"' in section
    resp = desk.get(f"/desk/directives/{did}/progress", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    fragment = desk.text(resp).strip()
    assert fragment == section                              # the same markup as the first render
    assert "<html" not in fragment
    with desk.node.activate():
        view = directives.progress_view(desk.node, Directive.by_id(did))
    for key in ("targets", "delivered", "acknowledged", "reported"):
        assert int(element(fragment, f"progress-{key}")) == view[key], key
    assert view["targets"] == 3
    for code in view["nodes"]:
        assert f'id="node-{code}"' in fragment


def test_polling_does_not_keep_an_idle_session_open(desk, clock):
    did = issue_here(desk)
    signed_in(desk, "leader")
    desk.get(f"/desk/directives/{did}")
    for _ in range(3):
        clock.advance(minutes=10)
        assert desk.get(f"/desk/directives/{did}/progress", headers={"HX-Request": "true"}).status_code == 200
    clock.advance(minutes=5)                                # 35 minutes since the person last did anything
    resp = desk.get(f"/desk/directives/{did}/progress", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and resp.headers["HX-Redirect"].startswith("/desk/login?")
    assert f"next=%2Fdesk%2Fdirectives%2F{did}" in resp.headers["HX-Redirect"]
    assert "reason=idle" in resp.headers["HX-Redirect"]
    assert desk.get(f"/desk/directives/{did}").status_code == 302


def test_an_unknown_directive_is_404(desk):
    signed_in(desk, "leader")
    assert desk.get("/desk/directives/440000-D20260930-9999").status_code == 404
    assert desk.get("/desk/directives/440000-D20260930-9999/progress").status_code == 404


def test_the_cap_message_downloads_with_the_desk_session(desk):
    did = issue_here(desk)
    signed_in(desk, "intake")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert f"/cap/v1/directives/{did}.xml" in page
    resp = desk.get(f"/desk/directives/{did}/cap.xml")
    assert resp.status_code == 200 and resp.mimetype == "application/cap+xml"
    assert b"<alert" in resp.get_data() and did.encode() in resp.get_data()


# -- update and cancel at the issuer -------------------------------------------------------------------
def test_update_is_confirmed_then_sent_as_a_new_version(desk):
    did = issue_here(desk)
    signed_in(desk, "leader")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert f'action="/desk/directives/{did}/update"' in page and 'id="ack-directive"' not in page
    assert_labelled(page)
    form = {"title": "食物中毒应急处置（更新）", "body": "请立即赶赴现场处置。", "severity": "extreme",
            "urgency": "immediate", "certainty": "observed", "category": "other", "ack_within_minutes": "30",
            "note": "升级为特别严重"}
    confirm = desk.text(desk.post(f"/desk/directives/{did}/update", form))
    assert 'id="confirm-action"' in confirm and "食物中毒应急处置（更新）" in confirm
    assert the_directive(desk, did).version == 1
    resp = desk.post(f"/desk/directives/{did}/update", {**form, "confirmed": "1"})
    assert resp.status_code == 302
    row = the_directive(desk, did)
    assert (row.version, row.title, row.severity) == (2, "食物中毒应急处置（更新）", "extreme")
    same = desk.post(f"/desk/directives/{did}/update", {**form, "confirmed": "1"})
    assert same.status_code == 422 and "没有需要更新的内容" in desk.text(same)


def test_cancel_is_confirmed_then_stops_the_directive_and_its_polling(desk):
    did = issue_here(desk)
    signed_in(desk, "admin")
    confirm = desk.post(f"/desk/directives/{did}/cancel", {"reason": "误报"})
    assert 'id="confirm-action"' in desk.text(confirm) and "误报" in desk.text(confirm)
    assert the_directive(desk, did).status == "active"
    assert desk.post(f"/desk/directives/{did}/cancel", {"reason": "误报", "confirmed": "1"}).status_code == 302
    row = the_directive(desk, did)
    assert (row.status, row.cancel_reason) == ("cancelled", "误报")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert element(page, "directive-status") == "已撤销"
    assert "hx-trigger" not in progress_section(page)
    assert f'action="/desk/directives/{did}/cancel"' not in page


@pytest.mark.parametrize("action", ["update", "cancel"])
def test_staff_who_do_not_issue_cannot_update_or_cancel(desk, action):
    did = issue_here(desk)
    signed_in(desk, "supervisor")
    page = desk.text(desk.get(f"/desk/directives/{did}"))
    assert f'action="/desk/directives/{did}/{action}"' not in page
    resp = desk.post(f"/desk/directives/{did}/{action}", {"title": "改", "reason": "x", "confirmed": "1"})
    assert resp.status_code == 403
    row = the_directive(desk, did)
    assert (row.status, row.version) == ("active", 1)


def test_the_issuer_cannot_sign_for_its_own_directive(desk):
    did = issue_here(desk)
    signed_in(desk, "leader")
    resp = desk.post(f"/desk/directives/{did}/ack", {"confirmed": "1"})
    assert resp.status_code == 409 and "不是指令" in element(desk.text(resp), "action-error")
    assert the_directive(desk, did).acknowledged_at is None


def test_the_list_shows_what_is_held_here_and_the_pending_list_is_empty_at_the_issuer(desk):
    did = issue_here(desk)
    signed_in(desk, "intake")
    listed = desk.text(desk.get("/desk/directives"))
    assert did in listed and "0/1" not in listed
    assert 'id="new-directive"' not in listed                   # intake does not issue
    pending = desk.text(desk.get("/desk/directives?pending=1"))
    assert did not in pending and 'id="no-directives"' in pending


def test_the_pages_speak_english_on_request(desk):
    did = issue_here(desk)
    signed_in(desk, "leader")
    page = desk.text(desk.get(f"/desk/directives/{did}?lang=en"))
    assert '<html lang="en">' in page and "Acknowledged" in page and "Severe" in page
    page = desk.text(desk.get(f"/desk/directives/{did}?lang=zh_CN"))
    assert "已签收" in page and "严重" in page
