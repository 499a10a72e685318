"""The case service at one node (CONTRACT §5; R1.1, R1.3, R1.4, R2.3, R2.6, R4.1).

Every test runs on SQLite and on PostgreSQL (the ``db_url`` parametrization in tests/conftest.py).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

import node.cases as svc
from node.cases import Actor, lifecycle
from node.cases.models import Case, CaseEvent, DayCounter
from node.errors import NodeError
from tests.conftest import count_rows
from tests.node.cases.examples import complaint, consultation, report, staff_report

INTAKE = Actor("i1", "intake")
HANDLER = Actor("h1", "handler")
ADMIN = Actor("a1", "admin")
DISCIPLINE = Actor("d1", "discipline")
SUPERVISOR = Actor("s1", "supervisor")
LEADER = Actor("l1", "leader")


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path, "county", "440305")
    with n.activate():
        yield n


def create(node, body, actor=INTAKE):
    return svc.create_case(node, body, actor)


def act(node, case_id, actor=HANDLER, **payload):
    return svc.act(node, case_id, payload, actor)


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


# -- intake ---------------------------------------------------------------------------------------
def test_acceptance_example(node):
    case = create(node, complaint())
    assert case["id"] == "440305-20260929-000001"
    assert case["status"] == "registered"
    assert case["received_at"] == "2026-09-29T10:00:00+08:00"
    assert case["deadlines"]["accept_by"] == "2026-10-14"   # National Day + make-up Saturday 10-10
    assert case["deadlines"]["conclude_by"] is None
    assert case["rule_set"] == "CN-ORDER20-2022"
    assert case["accepting_node"] == case["handling_node"] == "440305"
    assert case["amount"] == "1299.00" and case["amount_recovered"] is None
    assert case["department"] == "consumer_protection"
    assert case["version"] == 1 and case["overdue"] is False and case["linked_case"] is None
    assert [list(e) for e in case["history"]] == [
        ["at", "node", "actor", "action", "from_status", "to_status", "note"]]
    assert case["history"][0]["action"] == "register" and case["history"][0]["actor"] == "i1"
    # what was returned is what is stored
    assert svc.get_case(node, case["id"], HANDLER) == case


def test_case_shape_is_exactly_the_contract(node):
    case = create(node, complaint())
    assert list(case) == ["id", "kind", "report_target", "channel", "received_at", "urgency",
                          "complainant", "respondent", "category", "summary", "description",
                          # issue 12: the demand and the dispute date (complaint publicity)
                          "demand", "occurred_on",
                          "amount", "amount_recovered", "extensions", "status", "accepting_node",
                          "handling_node", "rule_set", "deadlines", "outcome", "history",
                          "linked_case", "department", "overdue", "version",
                          # routing (issue 4, docs/routing.md): custody, copies, flags
                          "held_as", "attention", "custody"]


def test_ids_count_per_node_and_shanghai_day(node):
    a = create(node, complaint())
    b = create(node, complaint())
    # 23:30 UTC on the 29th is already the 30th in Shanghai: a new day, a new counter
    c = create(node, complaint(received_at="2026-09-29T23:30:00+00:00"))
    assert [a["id"], b["id"], c["id"]] == ["440305-20260929-000001", "440305-20260929-000002",
                                           "440305-20260930-000001"]
    assert {(r.day, r.value) for r in DayCounter.select()} == {("20260929", 2), ("20260930", 1)}


def test_received_at_defaults_to_now(node, clock):
    body = complaint()
    del body["received_at"]
    case = create(node, body)
    assert case["received_at"] == "2026-09-30T09:00:00+08:00"
    assert case["id"].startswith("440305-20260930-")


def test_two_track_intake_links_complaint_and_report(node):
    case = create(node, complaint(also_report=True))
    other = svc.get_case(node, case["linked_case"], HANDLER)
    assert case["kind"] == "complaint" and other["kind"] == "report"
    # R2.2: a report goes to the business department of its category
    # (configs/jurisdiction/departments.toml: G03 household appliances -> product quality)
    assert other["report_target"] == "business" and other["department"] == "product_quality"
    assert other["linked_case"] == case["id"]
    assert case["id"].endswith("-000001") and other["id"].endswith("-000002")
    assert case["deadlines"]["accept_by"] == "2026-10-14" and "verify_by" not in case["deadlines"]
    assert other["deadlines"]["verify_by"] and "accept_by" not in other["deadlines"]
    assert "Order 20 Art. 8" in case["history"][0]["note"]
    # each has its own clocks: acting on one leaves the other alone
    act(node, case["id"], action="accept")
    assert svc.get_case(node, other["id"], HANDLER)["status"] == "registered"


def test_triage_raises_urgency_and_says_why(node):
    case = create(node, complaint(summary="在餐馆就餐后全家食物中毒"))
    assert case["urgency"] == "urgent"
    triage = [e for e in case["history"] if e["action"] == "triage"]
    assert len(triage) == 1 and "食物中毒" in triage[0]["note"]
    calm = create(node, complaint(urgency="critical"))
    assert calm["urgency"] == "critical"
    assert [e["action"] for e in calm["history"]] == ["register"]


def test_roles_that_may_not_create(node):
    for actor in (SUPERVISOR, LEADER, DISCIPLINE, Actor("x", "analyst")):
        with pytest.raises(NodeError) as err:
            create(node, complaint(), actor)
        assert err.value.status == 403
    assert count_rows(node)["case"] == 0


# -- reports against staff (R2.3) ----------------------------------------------------------------
def test_staff_report_only_discipline_sees_it(node):
    case = create(node, staff_report())
    assert case["department"] == "discipline" and case["complainant"]["anonymous"] is True
    create(node, complaint())
    for actor in (HANDLER, ADMIN, LEADER, INTAKE):
        with pytest.raises(NodeError) as err:
            svc.get_case(node, case["id"], actor)
        assert err.value.status == 404
        with pytest.raises(NodeError) as err2:
            act(node, case["id"], actor=HANDLER, action="verify")
        assert err2.value.status == 404
        ids = [c["id"] for c in svc.list_cases(node, {}, actor)["items"]]
        assert case["id"] not in ids and len(ids) == 1
    assert svc.get_case(node, case["id"], DISCIPLINE)["id"] == case["id"]
    assert {c["id"] for c in svc.list_cases(node, {}, DISCIPLINE)["items"]} >= {case["id"]}
    # discipline acts on it, and only on staff reports
    assert act(node, case["id"], actor=DISCIPLINE, action="verify")["status"] == "verifying"
    other = svc.list_cases(node, {"kind": "complaint"}, DISCIPLINE)["items"][0]
    with pytest.raises(NodeError) as err3:
        act(node, other["id"], actor=DISCIPLINE, action="accept")
    assert err3.value.status == 403


# -- the state machine -------------------------------------------------------------------------
def test_complaint_through_mediation_to_closed(node, clock):
    case = create(node, complaint())
    cid = case["id"]
    clock.set(at("2026-10-08T10:00:00+08:00"))
    c = act(node, cid, action="accept", mode="mediation")
    assert c["status"] == "accepted" and c["version"] == 2
    assert c["deadlines"]["conclude_by"] is not None
    assert c["deadlines"]["met"]["accept_by"] == "2026-10-08"
    due = c["deadlines"]["conclude_by"]
    c = act(node, cid, action="mediate", note="约双方 10 月 12 日调解")
    assert c["status"] == "in_mediation"
    c = act(node, cid, action="pause", reason="送检")
    clock.set(at("2026-10-16T10:00:00+08:00"))
    c = act(node, cid, action="resume")
    assert c["deadlines"]["conclude_by"] > due            # testing time not counted
    with pytest.raises(NodeError) as err:
        act(node, cid, action="conclude", outcome="not_mediated", reason="no reason")
    assert err.value.status == 422 and err.value.field == "reason"
    c = act(node, cid, action="conclude", outcome="mediated", amount_recovered="1299",
            note="商家同意退货退款")
    assert c["status"] == "concluded" and c["amount_recovered"] == "1299.00"
    assert c["outcome"]["outcome"] == "mediated"
    assert c["deadlines"]["mediation_notice_by"]
    c = act(node, cid, action="notify")
    assert "mediation_notice_by" in c["deadlines"]["met"]
    c = act(node, cid, action="feedback", satisfaction="satisfied")
    assert c["outcome"]["satisfaction"] == "satisfied" and c["status"] == "concluded"
    c = act(node, cid, action="close")
    assert c["status"] == "closed" and c["version"] == 9
    actions = [e["action"] for e in c["history"]]
    assert actions == ["register", "accept", "mediate", "pause", "resume", "conclude", "notify",
                       "feedback", "close"]
    assert [(e["from_status"], e["to_status"]) for e in c["history"]][1:3] == [
        ("registered", "accepted"), ("accepted", "in_mediation")]
    assert CaseEvent.select().where(CaseEvent.case_id == cid).count() == 9


def test_conclude_not_mediated_names_a_mediation_end_ground(node):
    cid = create(node, complaint())["id"]
    act(node, cid, action="accept")
    c = act(node, cid, action="conclude", outcome="not_mediated", reason="absent_or_refused")
    assert c["outcome"]["reason"] == "absent_or_refused"
    assert "Art. 21(3)" in c["history"][-1]["note"]


def test_conclude_not_mediated_without_a_ground_records_no_agreement_and_says_so(node):
    """CONTRACT §5 lists conclude with outcome, amount_recovered and note only: a missing
    mediation-end ground is recorded as the parties could not agree, and the history says it
    was not given."""
    cid = create(node, complaint())["id"]
    act(node, cid, action="accept")
    c = act(node, cid, action="conclude", outcome="not_mediated", note="商家拒绝任何方案")
    assert c["status"] == "concluded"
    assert c["outcome"]["outcome"] == "not_mediated" and c["outcome"]["reason"] == "no_agreement"
    last = c["history"][-1]
    assert last["action"] == "conclude" and last["to_status"] == "concluded"
    assert last["note"].startswith("未说明终止调解理由，按「双方不能达成一致」记录（Order 20 Art. 21(4)：")
    assert "no ground given; recorded as no_agreement" in last["note"]
    assert last["note"].endswith("；商家拒绝任何方案")
    event = CaseEvent.select().where(CaseEvent.case_id == cid).order_by(CaseEvent.id.desc()).first()
    assert json.loads(event.data) == {"reason": "no_agreement", "reason_defaulted": True,
                                      "outcome": "not_mediated"}
    # a ground given is recorded as given, with no default mark
    cid2 = create(node, complaint())["id"]
    act(node, cid2, action="accept")
    c2 = act(node, cid2, action="conclude", outcome="not_mediated", reason="time_limit_reached")
    assert c2["outcome"]["reason"] == "time_limit_reached" and "未说明" not in c2["history"][-1]["note"]
    event2 = CaseEvent.select().where(CaseEvent.case_id == cid2).order_by(CaseEvent.id.desc()).first()
    assert "reason_defaulted" not in json.loads(event2.data)


def test_decline_needs_a_decline_ground(node):
    cid = create(node, complaint())["id"]
    for bad in ({}, {"reason": ""}, {"reason": 15}):
        with pytest.raises(NodeError) as err:
            act(node, cid, action="decline", **bad)
        assert err.value.status == 422 and err.value.field == "reason"
    c = act(node, cid, action="decline", reason="time_barred", note="超过三年")
    assert c["status"] == "declined" and c["outcome"]["reason"] == "time_barred"
    assert c["deadlines"]["met"]["accept_by"]
    assert act(node, cid, action="close")["status"] == "closed"


@pytest.mark.parametrize("text, code, says", [
    ("不属于市场监督管理部门职责", "outside_remit", "Order 20 Art. 15(1)：投诉事项不属于市场监督管理部门职责"),
    ("超过三年", "time_barred", "Order 20 Art. 15(4)"),
    ("商家已倒闭", "other_legal_ground", "所述理由「商家已倒闭」未对应第十五条所列情形，按其他情形记录"),
])
def test_decline_with_a_reason_in_words_records_a_coded_ground_and_the_words(node, text, code, says):
    """CONTRACT §5 says ``decline (reason)``; a clerk's words are taken and filed under the
    ground they quote (else the article's catch-all), the words kept beside the code."""
    cid = create(node, complaint())["id"]
    c = act(node, cid, action="decline", reason=text)
    assert c["status"] == "declined"
    assert c["outcome"]["reason"] == code and c["outcome"]["reason_text"] == text
    assert says in c["history"][-1]["note"] and text in c["history"][-1]["note"]
    event = CaseEvent.select().where(CaseEvent.case_id == cid).order_by(CaseEvent.id.desc()).first()
    data = json.loads(event.data)
    assert data["reason"] == code and data["reason_text"] == text
    assert data.get("reason_defaulted", False) is (code == "other_legal_ground")


def test_report_flow(node):
    cid = create(node, report())["id"]
    assert act(node, cid, action="verify")["status"] == "verifying"
    c = act(node, cid, action="extend", days=15, approved_by="王局长")
    assert c["deadlines"]["extensions"][0]["days"] == 15
    c = act(node, cid, action="file", note="已立案调查")
    assert c["status"] == "filed" and c["deadlines"]["reporter_notice_by"]   # named reporter
    c = act(node, cid, action="conclude")
    assert c["status"] == "concluded" and c["outcome"]["outcome"] == "filed"
    assert act(node, cid, action="close")["status"] == "closed"


def test_anonymous_report_has_no_reporter_notice(node):
    cid = create(node, report(complainant={"anonymous": True}))["id"]
    act(node, cid, action="verify")
    c = act(node, cid, action="not_file")
    assert c["status"] == "not_filed" and "reporter_notice_by" not in c["deadlines"]
    with pytest.raises(NodeError) as err:
        act(node, cid, action="conclude", outcome="filed")
    assert err.value.status == 422


def test_consultation_answered(node):
    case = create(node, consultation())
    assert case["deadlines"] == {} and case["respondent"] is None
    with pytest.raises(NodeError) as err:
        act(node, case["id"], action="answer")
    assert err.value.field == "text"
    c = act(node, case["id"], action="answer", text="自收到商品之日起七日内。")
    assert c["status"] == "answered" and c["outcome"]["answer"].startswith("自收到")


def test_refer_outside_the_remit(node):
    cid = create(node, complaint())["id"]
    c = act(node, cid, action="refer", body="人力资源和社会保障局", reason="劳动争议不属于市场监管职责")
    assert c["status"] == "referred" and c["outcome"]["body"] == "人力资源和社会保障局"


@pytest.mark.parametrize("kind_body, steps, action, status", [
    (complaint, [], "conclude", "registered"),
    (complaint, [], "mediate", "registered"),
    (complaint, [{"action": "accept"}], "accept", "accepted"),
    (complaint, [{"action": "decline", "reason": "time_barred"}], "accept", "declined"),
    (report, [], "file", "registered"),
    (report, [], "accept", "registered"),
    (consultation, [], "accept", "registered"),
    (consultation, [{"action": "answer", "text": "答复"}], "answer", "answered"),
])
def test_illegal_transitions_are_409_naming_status_and_allowed_actions(node, kind_body, steps,
                                                                       action, status):
    cid = create(node, kind_body())["id"]
    for step in steps:
        svc.act(node, cid, step, HANDLER)
    before = count_rows(node)
    with pytest.raises(NodeError) as err:
        svc.act(node, cid, {"action": action, "reason": "time_barred"} if action == "decline"
                else {"action": action}, HANDLER)
    e = err.value
    assert e.status == 409 and e.code == "illegal_transition"
    assert status in e.message and action in e.message and "可执行" in e.message
    assert count_rows(node) == before


@pytest.mark.parametrize("action", ["route", "escalate", "return"])
def test_routing_actions_without_links_are_409(node, action):
    cid = create(node, complaint())["id"]
    with pytest.raises(NodeError) as err:
        act(node, cid, action=action)
    assert err.value.status == 409 and err.value.code == "no_link"
    assert "本节点尚未建立链路" in err.value.message


# -- CONTRACT §5: every action in exactly the form the contract lists ------------------------------
def link_parent(node, code="440300"):
    """An active link to the prefecture above, so the routing actions have somewhere to go."""
    from federation.models import Link
    Link.create(code=code, level="prefecture", role="parent", name="深圳市市场监督管理局",
                url=f"http://{code}.test", created_at=node.now().astimezone(UTC).replace(tzinfo=None))


def arrived_from(node, cid, sender="440300"):
    """The custody trail of a case routed here by ``sender`` (what ``return`` sends back to)."""
    trail = [{"node": sender, "since": "2026-09-29T10:00:00+08:00", "until": "2026-09-29T10:05:00+08:00",
              "from": None, "by": "h1", "action": "register"},
             {"node": node.code, "since": "2026-09-29T10:06:00+08:00", "until": None, "from": sender,
              "by": "h1", "action": "route", "reason": "按辖区分流", "auto": True, "via": []}]
    Case.update(route=json.dumps(trail, ensure_ascii=False)).where(Case.case_id == cid).execute()


FAR = {"name": "杭州某网店", "region_code": "330106"}
# (kind body, actions before, links, the CONTRACT §5 form, status after, handling node, note says)
CONTRACT_FORMS = {
    "accept": (complaint, [], None, {"action": "accept"}, "accepted", "440305", "accepted (mediation)"),
    "accept-mode": (complaint, [], None, {"action": "accept", "mode": "investigation"}, "accepted", "440305",
                    "accepted (investigation)"),
    "decline": (complaint, [], None, {"action": "decline", "reason": "outside_remit"}, "declined", "440305",
                "Order 20 Art. 15(1)"),
    "decline-text": (complaint, [], None, {"action": "decline", "reason": "不属于市场监督管理部门职责"}, "declined",
                     "440305", "Order 20 Art. 15(1)"),
    "route": (complaint, [], "parent", {"action": "route", "to": "440306"}, "transferred", "440306", "分流至"),
    "route-auto": (lambda: complaint(respondent=FAR), [], "parent-after-intake", {"action": "route", "to": "auto"},
                   "transferred", "330106", "分流至"),
    "return": (complaint, [], "arrived", {"action": "return", "reason": "被投诉人不在本辖区"}, "transferred", "440300",
               "被投诉人不在本辖区"),
    "escalate": (complaint, [], "parent", {"action": "escalate", "reason": "涉及多区连锁企业，超出本级权限"},
                 "transferred", "440300", "超出本级权限"),
    "refer": (complaint, [], None, {"action": "refer", "body": "人力资源和社会保障局", "reason": "劳动争议不属于市场监管职责"},
              "referred", "440305", "人力资源和社会保障局"),
    "mediate": (complaint, [{"action": "accept"}], None, {"action": "mediate"}, "in_mediation", "440305", ""),
    "conclude-mediated": (complaint, [{"action": "accept"}, {"action": "mediate"}], None,
                          {"action": "conclude", "outcome": "mediated", "amount_recovered": "1299.00",
                           "note": "商家同意退货退款"}, "concluded", "440305", ""),
    "conclude-not-mediated": (complaint, [{"action": "accept"}, {"action": "mediate"}], None,
                              {"action": "conclude", "outcome": "not_mediated", "note": "双方分歧过大"},
                              "concluded", "440305", "no ground given; recorded as no_agreement"),
    "conclude-settled": (complaint, [{"action": "accept"}], None, {"action": "conclude", "outcome": "settled"},
                         "concluded", "440305", ""),
    "conclude-withdrawn": (complaint, [{"action": "accept"}], None, {"action": "conclude", "outcome": "withdrawn"},
                           "concluded", "440305", ""),
    "conclude-filed": (report, [{"action": "verify"}, {"action": "file"}], None,
                       {"action": "conclude", "outcome": "filed"}, "concluded", "440305", ""),
    "conclude-not-filed": (report, [{"action": "verify"}, {"action": "not_file"}], None,
                           {"action": "conclude", "outcome": "not_filed"}, "concluded", "440305", ""),
    "conclude-filed-all-fields": (report, [{"action": "verify"}, {"action": "file"}], None,
                                  {"action": "conclude", "outcome": "filed", "amount_recovered": "350.00",
                                   "note": "责令退还消费者货款"}, "concluded", "440305", "责令退还消费者货款"),
    "feedback": (complaint, [{"action": "accept"}, {"action": "conclude", "outcome": "mediated"}], None,
                 {"action": "feedback", "satisfaction": "basically_satisfied"}, "concluded", "440305", "基本满意"),
    "answer": (consultation, [], None, {"action": "answer", "text": "自收到商品之日起七日内可无理由退货。"},
               "answered", "440305", ""),
}


def contract_state(node, kind_body, steps, links):
    """A case in a state where the action is allowed; returns its id."""
    if links == "parent":
        link_parent(node)
    cid = create(node, kind_body())["id"]
    for step in steps:
        svc.act(node, cid, step, HANDLER)
    if links == "parent-after-intake":   # kept at intake (no link then), flagged; now a link exists
        link_parent(node)
    if links == "arrived":
        link_parent(node)
        arrived_from(node, cid)
    return cid


@pytest.mark.parametrize("form", CONTRACT_FORMS)
def test_every_action_in_its_contract_form_is_accepted(node, form):
    kind_body, steps, links, payload, status, handler, says = CONTRACT_FORMS[form]
    cid = contract_state(node, kind_body, steps, links)
    before = svc.get_case(node, cid, HANDLER)
    c = svc.act(node, cid, dict(payload), HANDLER)
    assert c["status"] == status and c["handling_node"] == handler
    assert c["version"] == before["version"] + 1
    last = c["history"][-1]
    assert last["action"] == payload["action"] and last["actor"] == "h1"
    assert (last["from_status"], last["to_status"]) == (before["status"], status)
    assert says in last["note"]
    assert svc.get_case(node, cid, HANDLER) == c           # what was answered is what is stored
    if handler != node.code:                               # custody left with the change
        assert c["held_as"] == "copy" and c["custody"][-1]["node"] == handler
    if payload["action"] == "conclude":
        assert c["outcome"]["outcome"] == payload["outcome"]
        if "amount_recovered" in payload:
            assert c["amount_recovered"] == payload["amount_recovered"]
    if payload["action"] == "feedback":
        assert c["outcome"]["satisfaction"] == payload["satisfaction"]
    if payload["action"] == "answer":
        assert c["outcome"]["answer"] == payload["text"]


def test_action_payloads_are_strict(node):
    cid = create(node, complaint())["id"]
    cases_ = [({"action": "accept", "mode": "arbitration"}, "mode"),
              ({"action": "accept", "colour": "red"}, "colour"),
              ({"action": "fly"}, "action"),
              ({}, "action"),
              ({"action": "accept", "note": "\x00"}, "note")]
    for payload, field in cases_:
        with pytest.raises(NodeError) as err:
            svc.act(node, cid, payload, HANDLER)
        assert err.value.status == 422 and err.value.field == field, payload
    assert svc.get_case(node, cid, HANDLER)["version"] == 1


def test_roles_that_may_not_act(node):
    cid = create(node, complaint())["id"]
    for actor in (SUPERVISOR, LEADER, INTAKE, Actor("x", "analyst")):
        with pytest.raises(NodeError) as err:
            act(node, cid, actor=actor, action="accept")
        assert err.value.status == 403
    assert act(node, cid, actor=ADMIN, action="accept")["status"] == "accepted"


def test_concurrent_change_is_refused(node):
    cid = create(node, complaint())["id"]
    row = Case.select().where(Case.case_id == cid).dicts().first()
    change = svc.CaseChange(row=row, events=[], previous_version=row["version"] + 5,
                            changed={"status": "accepted"}, action="accept")
    with pytest.raises(NodeError) as err:
        svc.commit_change(node, [change])
    assert err.value.status == 409


def test_change_hooks_run_in_the_transaction(node):
    seen = []

    def hook(n, changes):
        seen.append([(c.action, c.row["case_id"], c.row["status"]) for c in changes])
        if changes[0].action == "decline":
            raise RuntimeError("outbox refused")

    lifecycle.CHANGE_HOOKS.append(hook)
    try:
        case = create(node, complaint(also_report=True))
        act(node, case["id"], action="accept")
        cid2 = create(node, complaint())["id"]
        before = count_rows(node)
        with pytest.raises(RuntimeError):
            act(node, cid2, action="decline", reason="time_barred")
    finally:
        lifecycle.CHANGE_HOOKS.remove(hook)
    assert seen[0] == [("register", case["id"], "registered"),
                       ("register", case["linked_case"], "registered")]
    assert seen[1] == [("accept", case["id"], "accepted")]
    # the failing hook rolled the decline back: state change and its documents go together
    assert svc.get_case(node, cid2, HANDLER)["status"] == "registered"
    assert count_rows(node) == before


# -- overdue (R2.6) -------------------------------------------------------------------------------
def test_mark_overdue_with_an_injected_clock(node, clock):
    late = create(node, complaint())["id"]                                  # accept_by 2026-10-14
    clock.set(at("2026-10-13T09:00:00+08:00"))
    fresh = create(node, complaint(received_at="2026-10-13T09:00:00+08:00"))["id"]
    clock.set(at("2026-10-14T18:00:00+08:00"))
    assert svc.mark_overdue(node) == 0                         # due today: not late
    clock.set(at("2026-10-15T08:00:00+08:00"))
    assert svc.mark_overdue(node) == 1
    assert svc.mark_overdue(node) == 0                         # once
    case = svc.get_case(node, late, HANDLER)
    assert case["overdue"] is True and case["version"] == 2
    events = [e for e in case["history"] if e["action"] == "overdue"]
    assert len(events) == 1 and "accept_by" in events[0]["note"] and events[0]["actor"] == "system"
    listed = svc.list_cases(node, {"overdue": "true"}, HANDLER)["items"]
    assert [c["id"] for c in listed] == [late]
    assert fresh not in [c["id"] for c in listed]
    # the duty done late: the clock is met, the flag clears
    assert act(node, late, action="accept")["overdue"] is False


def test_overdue_job_is_registered(node):
    from node import jobs
    ids = [spec[0] for spec in jobs.specs(node)]
    assert "deadlines.mark_overdue" in ids


def test_calendar_warnings_for_uncovered_year(node, clock):
    from node.deadlines import book as deadlines_runtime
    warnings = deadlines_runtime.calendar_warnings(node)
    assert any("2027" in w for w in warnings)          # 2027 not in the official data yet
    assert any("CN-ORDER20-2022" in w for w in warnings)  # Order 20 superseded by Order 121


# -- search and paging ---------------------------------------------------------------------------
def test_search_chinese_substrings(node):
    a = create(node, complaint(summary="空调安装后漏水", description="师傅上门三次未修好"))
    b = create(node, complaint(summary="手机屏幕碎裂", description="", respondent={
        "name": "深圳市华强北数码有限公司", "region_code": "440305"}))
    create(node, complaint(summary="健身房闭店无法退卡", description="预付费 5000 元"))

    def ids(q):
        return [c["id"] for c in svc.list_cases(node, {"q": q}, HANDLER)["items"]]

    assert ids("漏水") == [a["id"]]                   # 2 characters: LIKE
    assert ids("上门三次") == [a["id"]]               # 4 characters: trigram index on SQLite
    assert ids("华强北数码") == [b["id"]]             # respondent name
    assert ids("不存在的词") == []
    assert ids("%") == [] and ids("_") == []        # LIKE wildcards are literal


def test_cursor_paging_over_120_cases(node):
    made = []
    for i in range(120):
        made.append(create(node, complaint(summary=f"第{i}号投诉"))["id"])
    seen, cursor, pages = [], None, 0
    while True:
        page = svc.list_cases(node, {}, HANDLER, limit=50, cursor=cursor)
        pages += 1
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120
    assert seen == list(reversed(made))                         # newest first
    assert len(svc.list_cases(node, {}, HANDLER)["items"]) == 50  # default limit
    big = svc.list_cases(node, {}, HANDLER, limit=1000)
    assert len(big["items"]) == 120 and big["next_cursor"] is None


def test_list_cut_to_200(node):
    for i in range(205):
        create(node, consultation(summary=f"咨询{i}"))
    page = svc.list_cases(node, {}, HANDLER, limit=500)
    assert len(page["items"]) == 200 and page["next_cursor"]
    rest = svc.list_cases(node, {}, HANDLER, limit=500, cursor=page["next_cursor"])
    assert len(rest["items"]) == 5 and rest["next_cursor"] is None


@pytest.mark.parametrize("filters, field", [
    ({"status": "open"}, "status"), ({"kind": "question"}, "kind"), ({"urgency": "high"}, "urgency"),
    ({"overdue": "maybe"}, "overdue"), ({"colour": "red"}, "colour"),
])
def test_list_filters_are_validated(node, filters, field):
    with pytest.raises(NodeError) as err:
        svc.list_cases(node, filters, HANDLER)
    assert err.value.status == 422 and err.value.field == field


def test_bad_cursor_and_limit(node):
    for kwargs, field in (({"cursor": "not-a-cursor"}, "cursor"), ({"limit": "0"}, "limit"),
                          ({"limit": "ten"}, "limit")):
        with pytest.raises(NodeError) as err:
            svc.list_cases(node, {}, HANDLER, **kwargs)
        assert err.value.field == field


def test_list_filters(node):
    c = create(node, complaint())
    r = create(node, report())
    q = create(node, consultation())
    act(node, c["id"], action="accept")
    assert [x["id"] for x in svc.list_cases(node, {"kind": "report"}, HANDLER)["items"]] == [r["id"]]
    assert [x["id"] for x in svc.list_cases(node, {"status": "accepted"}, HANDLER)["items"]] == [c["id"]]
    assert len(svc.list_cases(node, {"handling_node": "440305"}, HANDLER)["items"]) == 3
    assert svc.list_cases(node, {"accepting_node": "440300"}, HANDLER)["items"] == []
    assert q["id"] in [x["id"] for x in svc.list_cases(node, {"urgency": "general"}, HANDLER)["items"]]


def test_count_cases_counts_what_the_list_shows(node):
    for body in (complaint(), complaint(), report(), staff_report(), consultation()):
        create(node, body)
    act(node, svc.list_cases(node, {"kind": "complaint"}, HANDLER)["items"][0]["id"], action="accept")
    for filters in ({}, {"kind": "complaint"}, {"status": "registered"}, {"q": "冰箱"}, {"overdue": "false"},
                    {"handling_node": "440305", "held_as": "handler", "status": "registered"}):
        for actor in (HANDLER, DISCIPLINE):
            assert svc.count_cases(node, filters, actor) == len(svc.list_cases(node, filters, actor)["items"])
    assert svc.count_cases(node, {}, HANDLER) == 4 and svc.count_cases(node, {}, DISCIPLINE) == 5
    for filters, field in (({"colour": "red"}, "colour"), ({"status": "lost"}, "status")):
        with pytest.raises(NodeError) as err:
            svc.count_cases(node, filters, HANDLER)
        assert err.value.status == 422 and err.value.field == field
    with pytest.raises(NodeError) as err:
        svc.count_cases(node, {}, Actor("x", "citizen"))
    assert err.value.status == 403


def test_leadership_board(node):
    create(node, complaint())
    urgent = create(node, complaint(summary="儿童玩具划伤手指"))          # triage → urgent
    critical = create(node, complaint(urgency="critical", summary="商场电梯事故"))
    create(node, staff_report(urgency="critical"))                       # stays with discipline
    board = svc.leadership_board(node, LEADER)
    assert [c["id"] for c in board["items"]] == [critical["id"], urgent["id"]]
    assert board["counts"] == {"critical": 1, "urgent": 1}
    act(node, urgent["id"], action="decline", reason="outside_remit")
    assert [c["id"] for c in svc.leadership_board(node, ADMIN)["items"]] == [critical["id"]]
    with pytest.raises(NodeError) as err:
        svc.leadership_board(node, HANDLER)
    assert err.value.status == 403


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_case_show_and_list(node):
    from admin_cli.cli import cli
    case = create(node, complaint(also_report=True))
    create(node, staff_report())
    home = str(node.config.home_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["--home", home, "case", "show", case["id"], "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["id"] == case["id"]
    r = runner.invoke(cli, ["--home", home, "case", "show", case["id"]])
    assert r.exit_code == 0 and case["linked_case"] in r.output
    r = runner.invoke(cli, ["--home", home, "case", "list", "--json"])
    assert r.exit_code == 0
    assert len(json.loads(r.output)["items"]) == 2                     # the staff report is hidden
    r = runner.invoke(cli, ["--home", home, "case", "list", "--status", "registered", "--overdue"])
    assert r.exit_code == 0 and "没有案件" in r.output


# -- assign to a department (交办, issue 11 item 5) -------------------------------------------------
def test_assign_sets_the_lead_department_and_records_the_copied_ones(node):
    case = create(node, complaint())
    done = act(node, case["id"], action="assign", department="enforcement",
               copy_departments=["consumer_protection"], note="涉嫌虚假宣传")
    assert done["department"] == "enforcement" and done["status"] == "registered"
    event = done["history"][-1]
    assert event["action"] == "assign" and event["note"] == "涉嫌虚假宣传"
    with node.activate():
        data = json.loads(CaseEvent.for_case(case["id"]).order_by(CaseEvent.id.desc()).first().data)
    assert data == {"department": "enforcement", "copy_departments": ["consumer_protection"],
                    "previous_department": "consumer_protection"}
    # a comma-separated list is the same list
    again = act(node, case["id"], action="assign", department="consumer_protection", copy_departments="enforcement")
    assert again["department"] == "consumer_protection"


@pytest.mark.parametrize("payload, status, field", [
    ({"department": "nowhere"}, 422, "department"),
    ({"department": "enforcement", "copy_departments": ["nowhere"]}, 422, "copy_departments"),
    ({"department": "enforcement", "copy_departments": ["enforcement"]}, 422, "copy_departments"),
    ({"department": "enforcement", "copy_departments": [1]}, 422, "copy_departments"),
    ({"department": "discipline"}, 422, "department"),
])
def test_assign_refuses_what_is_not_a_department_and_changes_nothing(node, payload, status, field):
    case = create(node, complaint())
    with pytest.raises(NodeError) as err:
        act(node, case["id"], action="assign", **payload)
    assert (err.value.status, err.value.field) == (status, field)
    with node.activate():
        assert Case.row(case["id"])["version"] == 1


def test_a_report_against_staff_stays_with_discipline_inspection(node):
    case = create(node, staff_report(), actor=INTAKE)
    with pytest.raises(NodeError) as err:
        act(node, case["id"], actor=DISCIPLINE, action="assign", department="enforcement")
    assert err.value.status == 403
    with pytest.raises(NodeError):
        act(node, case["id"], actor=DISCIPLINE, action="assign", department="discipline",
            copy_departments=["enforcement"])
