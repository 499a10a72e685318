"""Case routing across the tree (issue 4; R1.5, R2.1-R2.7; CONTRACT §5 "Routing").

Trees are built through ``init`` and invite/join (tests/network/conftest.py), the staff API
is called through each node's Flask app, documents travel through the harness, and every
test runs on SQLite and on PostgreSQL. The oracle for each flow: the case arrives with the
same id at the node with jurisdiction, exactly one node handles it, every node on the
route holds a copy at the handler's version, and the result comes back.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from node.accounts import service as users
from node.cases.models import Case, CaseEvent
from node.notify import Notification
from node.routing import arrivals, documents, proposals, supervision
from replication.models import Quarantine
from tests.network.harness import Faults

GD = ["440000", "440300", "440305", "440305001"]
ZJ = ["330000", "330100", "330106"]


class Api:
    """One user per (node, role), made with the same service ``n12315 user add`` uses."""

    def __init__(self, net):
        self.net = net
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, code: str, role: str) -> str:
        if (code, role) not in self.tokens:
            node = self.net.nodes[code]
            with node.activate():
                self.tokens[(code, role)] = users.add_user(f"{role}1", role, node.now())
        return self.tokens[(code, role)]

    def call(self, code: str, method: str, path: str, role: str = "handler", body: Any = None):
        headers = {"Authorization": f"Bearer {self.token(code, role)}"}
        client = self.net.clients[code]
        return client.open(path, method=method, headers=headers, json=body)

    def create(self, code: str, body: dict[str, Any], role: str = "intake") -> dict[str, Any]:
        r = self.call(code, "POST", "/api/v1/cases", role, body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def act(self, code: str, case_id: str, role: str = "handler", expect: int = 200, **payload: Any):
        r = self.call(code, "POST", f"/api/v1/cases/{case_id}/actions", role, payload)
        assert r.status_code == expect, (r.status_code, r.get_json())
        return r.get_json()

    def get(self, code: str, case_id: str, role: str = "handler") -> dict[str, Any]:
        r = self.call(code, "GET", f"/api/v1/cases/{case_id}", role)
        assert r.status_code == 200, (code, r.get_json())
        return r.get_json()

    def ids(self, code: str, query: str = "", role: str = "handler") -> list[str]:
        r = self.call(code, "GET", f"/api/v1/cases?limit=200{query}", role)
        assert r.status_code == 200, r.get_json()
        return [c["id"] for c in r.get_json()["items"]]


def complaint(region: str = "440305", *, name: str = "深圳市南山区某餐饮店", address: str = "", channel: str = "phone",
              category: str = "S0304", summary: str = "外卖食品中吃出异物", description: str = "米饭中发现金属异物。",
              **extra: Any) -> dict[str, Any]:
    return {"kind": "complaint", "channel": channel, "category": category, "summary": summary,
            "description": description, "received_at": "2026-09-29T10:00:00+08:00",
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": name, "region_code": region, "address": address}, **extra}


def holders_of(net, case_id: str) -> dict[str, tuple[str, int, str, str]]:
    """code -> (held_as, version, status, handling_node) at every node holding the case."""
    out = {}
    for code, node in net.nodes.items():
        with node.activate():
            row = Case.row(case_id)
        if row is not None:
            out[code] = (row["held_as"], row["version"], row["status"], row["handling_node"])
    return out


def assert_one_handler_and_converged(net, case_id: str) -> str:
    held = holders_of(net, case_id)
    handlers = [c for c, h in held.items() if h[0] == "handler"]
    assert len(handlers) == 1, held
    top = held[handlers[0]]
    for code, h in held.items():
        assert h[1:] == top[1:], (code, h, top)
    return handlers[0]


def no_quarantine(net) -> None:
    for code, node in net.nodes.items():
        with node.activate():
            held = [(q.doc_kind, q.error) for q in Quarantine.select().where(Quarantine.state == "held")]
        assert held == [], (code, held)


@pytest.fixture
def api(tree):
    return Api(tree)


# -- done when: distribution and feedback -----------------------------------------------------------
def test_phone_complaint_at_the_province_reaches_the_county_and_its_conclusion_returns(tree, api):
    """R1.2/R1.5: the Guangdong 12315 phone centre takes a complaint about a Nanshan firm;
    it travels down to 440305 with the same id, the prefecture keeps a copy, and the
    conclusion (R2.6) and the notices to the named complainant (R2.7) come back."""
    case = api.create("440000", complaint())
    cid = case["id"]
    assert cid.startswith("440000-") and case["status"] == "transferred" and case["handling_node"] == "440305"
    assert [e["action"] for e in case["history"]] == ["register", "route"]
    tree.settle()
    at_county = api.get("440305", cid)
    assert at_county["id"] == cid and at_county["held_as"] == "handler" and at_county["status"] == "registered"
    assert at_county["accepting_node"] == "440000"
    for code in ("440000", "440300"):
        assert cid in api.ids(code, "&held_as=copy"), code      # copies appear in their lists
        assert api.get(code, cid)["held_as"] == "copy"
    # the handler works it; every change flows back up
    api.act("440305", cid, action="accept")
    api.act("440305", cid, action="conclude", outcome="mediated", amount_recovered="50.00")
    tree.settle()
    back = api.get("440000", cid)
    assert back["status"] == "concluded" and back["outcome"]["outcome"] == "mediated"
    assert back["history"] == api.get("440305", cid)["history"]
    assert assert_one_handler_and_converged(tree, cid) == "440305"
    # custody trail: who held it, from when to when, who sent it on and why
    custody = back["custody"]
    assert [(h["node"], h["action"]) for h in custody] == [("440000", "register"), ("440305", "route")]
    assert custody[0]["until"] and custody[1]["since"] and custody[1]["from"] == "440000"
    assert custody[1]["via"] == ["440300"] and "第十二条" in custody[1]["reason"]
    # the accepting node told the named complainant each step (R2.7)
    node = tree.nodes["440000"]
    with node.activate():
        told = [n.event for n in Notification.select().where(Notification.case_id == cid).order_by(Notification.id)]
    assert told == ["received", "accepted", "concluded"]    # "received" says where intake sent it
    r = api.call("440000", "GET", f"/api/v1/notifications?case_id={cid}", "intake")
    items = r.get_json()["items"]
    assert r.status_code == 200 and "办结" in items[0]["message"] and "南山区" in items[-1]["message"]
    assert {i["address"] for i in items} == {"136****1111"}
    no_quarantine(tree)


def test_nanshan_complaint_about_a_xihu_firm_goes_through_hq_and_its_result_returns(tree, api):
    case = api.create("440305", complaint("330106", name="杭州市西湖区某服饰有限公司", channel="web",
                                          category="G0401", summary="网购羽绒服含绒量与宣传不符"))
    cid = case["id"]
    assert case["handling_node"] == "330106"
    tree.settle()
    handler = api.get("330106", cid)
    assert handler["held_as"] == "handler" and handler["id"] == cid
    route = ["440305", "440300", "440000", "000000", "330000", "330100", "330106"]
    assert handler["custody"][-1]["via"] == route[1:-1]
    held = holders_of(tree, cid)
    assert set(held) == set(route), held          # every node on the route keeps a copy; the station does not
    api.act("330106", cid, action="accept")
    api.act("330106", cid, action="conclude", outcome="settled", amount_recovered="899.00")
    tree.settle()
    back = api.get("440305", cid)
    assert back["status"] == "concluded" and back["amount_recovered"] == "899.00"
    assert assert_one_handler_and_converged(tree, cid) == "330106"
    assert cid in api.ids("000000", "&status=concluded")
    no_quarantine(tree)


def test_a_county_offline_while_30_cases_are_taken_for_it_gets_each_exactly_once(tree, api):
    tree.down.add("440305")
    made = [api.create("440000", complaint(summary=f"第 {i} 件：外卖异物"))["id"] for i in range(30)]
    tree.settle(rounds=3, must_converge=False)        # the county is down: its cases wait upstream
    for code in GD[:2]:
        tree.faults[code] = Faults(duplicate=0.5, drop_response=0.3)
    tree.down.discard("440305")
    tree.settle(rounds=200, must_converge=False)      # under faults; converges below
    tree.faults.clear()
    tree.settle()
    county = tree.nodes["440305"]
    with county.activate():
        handled = [r.case_id for r in Case.select().where(Case.held_as == "handler")]
        receipts = {cid: CaseEvent.select().where((CaseEvent.case_id == cid) & (CaseEvent.action == "receive")).count()
                    for cid in made}
    assert sorted(handled) == sorted(made)
    assert set(receipts.values()) == {1}, receipts
    assert sum(tree.stats.values()) > 0, "the faults were exercised"
    for cid in made[:5]:
        assert_one_handler_and_converged(tree, cid)
    no_quarantine(tree)


def test_a_supervisor_at_the_prefecture_sees_an_overdue_case_in_its_county_and_urges_it(tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    tree.settle()
    assert api.get("440300", cid, role="supervisor")["held_as"] == "copy"     # mirror up to the prefecture
    assert cid not in api.ids("440300", "&overdue=true", role="supervisor")
    for code in ("440000", "000000"):
        assert cid not in api.ids(code, role="supervisor")                     # not theirs to see yet
    # two working days before accept_by (2026-10-14): soon due, visible at every level above
    tree.clock.t = tree.clock.t + timedelta(days=13)          # 2026-10-12, a Monday
    county = tree.nodes["440305"]
    with county.activate():
        assert supervision.remind(county) == 1
    tree.settle()
    for code in ("440300", "440000", "000000"):
        assert cid in api.ids(code, "&due_within_days=2", role="supervisor"), code
    # overdue: the county flags it; the prefecture (and every level above) sees it
    tree.clock.t = tree.clock.t + timedelta(days=3)           # 2026-10-15
    with county.activate():
        supervision.remind(county)
    tree.settle()
    for code in ("440300", "440000", "000000"):
        assert cid in api.ids(code, "&overdue=true", role="supervisor"), code
    assert cid not in api.ids("330000", "&overdue=true", role="supervisor")   # not its subtree
    # the supervisor urges the handling node: 202, travels down, recorded there and back
    res = api.act("440300", cid, role="supervisor", expect=202, action="urge", note="请三日内办结")
    assert res["proposal"]["to"] == "440305" and res["proposal"]["state"] == "sent"
    tree.settle()
    urge = [e for e in api.get("440305", cid)["history"] if e["action"] == "urge"]
    assert len(urge) == 1 and urge[0]["node"] == "440305" and urge[0]["actor"] == "440300/supervisor1"
    assert "请三日内办结" in urge[0]["note"]
    assert [e["action"] for e in api.get("440300", cid)["history"]][-1] == "urge"
    with tree.nodes["440300"].activate():
        assert [p["state"] for p in proposals.list_proposals(tree.nodes["440300"], cid)] == ["applied"]
    # overdue for five working days: the escalating reminder
    tree.clock.t = tree.clock.t + timedelta(days=8)
    with county.activate():
        assert supervision.remind(county) == 1
    tree.settle()
    reminders = [e["note"] for e in api.get("000000", cid)["history"] if e["action"] == "remind"]
    assert len(reminders) == 2 and "提请上级督办" in reminders[-1]
    no_quarantine(tree)


# -- stations ----------------------------------------------------------------------------------
def test_the_county_routes_on_to_the_station_by_its_area_table_and_the_station_result_returns(tree, api):
    cid = api.create("440000", complaint(name="某小卖部", address="深圳市南山区粤海街道科苑路 8 号"))["id"]
    tree.settle()
    at_station = api.get("440305001", cid)
    assert at_station["held_as"] == "handler"
    assert [(h["node"], h["action"]) for h in at_station["custody"]] == [
        ("440000", "register"), ("440305", "route"), ("440305001", "route")]
    assert "粤海" in at_station["custody"][-1]["reason"]
    api.act("440305001", cid, action="accept")
    api.act("440305001", cid, action="conclude", outcome="mediated")
    tree.settle()
    assert api.get("440000", cid)["status"] == "concluded"
    assert assert_one_handler_and_converged(tree, cid) == "440305001"


def test_a_case_taken_at_the_station_stays_there_and_its_county_and_prefecture_hold_copies(tree, api):
    cid = api.create("440305001", complaint(name="南山区粤海街道某小卖部", channel="visit", urgency="critical",
                                            summary="多名学生食用辣条后呕吐"))["id"]
    tree.settle()
    assert holders_of(tree, cid) == {"440305001": ("handler", 1, "registered", "440305001"),
                                     "440305": ("copy", 1, "registered", "440305001"),
                                     "440300": ("copy", 1, "registered", "440305001")}


# -- manual actions and their bad input -----------------------------------------------------------
def test_route_refuses_unknown_codes_nodes_outside_the_tree_and_itself(tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    cases_ = [({"to": "999999"}, 422, "unknown_node"),
              ({"to": "440305"}, 409, "route_to_self"),
              ({"to": "440305009"}, 409, "not_in_tree"),
              ({"to": "auto"}, 409, "already_competent"),
              ({}, 422, "invalid")]
    for payload, status, code in cases_:
        err = api.act("440305", cid, expect=status, action="route", **payload)["error"]
        assert err["code"] == code and err["field"] in ("to",), (payload, err)
        assert "/" in err["message"]          # Chinese first, then English
    assert api.get("440305", cid)["version"] == 1


def test_an_action_at_a_node_that_is_not_the_handler_is_403_naming_the_handler(tree, api):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    for code in ("440000", "440300"):
        err = api.act(code, cid, expect=403, action="accept")["error"]
        assert err["code"] == "not_handler" and "440305" in err["message"] and err["field"] == "action"
    assert api.get("440000", cid)["status"] == "registered"


def test_escalate_goes_to_the_level_above_which_decides(tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    api.act("440305", cid, action="accept")
    api.act("440305", cid, action="escalate", reason="涉及多区连锁企业，超出本级权限")
    tree.settle()
    up = api.get("440300", cid)
    assert up["held_as"] == "handler" and up["status"] == "registered" and "报请上级决定" in up["attention"]
    assert cid in api.ids("440300", "&attention=true")
    # the prefecture hands it back down by hand
    api.act("440300", cid, action="route", to="440305", note="由南山区继续办理")
    tree.settle()
    assert assert_one_handler_and_converged(tree, cid) == "440305"
    assert api.get("440305", cid)["attention"] is None


def test_hq_intake_goes_down_and_what_no_node_covers_stays_flagged_where_it_stopped(tree, api):
    cid = api.create("000000", complaint("440305"), role="admin")["id"]
    tree.settle()
    assert api.get("440305", cid)["held_as"] == "handler"        # HQ's intake goes down too
    # no linked node covers Beijing: HQ keeps it, flagged for a person; HQ has nobody above
    kept = api.create("000000", complaint("110105", name="北京某公司"), role="admin")
    assert kept["held_as"] == "handler" and "110105" in kept["attention"]
    assert kept["id"] in api.ids("000000", "&attention=true")
    err = api.act("000000", kept["id"], expect=409, action="escalate", reason="无上级")["error"]
    assert err["code"] == "no_link"


def test_return_sends_it_back_to_the_router_which_takes_the_next_competent_unit(tree, api):
    """A merchant on a platform: its operating place (Xihu) or the platform's domicile
    (Beijing Chaoyang) is competent (Order 20 Art. 12(2)). Xihu returns it; the province
    routes it to the domicile; no node below HQ covers Beijing, so HQ keeps it, flagged."""
    cid = api.create("440000", complaint("330106", name="杭州市西湖区某餐馆", category="S0304",
                                         description="通过美团下单，餐品变质。"))["id"]
    tree.settle()
    assert api.get("330106", cid)["held_as"] == "handler"
    api.act("330106", cid, action="return", reason="该店已迁出本区，实际经营地不在西湖区")
    tree.settle()
    held = holders_of(tree, cid)
    assert [c for c, h in held.items() if h[0] == "handler"] == ["000000"], held
    at_hq = api.get("000000", cid)
    assert "110105" in at_hq["attention"] and cid in api.ids("000000", "&attention=true")
    trail = [(h["node"], h["action"], bool(h.get("returned"))) for h in at_hq["custody"]]
    assert trail == [("440000", "register", False), ("330106", "route", True), ("440000", "return", False),
                     ("110105", "route", False), ("000000", "hold", False)], trail
    assert assert_one_handler_and_converged(tree, cid) == "000000"
    no_quarantine(tree)


def test_return_with_no_other_competent_unit_is_flagged_for_a_person(tree, api):
    cid = api.create("440305", complaint("330106", name="杭州市西湖区某服饰有限公司", category="G0401"))["id"]
    tree.settle()
    api.act("330106", cid, action="return", reason="被投诉人不在本辖区")
    tree.settle()
    back = api.get("440305", cid)
    assert back["held_as"] == "handler" and "退回" in back["attention"]
    assert cid in api.ids("440305", "&attention=true&held_as=handler")
    # a person decides: refer it with what to tell the consumer (R2.5)
    api.act("440305", cid, action="refer", body="hotline_12345", reason="经核实不属于市场监管职责")
    with tree.nodes["440305"].activate():
        notes = [n.message for n in Notification.select().where(Notification.case_id == cid)]
    assert any("12345" in m for m in notes), notes


def test_refer_to_an_outside_body_from_the_directory(tree, api):
    r = api.call("440305", "GET", "/api/v1/referral-bodies?category=S0401")
    assert r.status_code == 200 and r.get_json()["items"][0]["code"] == "telecom"
    cid = api.create("440000", complaint(name="某通信营业厅", category="S0401", summary="宽带资费争议"))["id"]
    tree.settle()
    done = api.act("440305", cid, action="refer", body="telecom", reason="电信资费争议属通信管理部门职责")
    assert done["status"] == "referred" and done["outcome"]["hotline"] == "12300"
    assert done["outcome"]["body_code"] == "telecom" and "12300" in done["outcome"]["tell"]
    tree.settle()
    with tree.nodes["440000"].activate():
        told = [n.message for n in Notification.select().where(Notification.case_id == cid)]
    assert any("12300" in m for m in told)


def test_decline_with_coded_grounds_flows_back(tree, api):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    api.act("440305", cid, action="decline", reason="already_handled")
    tree.settle()
    assert api.get("440000", cid)["outcome"]["reason"] == "already_handled"


# -- ownership: proposals, take over, conflicts while cut off ------------------------------------
def test_a_superior_takes_a_case_over(tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    tree.settle()
    api.act("440300", cid, role="leader", expect=202, action="take_over", reason="社会影响较大，市局直接办理")
    tree.settle()
    assert assert_one_handler_and_converged(tree, cid) == "440300"
    trail = api.get("440305", cid)["custody"]
    assert trail[-1]["node"] == "440300" and trail[-1]["action"] == "take_over"
    # a node that is not a superior of the handler may not ask for it
    err = api.act("440305", cid, role="leader", expect=403, action="take_over", reason="要回来")["error"]
    assert "440300" in err["message"]


def test_conflicting_actions_at_two_nodes_while_cut_off_never_fork_the_case(tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    tree.settle()
    tree.partition("440300", "440305")
    # the prefecture, cut off, asks to take it over and urges it; a direct action is refused
    api.act("440300", cid, role="leader", expect=202, action="take_over", reason="市局直接办理")
    api.act("440300", cid, role="supervisor", expect=202, action="urge", note="尽快办理")
    assert api.act("440300", cid, expect=403, action="accept")["error"]["code"] == "not_handler"
    # meanwhile the county accepts and concludes
    api.act("440305", cid, action="accept")
    api.act("440305", cid, action="conclude", outcome="mediated")
    tree.settle(rounds=5, must_converge=False)        # cut off: both sides hold what they owe
    tree.heal()
    tree.settle()
    handler = assert_one_handler_and_converged(tree, cid)
    assert handler == "440305"
    final = api.get("440300", cid)
    assert final["status"] == "concluded"
    rejected = [e for e in final["history"] if e["action"] == "proposal_rejected"]
    assert len(rejected) == 2 and all("已办结" in e["note"] for e in rejected), rejected
    with tree.nodes["440300"].activate():
        states = sorted((p["action"], p["state"]) for p in proposals.list_proposals(tree.nodes["440300"], cid))
        reasons = [p["reason"] for p in proposals.list_proposals(tree.nodes["440300"], cid)]
    assert states == [("take_over", "rejected"), ("urge", "rejected")]
    assert all("已办结" in r for r in reasons)
    no_quarantine(tree)


def test_follow_up_call_and_reopening_are_asked_by_the_accepting_node(tree, api, ):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    api.act("440305", cid, action="accept")
    api.act("440305", cid, action="conclude", outcome="mediated")
    tree.settle()
    # 回访 at the accepting node travels to the handler and back
    api.act("440000", cid, role="intake", expect=202, action="feedback", satisfaction="dissatisfied")
    tree.settle()
    assert api.get("440000", cid)["outcome"]["satisfaction"] == "dissatisfied"
    # only the accepting node asks for it
    assert api.act("440300", cid, expect=403, action="feedback", satisfaction="satisfied")["error"]["code"] == "forbidden"
    # reopening within the period: the handler takes it up again
    api.act("440000", cid, role="intake", expect=202, action="reopen", reason="商家未按调解协议退款")
    tree.settle()
    again = api.get("440000", cid)
    assert again["status"] == "accepted" and "重新办理" in again["history"][-1]["note"]
    api.act("440305", cid, action="conclude", outcome="mediated", note="已退款")
    tree.settle()
    # after the period: refused at the handler, and the reason comes back
    tree.clock.t = tree.clock.t + timedelta(days=31)
    api.act("440000", cid, role="intake", expect=202, action="reopen", reason="仍不满意")
    tree.settle()
    last = api.get("440000", cid)["history"][-1]
    assert last["action"] == "proposal_rejected" and "30" in last["note"]


# -- reports against staff (R2.3) ---------------------------------------------------------------
def test_a_staff_report_goes_to_discipline_above_never_to_the_unit_accused(tree, api):
    body = {"kind": "report", "report_target": "staff", "channel": "letter", "category": "S99",
            "summary": "执法人员收受商户财物", "description": "某所工作人员检查时收受礼品。",
            "complainant": {"name": "匿名", "phone": "13500000000", "address": "南山区"},
            "respondent": {"name": "南山区市场监管局某执法人员", "region_code": "440305"}}
    case = api.create("440305", body)
    cid = case["id"]
    assert case["handling_node"] == "440300" and case["department"] == "discipline"
    tree.settle()
    # the discipline unit of the prefecture handles it and sees it whole
    up = api.get("440300", cid, role="discipline")
    assert up["held_as"] == "handler" and up["summary"] == "执法人员收受商户财物"
    assert up["complainant"]["phone"] == "13500000000"
    # the accused unit keeps a stub: not what it says, nor who reported it
    stub = api.get("440305", cid, role="discipline")
    # (shown masked: discipline at the accused unit is not the report's handler, issue 13 item 3)
    assert "执法人员收受" not in json.dumps(stub, ensure_ascii=False)
    assert stub["complainant"] == {"anonymous": True, "masked": True}
    # every other role, on every node that holds it: as if it did not exist
    for code in ("440305", "440300", "440000"):
        for role in ("handler", "admin", "supervisor", "leader"):
            r = api.call(code, "GET", f"/api/v1/cases/{cid}", role)
            assert r.status_code == 404, (code, role)
            assert cid not in api.ids(code, role=role)
    # and it cannot be sent back to the unit accused
    err = api.act("440300", cid, role="discipline", expect=409, action="route", to="440305")["error"]
    assert err["code"] == "accused_unit"
    api.act("440300", cid, role="discipline", action="verify")
    tree.settle()
    assert api.get("440305", cid, role="discipline")["status"] == "verifying"


# -- bad input: retired region codes --------------------------------------------------------------
def test_a_case_whose_region_code_is_retired(tree, api):
    body = complaint("110103")
    r = api.call("440000", "POST", "/api/v1/cases", "intake", body)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "retired_division"
    # a case stored before the code was retired routes by the successor (110103 -> 110101)
    cid = api.create("440000", complaint("440000", name="广东某公司"))["id"]
    node = tree.nodes["440000"]
    with node.activate():
        Case.update(respondent_region="110103",
                    respondent=json.dumps({"name": "某公司", "region_code": "110103"})).where(Case.case_id == cid).execute()
    done = api.act("440000", cid, action="route", to="auto")
    assert done["handling_node"] == "110101" and "已于 2010 年撤销" in done["custody"][-1]["reason"]
    tree.settle()
    at_hq = api.get("000000", cid)
    assert at_hq["held_as"] == "handler" and "110101" in at_hq["attention"]


# -- copies: duplicates and reorders are harmless -------------------------------------------------
def test_a_copy_applies_only_a_higher_version(tree, api):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    county, province = tree.nodes["440305"], tree.nodes["440000"]
    with county.activate():
        old = (documents.row_to_wire(Case.row(cid)), documents.history_wire(cid))
    api.act("440305", cid, action="accept")
    tree.settle()
    with province.activate():
        assert arrivals.store_copy(province, *old) == "stale"
        assert Case.row(cid)["status"] == "accepted"
    # the handler never takes a copy over its own row, even a newer-looking one
    with county.activate():
        forged = dict(old[0], version=99, status="closed")
        assert arrivals.store_copy(county, forged, old[1]) == "handler"
        assert Case.row(cid)["status"] == "accepted"


def test_routing_under_duplicates_drops_and_reordering_converges(tree, api):
    for code in tree.nodes:
        tree.faults[code] = Faults(duplicate=0.3, drop_response=0.2, drop_request=0.1, hold=0.2)
    made = []
    for i in range(6):
        made.append(api.create("440000", complaint(summary=f"乱序 {i}"))["id"])
        made.append(api.create("440305", complaint("330106", name="杭州西湖某店", summary=f"跨省 {i}"))["id"])
    for _ in range(6):
        tree.settle(rounds=3, must_converge=False)   # under faults; converges below
        tree.release_held()
    for cid in made:
        handler = "440305" if cid.startswith("440000") else "330106"
        api.act(handler, cid, action="accept")
    for _ in range(6):
        tree.settle(rounds=3, must_converge=False)   # under faults; converges below
        tree.release_held()
    tree.faults.clear()
    tree.release_held()
    tree.settle()
    for cid in made:
        assert assert_one_handler_and_converged(tree, cid) in ("440305", "330106")
        assert api.get(cid[:6], cid)["status"] == "accepted"
    no_quarantine(tree)


# -- CLI: n12315 case show (custody trail), case list --overdue at the prefecture ---------------------
def test_cli_case_show_prints_the_custody_trail_and_the_prefecture_lists_overdue_copies(tree, api):
    from click.testing import CliRunner

    from admin_cli.cli import cli
    cid = api.create("440000", complaint(name="某小卖部", address="南山区粤海街道"))["id"]
    tree.settle()
    tree.clock.t = tree.clock.t + timedelta(days=16)
    station = tree.nodes["440305001"]
    with station.activate():
        supervision.remind(station)
    tree.settle()
    runner = CliRunner()
    home = str(tree.nodes["440300"].config.home_path)
    r = runner.invoke(cli, ["--home", home, "case", "show", cid])
    assert r.exit_code == 0, r.output
    assert "流转轨迹 custody trail" in r.output and "只读副本 read copy" in r.output
    for line in ("440000 → 440305", "440305 → 440305001", "经 via 440300", "粤海"):
        assert line in r.output, (line, r.output)
    r = runner.invoke(cli, ["--home", home, "case", "list", "--overdue"])
    assert r.exit_code == 0 and cid in r.output and "副本←440305001" in r.output and "超期" in r.output
    r = runner.invoke(cli, ["--home", home, "case", "list", "--overdue", "--held-as", "handler", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["items"] == []
