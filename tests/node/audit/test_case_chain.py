"""Case history hash-chained (issue 13 item 4; CONTRACT §11; docs/audit.md "Case history").

Every event of a case links to the one before it; tampering done with SQL straight on the
database — an event's note edited, an event deleted, one slipped in — is named by
``n12315 audit verify`` (case id and event id, exit 1). A copy holder that receives a history
contradicting the one it holds keeps both, flags the case and writes ``case.history-diverged``;
a normal update (events appended) raises nothing. SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from admin_cli.cli import cli
from node import migrations
from node.audit import list_entries
from node.cases import verify_history
from node.cases.chain import event_hash, genesis
from node.cases.models import Case, CaseEvent
from tests.conftest import drop_pg_schema, new_pg_url
from tests.network.conftest import build
from tests.network.harness import Network
from tests.node.cases.examples import complaint
from tests.node.desk.conftest import Desk

CASES = "/api/v1/cases"


@pytest.fixture
def worked(app_client):
    """Two cases at the county: one registered and accepted (three events), one registered."""
    a = app_client.post(CASES, complaint()).get_json()["id"]
    r = app_client.post(f"{CASES}/{a}/actions", {"action": "accept", "mode": "mediation"}, role="handler")
    assert r.status_code == 200, r.get_json()
    r = app_client.post(f"{CASES}/{a}/actions", {"action": "comment", "note": "已电话联系双方"}, role="handler")
    assert r.status_code == 200, r.get_json()
    b = app_client.post(CASES, complaint()).get_json()["id"]
    return app_client, a, b


def events(node, case_id: str) -> list[CaseEvent]:
    with node.activate():
        return list(CaseEvent.select().where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))


def sql(node, statement: str, *params) -> None:
    """Tampering as someone with the database file or a database login would do it."""
    with node.activate(), node.db.atomic():
        node.db.execute_sql(statement.replace("?", node.db.param), params)


def run_verify(node) -> tuple[int, dict, str]:
    """``n12315 audit verify --json`` in this process (the worktree's code)."""
    result = CliRunner().invoke(cli, ["--home", str(node.config.home), "audit", "verify", "--json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_each_event_links_to_the_one_before_from_the_cases_genesis(worked):
    client, a, b = worked
    rows = events(client.node, a)
    assert [e.action for e in rows][:1] == ["register"] and len(rows) >= 3
    assert rows[0].prev_hash == genesis(a)
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash
    assert events(client.node, b)[0].prev_hash == genesis(b)
    report = verify_history(client.node.db)
    assert report.ok and report.cases == 2 and report.events == len(rows) + len(events(client.node, b))
    code, out, _ = run_verify(client.node)
    assert code == 0 and out["ok"] and out["case_histories"]["first_bad"] == []


def test_an_edited_note_is_named_with_its_case_and_event(worked):
    client, a, _ = worked
    target = events(client.node, a)[-1]
    sql(client.node, "UPDATE case_event SET note = ? WHERE id = ?", "从未联系", target.id)
    code, out, err = run_verify(client.node)
    assert code == 1 and out["ok"] is False and out["audit_ok"] is True
    bad = out["case_histories"]["first_bad"]
    assert [(f["case_id"], f["event_id"], f["problem"]) for f in bad] == [(a, target.id, "changed")]
    assert a in err and f"#{target.id}" in err and "changed" in err


def test_a_deleted_event_is_named_as_removed_at_the_event_after_the_gap(worked):
    client, a, _ = worked
    rows = events(client.node, a)
    sql(client.node, "DELETE FROM case_event WHERE id = ?", rows[1].id)
    bad = verify_history(client.node.db).findings
    assert [(f.case_id, f.event_id, f.problem) for f in bad] == [(a, rows[2].id, "removed")]
    sql(client.node, "DELETE FROM case_event WHERE id = ?", rows[0].id)   # the first one too
    assert verify_history(client.node.db).findings[0].problem == "removed"


def test_an_event_slipped_in_is_named_as_inserted(worked):
    client, a, _ = worked
    rows = events(client.node, a)
    forged = {"case_id": a, "at": rows[0].at, "node": "440305", "actor": "handler1", "action": "notify",
              "from_status": rows[0].to_status, "to_status": rows[0].to_status, "note": "补记", "data": "{}"}
    digest = event_hash(forged, rows[0].hash)     # a forger who knows the scheme links it properly
    sql(client.node, "UPDATE case_event SET id = id + 1000 WHERE case_id = ? AND id > ?", a, rows[0].id)
    sql(client.node, "INSERT INTO case_event (id, case_id, at, node, actor, action, from_status, to_status, note, "
                     "data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows[0].id + 500, a, rows[0].at, "440305", "handler1", "notify", rows[0].to_status, rows[0].to_status,
        "补记", "{}", rows[0].hash, digest)
    bad = verify_history(client.node.db).findings
    assert [(f.case_id, f.event_id, f.problem) for f in bad] == [(a, rows[0].id + 500, "inserted")]


def test_migration_15_chains_the_events_written_before_it(worked):
    client, a, b = worked
    before = {e.id: e.hash for e in events(client.node, a) + events(client.node, b)}
    sql(client.node, "UPDATE case_event SET prev_hash = NULL, hash = NULL")
    sql(client.node, "DELETE FROM schema_version WHERE version = 15")
    assert not verify_history(client.node.db).ok
    with client.node.activate():
        assert migrations.migrate(client.node.db) >= 15
    assert {e.id: e.hash for e in events(client.node, a) + events(client.node, b)} == before
    assert verify_history(client.node.db).ok
    # and the chain goes on from there
    r = client.post(f"{CASES}/{a}/actions", {"action": "comment", "note": "再次联系"}, role="handler")
    assert r.status_code == 200 and verify_history(client.node.db).ok


def test_imported_cases_are_chained_and_checked_like_any_other(worked, tmp_path):
    """Bulk import writes events past ``commit_change`` (issue 15 item 3): chained all the same."""
    import node.imports as imports
    from tests.node.imports.test_import import legacy_row, write_csv
    client, _, _ = worked
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("SZ-1"), legacy_row("SZ-2", status="", outcome="",
                                                                              concluded_at="")])
    with client.node.activate():
        assert imports.import_file(client.node, file).imported == 2
        ids = [r.case_id for r in imports.ImportRecord.select()]
    for cid in ids:
        assert events(client.node, cid)[0].prev_hash == genesis(cid)
    report = verify_history(client.node.db)
    assert report.ok and report.cases == 4
    sql(client.node, "UPDATE case_event SET actor = ? WHERE id = ?", "someone", events(client.node, ids[1])[0].id)
    assert [(f.case_id, f.problem) for f in verify_history(client.node.db).findings] == [(ids[1], "changed")]


# -- a copy holder ----------------------------------------------------------------------------------
@pytest.fixture
def line(tmp_path, db_backend):
    """A prefecture and its county: the county's cases are mirrored up to the prefecture."""
    urls = {code: new_pg_url() if db_backend == "postgresql" else None for code in ("440300", "440305")}
    net = Network(tmp_path, seed=7, db_url_for=urls.get)
    build(net, [("prefecture", "440300"), ("county", "440305")], {"440305": "440300"})
    yield net
    net.close()
    for url in urls.values():
        if url:
            drop_pg_schema(url)


def _call(net, code, method, path, role="handler", body=None):
    from node.accounts import service as users
    node = net.nodes[code]
    key = (code, role)
    tokens = net.__dict__.setdefault("_tokens", {})
    if key not in tokens:
        with node.activate():
            tokens[key] = users.add_user(f"{role}1", role, node.now())
    return net.clients[code].open(path, method=method, headers={"Authorization": f"Bearer {tokens[key]}"},
                                  json=body)


def _copy_state(net, case_id):
    node = net.nodes["440300"]
    with node.activate():
        row = Case.row(case_id)
        current = list(CaseEvent.for_case(case_id))
        old = list(CaseEvent.select().where((CaseEvent.case_id == case_id) & CaseEvent.superseded.is_null(False)))
    return row, current, old


def test_a_copy_keeps_both_histories_when_the_handler_rewrote_one(line):
    r = _call(line, "440305", "POST", CASES, "intake", complaint(channel="visit"))
    assert r.status_code == 201, r.get_json()
    cid = r.get_json()["id"]
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "accept", "mode": "mediation"})
    line.settle()
    row, held, old = _copy_state(line, cid)
    assert row is not None and row["held_as"] == "copy" and len(held) >= 2 and old == []
    # a normal update: events appended after what the copy holds — nothing raised
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "已联系"})
    line.settle()
    row, held, old = _copy_state(line, cid)
    assert row["attention"] is None and old == [] and held[-1].note.endswith("已联系")
    assert list_entries(line.nodes["440300"], action="case.history-diverged") == []
    # someone rewrites the handler's accept event in its database; the next update carries it
    county = line.nodes["440305"]
    accept = next(e for e in events(county, cid) if e.action == "accept")
    sql(county, "UPDATE case_event SET note = ? WHERE id = ?", "改写的记录", accept.id)
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "第二次联系"})
    line.settle()
    row, held, old = _copy_state(line, cid)
    assert "案件历史与办理单位发来的不一致" in row["attention"] and "both are kept" in row["attention"]
    assert [e.action for e in old][0] == "accept" and old[0].note != "改写的记录"      # the copy's own kept
    assert "改写的记录" in [e.note for e in held] and held[-1].note.endswith("第二次联系")   # the handler's stored
    entry = list_entries(line.nodes["440300"], action="case.history-diverged")
    assert len(entry) == 1 and entry[0]["target"] == cid and entry[0]["detail"]["how"] == "changed"
    # both are visible at the copy: the API names the kept events apart from the current history
    shown = _call(line, "440300", "GET", f"{CASES}/{cid}", "supervisor").get_json()
    assert [e["action"] for e in shown["superseded_history"]][0] == "accept"
    assert "diverged from 440305" in shown["superseded_history"][0]["superseded"]
    assert "改写的记录" in [e["note"] for e in shown["history"]]
    assert "改写的记录" not in [e["note"] for e in shown["superseded_history"]]
    # … and the desk's case page shows them in their own table
    desk = Desk(line.nodes["440300"], line.clock)
    desk.user("sup2", "supervisor")
    desk.sign_in("sup2")
    page = desk.text(desk.get(f"/desk/cases/{cid}"))
    kept = page.split('id="superseded-history"', 1)[1].split("</table>", 1)[0]
    assert "diverged from 440305" in kept and "改写的记录" not in kept
    # the handler itself holds no superseded events: the key is absent there
    assert "superseded_history" not in _call(line, "440305", "GET", f"{CASES}/{cid}").get_json()
    # the copy's current chain still verifies; the handler's own verify names the rewrite
    assert verify_history(line.nodes["440300"].db).ok
    bad = verify_history(county.db).findings
    assert [(f.case_id, f.event_id, f.problem) for f in bad] == [(cid, accept.id, "changed")]
    # the alarm is not cleared by the handler's next ordinary update
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "第三次联系"})
    line.settle()
    row, held, _ = _copy_state(line, cid)
    assert "案件历史与办理单位发来的不一致" in row["attention"] and held[-1].note.endswith("第三次联系")
    assert len(list_entries(line.nodes["440300"], action="case.history-diverged")) == 1


def test_a_copy_names_an_event_the_handler_removed(line):
    r = _call(line, "440305", "POST", CASES, "intake", complaint(channel="visit"))
    cid = r.get_json()["id"]
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "accept", "mode": "mediation"})
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "已联系"})
    line.settle()
    _, held_before, _ = _copy_state(line, cid)
    county = line.nodes["440305"]
    accept = next(e for e in events(county, cid) if e.action == "accept")
    sql(county, "DELETE FROM case_event WHERE id = ?", accept.id)
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "第二次联系"})
    line.settle()
    row, held, old = _copy_state(line, cid)
    assert "both are kept" in row["attention"] and "accept" in [e.action for e in old]
    assert "accept" not in [e.action for e in held] and len(held) == len(held_before)   # one gone, one new
    entry = list_entries(line.nodes["440300"], action="case.history-diverged")
    assert [(e["target"], e["detail"]["how"], e["detail"]["action"]) for e in entry] == [(cid, "removed", "accept")]
