"""The supervision page of the desk (督办; issue 11 item 6; docs/routing.md §8), at one node,
through the pages as a browser uses them (tests/node/desk/conftest.py).

A prefecture (440300) handles two cases itself and holds read copies of its counties' cases,
made with the same ``store_copy`` the case documents use on arrival; an injected clock makes
them overdue or due soon. SQLite and PostgreSQL (``make_node``).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest

import node.cases as svc
from node.cases import Actor, Case, CaseEvent
from node.db import write_tx
from node.routing import supervision
from node.routing.arrivals import store_copy
from node.routing.documents import history_wire, row_to_wire
from tests.node.cases.examples import complaint
from tests.node.desk.conftest import Desk

INTAKE, HANDLER = Actor("i1", "intake"), Actor("h1", "handler")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


def _create(node, region: str, summary: str, received: str = "2026-09-29T10:00:00+08:00") -> str:
    body = complaint(summary=summary, received_at=received,
                     respondent={"name": "深圳市某某电器有限公司", "region_code": region, "address": "深圳市"})
    with node.activate():
        return svc.create_case(node, body, INTAKE)["id"]


def _copy(source, target, case_id: str) -> None:
    """What a ``case.update`` from the handling unit does at the prefecture."""
    with source.activate():
        wire, events = row_to_wire(Case.row(case_id)), history_wire(case_id)
    with target.activate(), write_tx(target.db):
        store_copy(target, wire, events)


@pytest.fixture
def board(tmp_path, make_node, clock):
    """The prefecture and its counties at 2026-10-15 08:00: accept_by 2026-10-14 has passed for
    everything received on 2026-09-29 (reminded as due soon on 10-12, flagged overdue on 10-15);
    the case received on 2026-10-09 is due on 10-19. The desk and the case ids by unit."""
    pref = make_node(tmp_path, "prefecture", "440300", name="深圳市市场监督管理局")
    nanshan = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    baoan = make_node(tmp_path, "county", "440306", name="深圳市宝安区市场监督管理局")
    xihu = make_node(tmp_path, "county", "330106", name="杭州市西湖区市场监督管理局")
    ids = {
        "pref": [_create(pref, "440300", f"市局自办案件{i} <script>alert(1)</script>") for i in range(3)],
        "nanshan": [_create(nanshan, "440305", f"南山案件{i}") for i in range(3)],
        "baoan": [_create(baoan, "440306", "宝安案件")],
        "xihu": [_create(xihu, "330106", "西湖案件")],
    }
    clock.set(at("2026-10-09T11:00:00+08:00"))          # accept_by 2026-10-19: two working days after 10-15
    ids["soon"] = [_create(baoan, "440306", "宝安将到期案件", received="2026-10-09T10:00:00+08:00")]
    for now in ("2026-10-12T09:00:00+08:00", "2026-10-15T08:00:00+08:00"):   # due soon, then overdue
        clock.set(at(now))
        for n in (pref, nanshan, baoan, xihu):
            with n.activate():
                supervision.remind(n)
    for source, key in ((nanshan, "nanshan"), (baoan, "baoan"), (baoan, "soon"), (xihu, "xihu")):
        for cid in ids[key]:
            _copy(source, pref, cid)
    desk = Desk(pref, clock)
    return {"desk": desk, "ids": ids, "nodes": {"440300": pref, "440305": nanshan, "440306": baoan}}


def _sign_in(desk: Desk, role: str) -> None:
    desk.user(f"{role}1", role)
    assert desk.sign_in(f"{role}1").status_code == 302


def _groups(html: str) -> dict[str, dict]:
    """unit code -> {"overdue", "due_soon", "cases"} as the page shows them."""
    out = {}
    for m in re.finditer(r'<section class="card sv-group" id="unit-(\d+)"(.*?)</section>', html, re.S):
        body = m.group(2)
        out[m.group(1)] = {
            "overdue": int(re.search(r'data-unit-count="overdue">(\d+)<', body).group(1)),
            "due_soon": int(re.search(r'data-unit-count="due-soon">(\d+)<', body).group(1)),
            "cases": re.findall(r'<tr class="sv-row sv-(\w+)" data-case="([^"]+)"', body)}
    return out


def _urges(node, case_id: str) -> list[dict]:
    with node.activate():
        return [e for e in CaseEvent.for_case(case_id).dicts() if e["action"] == "urge"]


def _proposals(node) -> int:
    from node.routing.models import CaseProposal
    with node.activate():
        return CaseProposal.select().count()


@pytest.mark.parametrize("role", ["intake", "analyst"])
def test_intake_and_analyst_may_not_open_supervision_or_urge(board, role):
    desk = board["desk"]
    _sign_in(desk, role)
    resp = desk.get("/desk/supervision")
    assert resp.status_code == 403
    home = desk.text(desk.get("/desk/"))
    assert 'href="/desk/supervision"' not in home
    cid = board["ids"]["pref"][0]
    refused = desk.post("/desk/supervision/urge", {"case": cid, "confirmed": "1"})
    assert refused.status_code == 403
    assert _urges(desk.node, cid) == []


def test_groups_and_counts_by_handling_unit_agree_with_the_lists(board):
    desk, ids = board["desk"], board["ids"]
    _sign_in(desk, "supervisor")
    html = desk.text(desk.get("/desk/supervision"))
    groups = _groups(html)
    assert list(groups) == ["440300", "440305", "440306"]          # this node first, then by overdue
    assert [c for _s, c in groups["440305"]["cases"]] and groups["440305"]["overdue"] == 3
    assert {c for _s, c in groups["440300"]["cases"]} == set(ids["pref"])
    assert {c for _s, c in groups["440305"]["cases"]} == set(ids["nanshan"])
    assert {c for _s, c in groups["440306"]["cases"]} == set(ids["baoan"] + ids["soon"])
    assert (groups["440306"]["overdue"], groups["440306"]["due_soon"]) == (1, 1)
    for g in groups.values():                                       # counts agree with the list
        assert g["overdue"] + g["due_soon"] == len(g["cases"])
        assert g["overdue"] == sum(1 for s, _c in g["cases"] if s in ("overdue", "escalated"))
    assert ids["xihu"][0] not in html                               # a copy from outside the subtree
    assert re.search(r'id="count-overdue">7<', html) and re.search(r'id="count-due-soon">1<', html)
    # the unit names come from the division table, with the code
    assert "广东省深圳市南山区市场监督管理局" in html and "深圳市市场监督管理局" in html
    # the user's text is shown as text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # every case links to its page; the stage and the working days late are shown
    assert f'href="/desk/cases/{ids["nanshan"][0]}"' in html
    assert "已超期" in html and "2026-10-14" in html


def test_filters_stage_unit_and_working_days(board):
    desk, ids = board["desk"], board["ids"]
    _sign_in(desk, "leader")
    overdue = _groups(desk.text(desk.get("/desk/supervision?stage=overdue")))
    assert ids["soon"][0] not in {c for g in overdue.values() for _s, c in g["cases"]}
    soon = _groups(desk.text(desk.get("/desk/supervision?stage=due_soon")))
    assert list(soon) == ["440306"] and [c for _s, c in soon["440306"]["cases"]] == ids["soon"]
    one = _groups(desk.text(desk.get("/desk/supervision?handling_node=440305")))
    assert list(one) == ["440305"]
    # within 0 working days: only what is due today or late
    today = _groups(desk.text(desk.get("/desk/supervision?due_within_days=0")))
    assert ids["soon"][0] not in {c for g in today.values() for _s, c in g["cases"]}
    # a bad value is shown beside its field, the board with the default
    bad = desk.text(desk.get("/desk/supervision?due_within_days=abc"))
    assert 'id="e-due_within_days"' in bad and "due_within_days 须为" in bad
    outside = desk.text(desk.get("/desk/supervision?handling_node=330106&stage=overdue"))
    assert 'id="e-handling_node"' in outside and "不是本节点辖区内的单位" in outside
    assert ids["soon"][0] not in outside.split('id="reminders"')[0]   # the stage filter still applies


def test_urge_one_case_asks_first_then_records_an_urge_event(board):
    desk, ids = board["desk"], board["ids"]
    pref = desk.node
    cid = ids["pref"][0]
    _sign_in(desk, "supervisor")
    desk.get("/desk/supervision")
    ask = desk.post("/desk/supervision/urge", {"one": cid, "case": ids["pref"][1], "note": "请三日内办结"})
    assert ask.status_code == 200
    page = desk.text(ask)
    assert 'id="confirm-action"' in page and "本节点承办" in page
    assert f'name="case" value="{cid}"' in page and ids["pref"][1] not in page   # the one button: that case only
    assert _urges(pref, cid) == []                                   # nothing done yet
    done = desk.post("/desk/supervision/urge", {"case": cid, "note": "请三日内办结", "confirmed": "1"})
    assert done.status_code == 302 and done.headers["Location"] == "/desk/supervision"
    urges = _urges(pref, cid)
    assert len(urges) == 1 and "请三日内办结" in urges[0]["note"] and urges[0]["actor"] == "supervisor1"
    summary = desk.text(desk.get("/desk/supervision"))
    assert "已督办 1 件" in summary


def test_bulk_urge_of_three_cases_records_three_urges_and_says_so(board):
    desk, ids = board["desk"], board["ids"]
    three = ids["pref"]
    _sign_in(desk, "supervisor")
    desk.get("/desk/supervision")
    ask = desk.text(desk.post("/desk/supervision/urge", {"case": three, "note": "集中督办"}))
    assert 'id="confirm-action"' in ask and "督办 3 件" in ask
    assert all(f'name="case" value="{c}"' in ask for c in three)
    assert all(_urges(desk.node, c) == [] for c in three)
    done = desk.post("/desk/supervision/urge", {"case": three, "note": "集中督办", "confirmed": "1",
                                                "stage": "overdue"})
    assert done.status_code == 302 and done.headers["Location"] == "/desk/supervision?stage=overdue"
    for c in three:
        urges = _urges(desk.node, c)
        assert len(urges) == 1 and "集中督办" in urges[0]["note"]
    assert "已督办 3 件" in desk.text(desk.get("/desk/supervision?stage=overdue"))


def test_an_urge_that_cannot_reach_the_handling_unit_is_reported_and_the_others_done(board):
    desk, ids = board["desk"], board["ids"]
    _sign_in(desk, "supervisor")
    desk.get("/desk/supervision")
    ask = desk.text(desk.post("/desk/supervision/urge", {"case": [ids["pref"][0], ids["nanshan"][0]]}))
    assert "送达 广东省深圳市南山区市场监督管理局（440305）" in ask          # the copy's urge goes to its handler
    desk.post("/desk/supervision/urge", {"case": [ids["pref"][0], ids["nanshan"][0]], "confirmed": "1"})
    page = desk.text(desk.get("/desk/supervision"))
    # this prefecture has no link to the county here: refused by the same path as the API
    assert "已督办 1 件" in page and ids["nanshan"][0] in page and "没有通往承办单位 440305 的链路" in page
    assert len(_urges(desk.node, ids["pref"][0])) == 1 and _proposals(desk.node) == 0


def test_without_confirmation_or_with_a_wrong_token_nothing_changes(board):
    desk, ids = board["desk"], board["ids"]
    cid = ids["pref"][0]
    _sign_in(desk, "admin")
    desk.get("/desk/supervision")
    with desk.node.activate():
        before = Case.row(cid)["version"]
    assert desk.post("/desk/supervision/urge", {"case": cid}).status_code == 200     # the confirmation page only
    refused = desk.post("/desk/supervision/urge", {"case": cid, "confirmed": "1"}, csrf=False)
    assert refused.status_code == 400
    forged = desk.post("/desk/supervision/urge", {"case": cid, "confirmed": "1", "csrf_token": "forged"},
                       csrf=False)
    assert forged.status_code == 400
    take = desk.post("/desk/supervision/take-over", {"case": ids["nanshan"][0], "confirmed": "1"}, csrf=False)
    assert take.status_code == 400
    with desk.node.activate():
        assert Case.row(cid)["version"] == before
    assert _urges(desk.node, cid) == [] and _proposals(desk.node) == 0


def test_take_over_is_offered_for_copies_to_leaders_only_and_confirmed_first(board):
    desk, ids = board["desk"], board["ids"]
    cid = ids["nanshan"][0]
    _sign_in(desk, "leader")
    html = desk.text(desk.get("/desk/supervision"))
    assert f'id="take-over-{cid}"' in html
    assert f'id="take-over-{ids["pref"][0]}"' not in html            # handled here: nothing to take over
    ask = desk.text(desk.post("/desk/supervision/take-over", {"one": cid}))
    assert 'id="confirm-action"' in ask and "移交本节点" in ask and "440300" in ask and "440305" in ask
    with desk.node.activate():
        before = Case.row(cid)["version"]
    # at the handler itself there is nothing to take over: said before anything is done
    here = desk.text(desk.post("/desk/supervision/take-over", {"one": ids["pref"][0]}))
    assert "本节点即为承办单位" in here and 'id="confirm-action"' not in here
    # a handler may urge but not take over
    handler = Desk(desk.node, desk.clock)
    handler.user("handler1", "handler")
    handler.sign_in("handler1")
    page = handler.text(handler.get("/desk/supervision"))
    assert 'id="urge-selected"' in page and "take-over-" not in page
    assert handler.post("/desk/supervision/take-over", {"case": cid, "confirmed": "1"}).status_code == 403
    with desk.node.activate():
        assert Case.row(cid)["version"] == before
    assert _proposals(desk.node) == 0


def test_the_reminders_of_the_subtree_newest_first_with_whom_they_reached(board):
    desk, ids = board["desk"], board["ids"]
    _sign_in(desk, "supervisor")
    html = desk.text(desk.get("/desk/supervision"))
    section = html.split('id="reminders"', 1)[1]
    rows = re.findall(r'<tr class="sv-reminder">(.*?)</tr>', section, re.S)
    shown = [re.search(r'href="/desk/cases/([^"]+)"', r).group(1) for r in rows]
    # the soon-due case of Bao'an (reminded when it became due soon) and nothing from Xihu
    assert ids["soon"][0] in shown and ids["xihu"][0] not in shown
    soon_row = rows[shown.index(ids["soon"][0])]
    assert "即将到期" in soon_row and "440300" in soon_row and "000000" in soon_row
    times = [unescape(re.search(r'datetime="([^"]+)"', r).group(1)) for r in rows]
    assert times == sorted(times, reverse=True)


def test_a_unit_with_more_cases_than_the_board_lists_pages_on_earliest_due_first(board, monkeypatch):
    from node.routing import supervision_view
    monkeypatch.setattr(supervision_view, "PER_UNIT", 2)
    monkeypatch.setattr(supervision_view, "UNIT_PAGE", 2)
    desk, ids = board["desk"], board["ids"]
    _sign_in(desk, "supervisor")
    html = desk.text(desk.get("/desk/supervision"))
    assert len(_groups(html)["440300"]["cases"]) == 2 and "该单位全部 3 件" in html
    first = desk.text(desk.get("/desk/supervision?handling_node=440300"))
    listed = [c for _s, c in _groups(first)["440300"]["cases"]]
    more = unescape(re.search(r'href="(/desk/supervision\?[^"]*cursor=[^"]+)" rel="next"', first).group(1))
    second = desk.text(desk.get(more))
    listed += [c for _s, c in _groups(second)["440300"]["cases"]]
    assert sorted(listed) == sorted(ids["pref"]) and 'rel="next"' not in second
    # earliest due first: the Bao'an unit lists its overdue case before the one due on 10-19
    baoan = _groups(desk.text(desk.get("/desk/supervision?handling_node=440306")))["440306"]["cases"]
    assert [c for _s, c in baoan] == ids["baoan"] + ids["soon"]
