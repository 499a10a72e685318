"""Case history heads sealed with the audit head (issue 13 item 4; docs/audit.md "Sealed heads").

A case's chain alone cannot show an event cut from its very end. Every seal of the audit head
also seals the head of each case changed since the last one (a ``case.heads`` entry over a
snapshot of case id, event count and last hash), so ``n12315 audit verify`` names a cut from
the end, a whole case's history deleted, a snapshot edited and a chain re-hashed after sealing —
for what was appended before the newest seal; what came after is reported as not covered yet.
SQLite and PostgreSQL.
"""
from __future__ import annotations

import threading

from click.testing import CliRunner

from admin_cli.cli import cli
from node import migrations
from node.audit import list_entries, seal_head
from node.cases import Actor, act, verify_history
from node.cases.chain import event_hash
from node.cases.models import CaseHeadMark, CaseHeadSeal
from node.errors import NodeError
from tests.node.audit import test_case_chain as chain_tests
from tests.node.audit.test_case_chain import CASES, _call, _copy_state, events, run_verify, sql
from tests.node.cases.examples import complaint

worked = chain_tests.worked     # two cases at the county: a (three events) and b (one)
line = chain_tests.line         # a prefecture holding copies of its county's cases


def heads(node) -> list[CaseHeadSeal]:
    with node.activate():
        return list(CaseHeadSeal.select().order_by(CaseHeadSeal.entry_seq, CaseHeadSeal.pos))


def pending(node) -> set[str]:
    with node.activate():
        return {m.case_id for m in CaseHeadMark.select()}


def bad(out: dict) -> list[tuple]:
    return [(f["case_id"], f["event_id"], f["problem"]) for f in out["case_histories"]["first_bad"]]


def text_verify(node):
    return CliRunner().invoke(cli, ["--home", str(node.config.home), "audit", "verify"])


# -- what a seal records ----------------------------------------------------------------------------
def test_a_seal_records_each_changed_cases_head_in_one_signed_entry(worked):
    client, a, b = worked
    assert pending(client.node) == {a, b}
    seal = seal_head(client.node)
    entry = list_entries(client.node, action="case.heads")
    assert len(entry) == 1 and seal["seq"] == entry[0]["seq"]          # the signature covers it
    assert set(entry[0]["detail"]) == {"cases", "digest"} and entry[0]["detail"]["cases"] == 2
    rows = {h.case_id: (h.events, h.hash) for h in heads(client.node)}
    assert rows == {a: (len(events(client.node, a)), events(client.node, a)[-1].hash),
                    b: (1, events(client.node, b)[0].hash)}
    assert pending(client.node) == set()
    assert seal_head(client.node) is None                               # nothing new: nothing signed
    # one case changes: the next seal records that one only
    r = client.post(f"{CASES}/{b}/actions", {"action": "accept", "mode": "mediation"}, role="handler")
    assert r.status_code == 200 and pending(client.node) == {b}
    seal_head(client.node)
    assert [h.case_id for h in heads(client.node)] == [a, b, b]
    code, out, _ = run_verify(client.node)
    covered = out["case_histories"]["sealed_heads"]
    assert code == 0 and covered["snapshots"] == 2 and covered["checked"] == 3 and covered["pending_cases"] == 0


# -- what verify finds --------------------------------------------------------------------------
def test_the_last_event_cut_after_a_seal_is_named_with_its_case(worked):
    client, a, _ = worked
    seal_head(client.node)
    rows = events(client.node, a)
    sql(client.node, "DELETE FROM case_event WHERE id = ?", rows[-1].id)
    code, out, err = run_verify(client.node)
    assert code == 1 and out["ok"] is False and out["audit_ok"] is True
    assert bad(out) == [(a, None, "removed")]
    message = out["case_histories"]["first_bad"][0]["message"]
    assert f"{len(rows)} sealed" in message and f"{len(rows) - 1} left" in message and f"#{rows[-2].id}" in message
    assert a in err and "removed from its end" in err


def test_a_whole_case_history_deleted_after_a_seal_is_named(worked):
    client, a, b = worked
    seal_head(client.node)
    sql(client.node, "DELETE FROM case_event WHERE case_id = ?", b)
    code, out, err = run_verify(client.node)
    assert code == 1 and bad(out) == [(b, None, "removed")]
    assert "whole history was removed" in err and b in err
    assert out["case_histories"]["cases"] == 1          # the walk no longer sees it: only the seal does


def test_an_edited_snapshot_row_is_named_with_its_entry(worked):
    """Cut the last event and lower the sealed count to agree: the entry's digest names it."""
    client, a, _ = worked
    seal_head(client.node)
    entry_seq = list_entries(client.node, action="case.heads")[0]["seq"]
    rows = events(client.node, a)
    sql(client.node, "DELETE FROM case_event WHERE id = ?", rows[-1].id)
    sql(client.node, "UPDATE case_head_seal SET events = ?, hash = ? WHERE case_id = ?", len(rows) - 1,
        rows[-2].hash, a)
    code, out, err = run_verify(client.node)
    snapshots = out["case_histories"]["sealed_heads"]["bad_snapshots"]
    assert code == 1 and out["ok"] is False and bad(out) == []
    assert [(s["entry_seq"], s["problem"]) for s in snapshots] == [(entry_seq, "changed")]
    assert f"#{entry_seq}" in err and "case heads sealed by audit entry" in err


def test_snapshot_rows_under_no_entry_are_named_as_inserted(worked):
    client, a, _ = worked
    seal_head(client.node)
    sql(client.node, "INSERT INTO case_head_seal (entry_seq, pos, case_id, events, hash) VALUES (?, ?, ?, ?, ?)",
        999, 0, a, 1, events(client.node, a)[0].hash)
    _, out, _ = run_verify(client.node)
    assert [(s["entry_seq"], s["problem"]) for s in out["case_histories"]["sealed_heads"]["bad_snapshots"]] == [
        (999, "inserted")]


def test_a_history_rehashed_after_its_seal_no_longer_ends_in_the_sealed_hash(worked):
    """Edit a note and re-hash the rest of the chain: the walk alone sees nothing, the seal does."""
    client, a, _ = worked
    seal_head(client.node)
    rows = events(client.node, a)
    sql(client.node, "UPDATE case_event SET note = ? WHERE id = ?", "从未联系", rows[1].id)
    prev = rows[0].hash
    for e in events(client.node, a)[1:]:
        digest = event_hash({"case_id": e.case_id, "at": e.at, "node": e.node, "actor": e.actor,
                             "action": e.action, "from_status": e.from_status, "to_status": e.to_status,
                             "note": e.note, "data": e.data}, prev)
        sql(client.node, "UPDATE case_event SET prev_hash = ?, hash = ? WHERE id = ?", prev, digest, e.id)
        prev = digest
    _, out, _ = run_verify(client.node)
    assert bad(out) == [(a, rows[-1].id, "changed")]
    assert "rewritten after audit entry" in out["case_histories"]["first_bad"][0]["message"]


def test_an_event_cut_after_being_appended_since_the_newest_seal_is_not_seen(worked):
    """The documented window: what was appended after the newest seal is covered by the next one.
    The report says how far it checked, so nobody reads more into a clean result."""
    client, a, _ = worked
    seal = seal_head(client.node)
    r = client.post(f"{CASES}/{a}/actions", {"action": "comment", "note": "补充"}, role="handler")
    assert r.status_code == 200
    sql(client.node, "DELETE FROM case_event WHERE id = ?", events(client.node, a)[-1].id)
    code, out, _ = run_verify(client.node)
    covered = out["case_histories"]["sealed_heads"]
    assert code == 0 and out["ok"] is True
    assert covered["covered_to"]["seal_seq"] == seal["seq"] and covered["covered_to"]["signed_at"] == seal["signed_at"]
    assert covered["pending_cases"] == 1
    result = text_verify(client.node)
    assert result.exit_code == 0
    assert f"case histories covered up to the head signed at #{seal['seq']} ({seal['signed_at']})" in result.stdout
    assert "1 cases changed since are covered at the next seal" in result.stdout


def test_no_seal_yet_is_said_plainly(worked):
    client, _, _ = worked
    result = text_verify(client.node)
    assert result.exit_code == 0 and "no case history head sealed yet; 2 cases are covered at the next seal" in (
        result.stdout)


# -- normal operation ---------------------------------------------------------------------------
def test_several_seals_actions_and_copies_verify_clean_at_both_nodes(line):
    county, prefecture = line.nodes["440305"], line.nodes["440300"]
    ids = []
    for _ in range(3):
        r = _call(line, "440305", "POST", CASES, "intake", complaint(channel="visit"))
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    line.settle()
    for node in (county, prefecture):
        assert seal_head(node) is not None
    for cid in ids[:2]:
        _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "accept", "mode": "mediation"})
    line.settle()
    for node in (county, prefecture):
        assert pending(node) == set(ids[:2])
        seal_head(node)
    _call(line, "440305", "POST", f"{CASES}/{ids[0]}/actions", body={"action": "comment", "note": "已联系"})
    line.settle()
    for node in (county, prefecture):
        seal_head(node)
        code, out, _ = run_verify(node)
        covered = out["case_histories"]["sealed_heads"]
        assert code == 0 and out["ok"], out
        assert covered["snapshots"] == 3 and covered["checked"] == 3 + 2 + 1 and covered["pending_cases"] == 0
    # the copy seals the same heads as the handler: the same histories, the same hashes
    assert {(h.case_id, h.events, h.hash) for h in heads(county)} == {
        (h.case_id, h.events, h.hash) for h in heads(prefecture)}


def test_a_copy_that_superseded_a_sealed_history_is_judged_against_what_it_kept(line):
    """A copy sealed a head; the handler's rewritten history then superseded it (audited as
    ``case.history-diverged``): clean while the old events are kept, named once they are gone."""
    county, prefecture = line.nodes["440305"], line.nodes["440300"]
    cid = _call(line, "440305", "POST", CASES, "intake", complaint(channel="visit")).get_json()["id"]
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "accept", "mode": "mediation"})
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "已联系"})
    line.settle()
    seal_head(prefecture)
    # the handler's last event is cut at the county (before any seal there); its next update
    # carries a history that contradicts the copy's sealed one
    sql(county, "DELETE FROM case_event WHERE id = ?", events(county, cid)[-1].id)
    _call(line, "440305", "POST", f"{CASES}/{cid}/actions", body={"action": "comment", "note": "第二次联系"})
    line.settle()
    _, held, old = _copy_state(line, cid)
    assert old and list_entries(prefecture, action="case.history-diverged")
    seal_head(prefecture)
    code, out, _ = run_verify(prefecture)
    assert code == 0 and out["case_histories"]["sealed_heads"]["superseded"] == 1, out
    # the kept events deleted by hand: the sealed history is gone
    sql(prefecture, "DELETE FROM case_event WHERE superseded IS NOT NULL")
    code, out, err = run_verify(prefecture)
    assert code == 1 and bad(out) == [(cid, None, "removed")] and "superseded" in err


def test_writers_and_seals_in_parallel_lose_no_head(worked):
    """Marks are only inserted by writers and deleted by the seal: actions on many cases while
    the head is sealed again and again leave every case's final head sealed (no deadlock on
    PostgreSQL, no lost mark)."""
    client, a, b = worked
    node = client.node
    handler = Actor("handler1", "handler")
    with node.activate():
        act(node, b, {"action": "accept", "mode": "mediation"}, handler)
    errors: list[BaseException] = []

    def write(case_id: str, k: int) -> None:
        try:
            with node.activate():
                done = 0
                while done < 8:
                    try:
                        act(node, case_id, {"action": "comment", "note": f"w{k}-{done}"}, handler)
                        done += 1
                    except NodeError as exc:   # two writers of one case: the later reloads and retries
                        if exc.code != "concurrent_change":
                            raise
        except BaseException as exc:   # reported below: a failed write must fail the test
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(cid, k)) for k, cid in enumerate((a, b, a, b))]
    sealed = []

    def seal() -> None:
        try:
            while any(w.is_alive() for w in writers):     # sealing all the time the writers write
                if seal_head(node) is not None:
                    sealed.append(1)
        except BaseException as exc:
            errors.append(exc)

    for t in writers:
        t.start()
    sealer = threading.Thread(target=seal)
    sealer.start()
    for t in [*writers, sealer]:
        t.join()
    assert not errors, errors
    assert sealed           # at least one seal ran among the writes
    seal_head(node)
    assert pending(node) == set()
    for cid in (a, b):
        current = events(node, cid)
        newest = max((h for h in heads(node) if h.case_id == cid), key=lambda h: h.entry_seq)
        assert (newest.events, newest.hash) == (len(current), current[-1].hash)
    assert len(events(node, a)) == 3 + 16 and len(events(node, b)) == 2 + 16
    code, out, _ = run_verify(node)
    assert code == 0 and out["ok"]


# -- migration 16 ---------------------------------------------------------------------------------
def test_migration_16_marks_older_histories_so_the_next_seal_covers_them(worked):
    """A home at version 15: its cases' events were written with no mark (the tables did not exist)."""
    client, a, b = worked
    sql(client.node, "DROP TABLE case_head_mark")
    sql(client.node, "DROP TABLE case_head_seal")
    sql(client.node, "DELETE FROM schema_version WHERE version = 16")
    with client.node.activate():
        assert migrations.migrate(client.node.db) >= 16
    assert pending(client.node) == {a, b}
    seal_head(client.node)
    assert list_entries(client.node, action="case.heads")[0]["detail"]["cases"] == 2
    assert verify_history(client.node.db).ok
    sql(client.node, "DELETE FROM case_event WHERE id = ?", events(client.node, a)[-1].id)
    assert [(f.case_id, f.problem) for f in verify_history(client.node.db).findings] == [(a, "removed")]


def test_a_case_with_no_history_left_at_seal_time_is_not_sealed(worked):
    """Nothing to seal for a case whose events are all gone when the seal runs (within the
    window): the mark is used up, the other cases are sealed."""
    client, a, b = worked
    sql(client.node, "DELETE FROM case_event WHERE case_id = ?", b)
    seal_head(client.node)
    assert [h.case_id for h in heads(client.node)] == [a] and pending(client.node) == set()
    assert list_entries(client.node, action="case.heads")[0]["detail"]["cases"] == 1
