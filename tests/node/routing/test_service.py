"""Routing at one node (``node/routing/``): what a standalone bureau does with
cases it cannot send on, the supervision filters, the referral directory, follow-up and
reopening at the handler, reminders, and the notices routing queues for a named complainant
(sent by ``node.notify``: tests/node/notify/). SQLite and PostgreSQL (``make_node``)."""
from __future__ import annotations

from datetime import timedelta

import pytest

import node.cases as svc
from node.cases import Actor
from node.errors import NodeError
from node.notify import Notification, flush
from node.routing import referrals, supervision
from tests.node.cases.examples import complaint, staff_report

INTAKE, HANDLER = Actor("i1", "intake"), Actor("h1", "handler")
SUPERVISOR, DISCIPLINE = Actor("s1", "supervisor"), Actor("d1", "discipline")


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    with n.activate():
        yield n


def create(node, body, actor=INTAKE):
    return svc.create_case(node, body, actor)


def act(node, cid, actor=HANDLER, **payload):
    return svc.act(node, cid, payload, actor)


def test_a_node_without_links_keeps_what_it_cannot_send_and_flags_it(node):
    local = create(node, complaint())
    assert local["attention"] is None and local["held_as"] == "handler" and local["custody"][0]["node"] == "440305"
    far = create(node, complaint(respondent={"name": "杭州某公司", "region_code": "330106"}))
    assert far["handling_node"] == "440305" and "330106" in far["attention"]
    assert [e["action"] for e in far["history"]] == ["register"]     # kept: no route event
    listed = svc.list_cases(node, {"attention": "true"}, HANDLER)["items"]
    assert [c["id"] for c in listed] == [far["id"]]
    assert len(svc.list_cases(node, {"attention": "false"}, HANDLER)["items"]) == 1
    # the unit accused cannot send a report against its staff on: it keeps it, flagged
    staff = create(node, staff_report())
    assert staff["department"] == "discipline" and "440300" in staff["attention"]


@pytest.mark.parametrize("filters, field", [
    ({"held_as": "owner"}, "held_as"),
    ({"attention": "maybe"}, "attention"),
    ({"due_within_days": "-1"}, "due_within_days"),
    ({"due_within_days": "soon"}, "due_within_days"),
    ({"department": "finance"}, "department"),
])
def test_list_filters_refuse_bad_values_naming_the_field(node, filters, field):
    with pytest.raises(NodeError) as err:
        svc.list_cases(node, filters, HANDLER)
    assert err.value.status == 422 and err.value.field == field


def test_due_within_days_is_the_supervisors_soon_due_view(node, clock):
    cid = create(node, complaint())["id"]              # accept_by 2026-10-14
    assert svc.list_cases(node, {"due_within_days": "2"}, SUPERVISOR)["items"] == []
    clock.set(clock.now + timedelta(days=12))          # 2026-10-12
    assert [c["id"] for c in svc.list_cases(node, {"due_within_days": "2"}, SUPERVISOR)["items"]] == [cid]
    assert svc.list_cases(node, {"held_as": "copy"}, SUPERVISOR)["items"] == []
    assert supervision.remind(node) == 1
    assert supervision.remind(node) == 0                  # one reminder per stage and due date
    note = svc.get_case(node, cid, HANDLER)["history"][-1]
    assert note["action"] == "remind" and "即将到期" in note["note"]


def test_refer_takes_a_body_from_the_directory_or_free_text(node):
    cid = create(node, complaint(category="S0401", summary="宽带资费争议"))["id"]
    done = act(node, cid, action="refer", body="telecom", reason="属通信管理部门职责")
    assert done["status"] == "referred" and done["outcome"]["body_code"] == "telecom"
    assert "12300" in done["outcome"]["tell"] and "通信管理局" in done["history"][-1]["note"]
    other = create(node, complaint())["id"]
    free = act(node, other, action="refer", body="某县农业农村局", reason="农资问题")
    assert free["outcome"]["body"] == "某县农业农村局" and "body_code" not in free["outcome"]
    assert [b["code"] for b in referrals.referral_bodies(node, "S08")] == ["finance"]


def test_urge_comment_and_take_over_at_the_handler(node):
    cid = create(node, complaint())["id"]
    urged = act(node, cid, SUPERVISOR, action="urge", note="请加快")
    assert urged["status"] == "registered" and urged["history"][-1]["action"] == "urge"
    with pytest.raises(NodeError) as err:
        act(node, cid, SUPERVISOR, action="comment")
    assert err.value.status == 422 and err.value.field == "note"
    with pytest.raises(NodeError) as err:
        act(node, cid, SUPERVISOR, action="accept")
    assert err.value.status == 403
    with pytest.raises(NodeError) as err:
        act(node, cid, action="take_over", reason="自己要")
    assert err.value.status == 409 and err.value.code == "not_superior"
    # the discipline role urges reports against staff only
    with pytest.raises(NodeError) as err:
        act(node, cid, DISCIPLINE, action="urge")
    assert err.value.status == 403


def test_reopen_within_the_period_and_not_after(node, clock):
    cid = create(node, complaint())["id"]
    act(node, cid, action="accept")
    act(node, cid, action="conclude", outcome="mediated")
    again = act(node, cid, INTAKE, action="reopen", reason="商家未履行调解协议")
    assert again["status"] == "accepted" and "重新办理" in again["attention"]
    act(node, cid, action="conclude", outcome="mediated")
    clock.set(clock.now + timedelta(days=31))
    with pytest.raises(NodeError) as err:
        act(node, cid, INTAKE, action="reopen", reason="仍不满意")
    assert err.value.status == 409 and err.value.code == "reopen_expired"


def test_a_named_complainant_is_told_of_intake_and_acceptance_and_the_anonymous_of_nothing(node):
    cid = create(node, complaint())["id"]
    act(node, cid, action="accept")
    anonymous = create(node, complaint(kind="report", report_target="business", category="G0101",
                                       complainant={"anonymous": True}, amount=None))["id"]
    act(node, anonymous, action="verify")
    rows = list(Notification.select().order_by(Notification.id))
    assert [(n.case_id, n.event, n.channel) for n in rows] == [(cid, "received", "sms"), (cid, "accepted", "sms")]
    assert "张三" in rows[1].message and cid in rows[1].message and "受理" in rows[1].message
    assert cid in rows[0].message and "已收到" in rows[0].message
    # no SMS gateway configured: the notices wait, their tries unspent, and say why
    assert flush(node) == 0
    waiting = list(Notification.select())
    assert {(n.state, n.attempts) for n in waiting} == {("pending", 0)}
    assert all("notify.sms_url" in n.last_error for n in waiting)


def test_the_routing_endpoints(app_client):
    r = app_client.get("/api/v1/referral-bodies?category=S0401")
    assert r.status_code == 200 and [b["code"] for b in r.get_json()["items"]] == ["telecom"]
    assert len(app_client.get("/api/v1/referral-bodies").get_json()["items"]) >= 10
    assert app_client.get("/api/v1/notifications", role="analyst").status_code == 403
    assert app_client.get("/api/v1/notifications", role=None).status_code == 401
    assert app_client.get("/api/v1/proposals").get_json() == {"items": []}
    bad = app_client.get("/api/v1/cases?held_as=owner")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "held_as"
