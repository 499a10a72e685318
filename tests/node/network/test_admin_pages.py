"""The administration pages (issue 11 item 9): admin only, node status and sign-ins, links and
their health (two real nodes in the in-process harness), quarantine retry and skip — through
the pages, as a browser does it, with the same functions the CLI uses."""
from __future__ import annotations

import re

import pytest

from tests.network import notes
from tests.node.desk.conftest import Desk
from tests.node.network.conftest import COUNTY, STATION, admin_at

OTHER_ROLES = ("intake", "handler", "supervisor", "leader", "discipline", "analyst")
ADMIN_PAGES = ("/desk/admin", "/desk/admin/links", "/desk/admin/quarantine", "/desk/admin/quarantine/1",
               "/desk/admin/users", "/desk/admin/users/new", "/desk/admin/user/target1")
ADMIN_POSTS = (("/desk/admin/users/new", {"login": "sneaky", "role": "admin", "password": "p" * 12,
                                          "password_again": "p" * 12}),
               ("/desk/admin/user/target1/role", {"role": "admin"}),
               ("/desk/admin/user/target1/password", {"password": "p" * 12, "password_again": "p" * 12}),
               ("/desk/admin/user/target1/disable", {}),
               ("/desk/admin/user/target1/enable", {}),
               ("/desk/admin/user/target1/token", {}),
               ("/desk/admin/quarantine/1/retry", {}),
               ("/desk/admin/quarantine/1/skip", {"reason": "because"}))


def _accounts(desk) -> list[tuple]:
    from node.accounts import User
    with desk.node.activate():
        return [(u.login, u.role, u.disabled, u.token_hash, u.password_hash, u.session_epoch)
                for u in User.select().order_by(User.login)]


def _held(node):
    from replication.models import Quarantine
    with node.activate():
        return {q.id: q.state for q in Quarantine.select()}


def _audit(node, action):
    from replication.models import ReplicationAudit
    with node.activate():
        return [(a.actor, a.detail) for a in ReplicationAudit.select().where(ReplicationAudit.action == action)]


# -- who may come in -------------------------------------------------------------------------
@pytest.mark.parametrize("role", OTHER_ROLES)
def test_every_admin_page_is_forbidden_to_other_roles_and_their_posts_change_nothing(desk, role):
    desk.user("target1", "handler")
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    home = desk.get("/desk/")
    assert ">系统管理<" not in desk.text(home)
    before = _accounts(desk)
    for path in ADMIN_PAGES:
        resp = desk.get(path)
        assert resp.status_code == 403, path
        assert "无权" in desk.text(resp)
    for path, data in ADMIN_POSTS:
        for confirmed in ({}, {"confirmed": "1"}):
            resp = desk.post(path, {**data, **confirmed})
            assert resp.status_code == 403, path
            assert 'id="confirm-action"' not in desk.text(resp) and 'id="new-token"' not in desk.text(resp)
    assert _accounts(desk) == before


def test_without_a_session_the_admin_pages_lead_to_the_sign_in_form(desk):
    for path in ADMIN_PAGES:
        resp = desk.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/desk/login"), path


# -- overview --------------------------------------------------------------------------------
def test_the_overview_shows_the_node_status_and_the_sign_ins_with_lockouts(admin):
    from node.network import collect_status
    other = Desk(admin.node, admin.clock)
    admin.user("handler1", "handler")
    for _ in range(6):
        other.sign_in("handler1", "wrong password")          # five lock it, the sixth is refused as locked
    page = admin.text(admin.get("/desk/admin"))
    status = collect_status(admin.node)["node"]
    assert re.search(r'id="node-code">440305<', page)
    assert f'id="node-schema">{status["schema_version"]}<' in page
    assert status["key_id"] in page and status["url"] in page and "深圳市南山区市场监督管理局" in page
    assert "县级" in page
    assert 'id="links-total">0<' in page and 'id="quarantine-count">0<' in page
    sign_ins = re.search(r'<table id="sign-ins">.*?</table>', page, re.S).group(0)
    assert sign_ins.count("outcome-bad_password") == 5 and sign_ins.count("outcome-locked") == 1
    assert "outcome-ok" in sign_ins                           # admin1's own sign-in
    locked = re.search(r'<ul id="locked-logins">.*?</ul>', page, re.S).group(0)
    assert "handler1" in locked


def test_the_admin_pages_in_english(admin):
    page = admin.text(admin.get("/desk/admin?lang=en"))
    assert '<html lang="en">' in page and "Node status" in page and "Recent sign-in attempts" in page
    assert "Links and their health" in admin.text(admin.get("/desk/admin/links"))
    assert "Nothing is held." in admin.text(admin.get("/desk/admin/quarantine"))


# -- links -----------------------------------------------------------------------------------
def _link_row(page: str, code: str) -> str:
    return re.search(rf'<tr id="link-{code}".*?</tr>', page, re.S).group(0)


def test_the_links_page_shows_each_links_backlog_and_health(pair):
    county = pair.nodes[COUNTY]
    for i in range(3):
        notes.send(county, STATION, i)
    admin = admin_at(pair, COUNTY)
    pair.clock.advance(90)
    page = admin.text(admin.get("/desk/admin/links"))
    row = _link_row(page, STATION)
    assert re.search(rf'id="backlog-{STATION}">3<', row)
    assert "下级" in row and "市场监管所" in row and "推送" in row and "启用" in row
    assert re.search(rf'id="oldest-{STATION}">[^<]*(分钟|秒)', row)   # waiting 90 s
    assert f'id="silent-{STATION}"' not in row
    assert 'id="links-backlog">3<' in admin.text(admin.get("/desk/admin"))
    # the station's side: its parent, and the three documents gone once synced
    pair.settle()
    page = admin.text(admin.get("/desk/admin/links"))
    assert re.search(rf'id="backlog-{STATION}">0<', _link_row(page, STATION))
    assert "从未" not in _link_row(page, STATION).split(f'id="oldest-{STATION}"')[1].split("</td>")[1]  # a push succeeded
    station = admin_at(pair, STATION)
    parent = _link_row(station.text(station.get("/desk/admin/links")), COUNTY)
    assert "上级" in parent and "县级" in parent


def test_a_silent_link_is_highlighted(pair):
    notes.send(pair.nodes[COUNTY], STATION, 0)
    pair.settle()                                              # one push accepted, then nothing for a day
    admin = admin_at(pair, COUNTY)
    assert f'id="silent-{STATION}"' not in admin.text(admin.get("/desk/admin/links"))
    pair.clock.advance(25 * 3600)
    assert admin.sign_in("admin1").status_code == 302          # afresh: the idle timeout has passed
    page = admin.text(admin.get("/desk/admin/links"))
    row = _link_row(page, STATION)
    assert f'id="silent-{STATION}"' in row and 'class="bad"' in row
    overview = admin.text(admin.get("/desk/admin"))
    assert 'id="links-silent">1<' in overview
    assert "已静默超过 24 小时" in re.search(r'<ul id="node-warnings">.*?</ul>', overview, re.S).group(0)


# -- quarantine ------------------------------------------------------------------------------
def _flaky_kind(net, failing: dict) -> None:
    """``test.flaky`` at the station: refused while ``failing["on"]``, applied after."""
    from federation.models import LocalState
    from node.network.transport import replicator
    from replication.registry import ApplyError
    station = net.nodes[STATION]
    with station.activate():
        rep = replicator(station)

    def apply(delivery):
        if failing["on"]:
            raise ApplyError("缺少参考数据 / reference data missing (test)")
        LocalState.put(f"flaky:{delivery.doc['id']}", "applied")
    rep.registry.register("test.flaky", apply)


def _send_flaky(net) -> str:
    from federation.storage import write_tx
    from node.network.transport import replicator
    from replication import documents, outbox
    county = net.nodes[COUNTY]
    with county.activate():
        rep = replicator(county)
        with write_tx(county.db):
            doc = documents.create("test.flaky", channel="cases", origin=county.code, dest=STATION, body={"n": 0},
                                   keypair=county.keypair, now=county.now())
            outbox.enqueue(rep, STATION, "cases", doc, [county.code], county.now())
    return doc["id"]


def _settle(net, rounds: int = 5) -> None:
    for _ in range(rounds):
        for code in net.nodes:
            net.sync(code, force=False)
        net.clock.advance(61)


def test_a_held_document_is_retried_through_the_page_once_its_cause_is_fixed(pair):
    failing = {"on": True}
    _flaky_kind(pair, failing)
    flaky = _send_flaky(pair)
    after = notes.send(pair.nodes[COUNTY], STATION, 1)
    _settle(pair)
    station = pair.nodes[STATION]
    (qid, state), = _held(station).items()
    assert state == "held"
    admin = admin_at(pair, STATION)
    listed = admin.text(admin.get("/desk/admin/quarantine"))
    row = re.search(rf'<tr id="held-{qid}".*?</tr>', listed, re.S).group(0)
    assert COUNTY in row and "test.flaky" in row and "cases" in row and "缺少参考数据" in row
    assert 'id="quarantine-count">1<' in admin.text(admin.get("/desk/admin"))
    admin.get(f"/desk/admin/quarantine/{qid}")
    # still failing: the confirmation, then the error shown, the document still held
    confirm = admin.post(f"/desk/admin/quarantine/{qid}/retry")
    assert confirm.status_code == 200 and 'id="confirm-action"' in admin.text(confirm)
    assert _audit(station, "retry") == []                      # the confirmation did nothing
    again = admin.post(f"/desk/admin/quarantine/{qid}/retry", {"confirmed": "1"})
    assert again.status_code == 409 and "仍无法应用" in admin.text(again)
    assert _held(station)[qid] == "held"
    # the cause fixed: applied, and the document behind it follows
    failing["on"] = False
    admin.post(f"/desk/admin/quarantine/{qid}/retry")
    done = admin.post(f"/desk/admin/quarantine/{qid}/retry", {"confirmed": "1"})
    assert done.status_code == 302 and "done=retried" in done.headers["Location"]
    assert _held(station)[qid] == "retried"
    assert [actor for actor, _ in _audit(station, "retry")] == ["admin1", "admin1"]
    assert notes.applied(station).get(after) == 1
    from federation.models import LocalState
    with station.activate():
        assert LocalState.get_value(f"flaky:{flaky}") == "applied"
    assert 'id="nothing-held"' in admin.text(admin.get("/desk/admin/quarantine"))


def test_a_held_document_is_skipped_only_with_a_reason_and_the_skip_is_audited(pair):
    county, station = pair.nodes[COUNTY], pair.nodes[STATION]
    poison = notes.send(county, STATION, 0, poison=True)
    after = notes.send(county, STATION, 1)
    _settle(pair)
    (qid, _), = _held(station).items()
    admin = admin_at(pair, STATION)
    admin.get(f"/desk/admin/quarantine/{qid}")
    for reason in ("", "   "):
        resp = admin.post(f"/desk/admin/quarantine/{qid}/skip", {"reason": reason, "confirmed": "1"})
        assert resp.status_code == 422
        assert re.search(r'id="e-reason"[^>]*>[^<]*跳过理由', admin.text(resp))
    assert _held(station)[qid] == "held" and _audit(station, "skip") == []
    reason = "毒文档，已与上级核实 <b>"
    confirm = admin.post(f"/desk/admin/quarantine/{qid}/skip", {"reason": reason})
    page = admin.text(confirm)
    assert 'id="confirm-action"' in page and "&lt;b&gt;" in page and "<b>" not in page.split('id="consequence"')[1]
    assert _held(station)[qid] == "held"
    done = admin.post(f"/desk/admin/quarantine/{qid}/skip", {"reason": reason, "confirmed": "1"})
    assert done.status_code == 302 and "done=skipped" in done.headers["Location"]
    assert _held(station)[qid] == "skipped"
    (actor, detail), = _audit(station, "skip")
    assert actor == "admin1" and reason in detail and "test.note" in detail
    pair.settle()
    assert notes.applied(station).get(after) == 1 and poison not in notes.applied(station)
    handled = admin.text(admin.get("/desk/admin/quarantine?all=1"))
    assert f'id="held-{qid}"' in handled and "已跳过" in handled
    # a second decision on the same document is refused
    admin.get(f"/desk/admin/quarantine/{qid}")
    late = admin.post(f"/desk/admin/quarantine/{qid}/retry", {"confirmed": "1"})
    assert late.status_code == 409 and "已处理" in admin.text(late)


def test_quarantine_actions_need_the_csrf_token(pair):
    notes.send(pair.nodes[COUNTY], STATION, 0, poison=True)
    _settle(pair)
    station = pair.nodes[STATION]
    (qid, _), = _held(station).items()
    admin = admin_at(pair, STATION)
    for action, data in (("retry", {}), ("skip", {"reason": "x"})):
        resp = admin.post(f"/desk/admin/quarantine/{qid}/{action}", {**data, "confirmed": "1"}, csrf=False)
        assert resp.status_code == 400
    assert _held(station)[qid] == "held" and _audit(station, "skip") == [] and _audit(station, "retry") == []


def test_an_unknown_held_document_is_a_404_page(admin):
    assert admin.get("/desk/admin/quarantine/99").status_code == 404
    assert admin.post("/desk/admin/quarantine/99/retry", {"confirmed": "1"}).status_code == 404
