"""The supervision page across the tree (督办; issue 11 item 6; docs/routing.md §8): a county's
overdue case appears on the prefecture's board grouped under the county, and an urge (and a
take-over) asked there through the pages reaches the county's case history once the network
settles. Nodes built through ``init`` and invite/join (tests/network/conftest.py), the desk
driven through each node's own Flask app; SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import timedelta

from node.cases.models import Case, CaseEvent
from node.routing import proposals, supervision
from tests.network.test_case_routing import Api, complaint
from tests.node.desk.conftest import Desk

COUNTY, PREFECTURE = "440305", "440300"


def _desk(net, code: str, login: str, role: str) -> Desk:
    """A browser signed in at one node of the network (that node's app, as the harness built it)."""
    desk = Desk.__new__(Desk)
    desk.node, desk.clock, desk.app = net.nodes[code], net.clock, net.apps[code]
    desk.client, desk._csrf = desk.app.test_client(), ""
    desk.user(login, role)
    assert desk.sign_in(login).status_code == 302
    return desk


def _history(net, code: str, case_id: str) -> list[dict]:
    node = net.nodes[code]
    with node.activate():
        return list(CaseEvent.for_case(case_id).dicts())


def _group_of(html: str, case_id: str) -> str:
    """The unit code of the group a case is listed under."""
    for m in re.finditer(r'<section class="card sv-group" id="unit-(\d+)"(.*?)</section>', html, re.S):
        if f'data-case="{case_id}"' in m.group(2):
            return m.group(1)
    raise AssertionError(f"{case_id} not listed")


def test_a_county_overdue_case_is_on_the_prefecture_board_and_its_urge_reaches_the_county(tree):
    api = Api(tree)
    cid = api.create(COUNTY, complaint(channel="visit", summary="外卖食品中吃出异物"))["id"]
    other = api.create(COUNTY, complaint(channel="visit", summary="另一件逾期投诉"))["id"]
    tree.settle()
    sup = _desk(tree, PREFECTURE, "sup1", "supervisor")
    assert cid not in sup.text(sup.get("/desk/supervision"))                  # not due yet
    # 2026-10-15: accept_by 2026-10-14 has passed; the county's reminder job flags it
    tree.clock.t = tree.clock.t + timedelta(days=16)
    county = tree.nodes[COUNTY]
    with county.activate():
        supervision.remind(county)
    tree.settle()
    assert sup.sign_in("sup1").status_code == 302                          # 16 days idle: signed out
    html = sup.text(sup.get("/desk/supervision"))
    assert _group_of(html, cid) == COUNTY and _group_of(html, other) == COUNTY
    group = re.search(rf'id="unit-{COUNTY}"(.*?)</section>', html, re.S).group(1)
    assert "广东省深圳市南山区市场监督管理局" in group
    assert re.search(r'data-unit-count="overdue">2<', group)
    assert 'id="count-overdue">2<' in html
    with tree.nodes[PREFECTURE].activate():
        assert Case.row(cid)["held_as"] == "copy"
    # the urge: asked, confirmed (naming the county that will receive it), sent as a proposal
    ask = sup.text(sup.post("/desk/supervision/urge", {"one": cid, "note": "请三日内办结"}))
    assert 'id="confirm-action"' in ask and f"（{COUNTY}）" in ask
    assert [e for e in _history(tree, COUNTY, cid) if e["action"] == "urge"] == []
    done = sup.post("/desk/supervision/urge", {"case": cid, "note": "请三日内办结", "confirmed": "1"})
    assert done.status_code == 302
    assert "已督办 1 件" in sup.text(sup.get("/desk/supervision"))
    tree.settle()
    urges = [e for e in _history(tree, COUNTY, cid) if e["action"] == "urge"]
    assert len(urges) == 1 and urges[0]["node"] == COUNTY and urges[0]["actor"] == f"{PREFECTURE}/sup1"
    assert "请三日内办结" in urges[0]["note"]
    assert [e["action"] for e in _history(tree, PREFECTURE, cid)][-1] == "urge"   # and back up
    with tree.nodes[PREFECTURE].activate():
        assert [p["state"] for p in proposals.list_proposals(tree.nodes[PREFECTURE], cid)] == ["applied"]
    # the leader takes the other case over: it moves to the prefecture
    leader = _desk(tree, PREFECTURE, "leader1", "leader")
    assert f'id="take-over-{other}"' in leader.text(leader.get("/desk/supervision"))
    ask = leader.text(leader.post("/desk/supervision/take-over", {"one": other}))
    assert 'id="confirm-action"' in ask and COUNTY in ask
    assert leader.post("/desk/supervision/take-over", {"case": other, "reason": "上级提级",
                                                        "confirmed": "1"}).status_code == 302
    tree.settle()
    with tree.nodes[PREFECTURE].activate():
        row = Case.row(other)
    assert (row["held_as"], row["handling_node"]) == ("handler", PREFECTURE)
    html = leader.text(leader.get("/desk/supervision"))
    assert _group_of(html, other) == PREFECTURE and _group_of(html, cid) == COUNTY
    # the board of a sibling province's prefecture knows nothing of it
    zj = _desk(tree, "330100", "sup2", "supervisor")
    assert cid not in zj.text(zj.get("/desk/supervision"))
