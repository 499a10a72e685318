"""The audit chain (issue 13 item 4; CONTRACT §11): every kind of tampering done with SQL
straight on the database is found by ``verify`` and named — the first entry changed, removed or
inserted — on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading

import pytest

from node.audit import AuditEntry, list_entries, record, seal_head, verify
from node.audit.service import entry_hash


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path)
    for i in range(1, 7):      # six entries: 1 … 6
        record(n, "cli", "user.add", f"user{i}", {"role": "handler"})
    return n


def sql(node, statement: str, *params) -> None:
    """Tampering as someone with the database file or a database login would do it."""
    with node.activate(), node.db.atomic():
        node.db.execute_sql(statement.replace("?", node.db.param), params)


def row(node, seq: int) -> AuditEntry:
    with node.activate():
        return AuditEntry.get(AuditEntry.seq == seq)


def test_an_untouched_log_verifies(node):
    report = verify(node)
    assert report.ok and report.entries == 6 and report.first_bad is None
    assert report.to_dict()["first_bad"] is None


def test_entries_chain_and_list_newest_first(node):
    rows = list_entries(node, limit=3)
    assert [r["seq"] for r in rows] == [6, 5, 4]
    assert rows[0]["detail"] == {"role": "handler"} and rows[0]["actor"] == "cli"
    assert row(node, 2).prev_hash == row(node, 1).hash


def test_an_edited_detail_is_named_as_changed(node):
    sql(node, "UPDATE audit_entry SET detail = ? WHERE seq = ?", json.dumps({"role": "admin"}), 3)
    bad = verify(node).first_bad
    assert bad is not None and (bad.seq, bad.problem, bad.action) == (3, "changed", "user.add")
    assert bad.at == row(node, 3).at and "#3" in bad.message and "changed" in bad.message


def test_an_edited_actor_is_named_even_when_a_later_entry_is_edited_too(node):
    sql(node, "UPDATE audit_entry SET actor = ? WHERE seq = ?", "someone-else", 2)
    sql(node, "UPDATE audit_entry SET target = ? WHERE seq = ?", "x", 5)
    bad = verify(node).first_bad
    assert (bad.seq, bad.problem) == (2, "changed")


def test_a_deleted_middle_entry_is_named_as_removed(node):
    sql(node, "DELETE FROM audit_entry WHERE seq = ?", 3)
    report = verify(node)
    assert not report.ok and report.entries == 5
    bad = report.first_bad
    assert (bad.seq, bad.problem) == (3, "removed")
    assert bad.following["seq"] == 4 and bad.following["action"] == "user.add"
    assert "#3" in bad.message and "removed" in bad.message


def test_a_deleted_entry_with_the_rest_renumbered_is_still_found(node):
    sql(node, "DELETE FROM audit_entry WHERE seq = ?", 3)
    sql(node, "UPDATE audit_entry SET seq = seq + 1000 WHERE seq > ?", 3)
    sql(node, "UPDATE audit_entry SET seq = seq - 1001 WHERE seq > ?", 1000)
    sql(node, "UPDATE audit_head SET seq = seq - 1")
    bad = verify(node).first_bad
    assert (bad.seq, bad.problem) == (3, "removed")


def _forge(node, seq: int, prev_hash: str) -> None:
    """A well-made forgery: the attacker knows the format and computes a correct hash."""
    at, detail = row(node, seq - 1).at, json.dumps({"role": "admin"}, separators=(",", ":"))
    digest = entry_hash(at=at, actor="cli", action="user.add", target="mallory", detail=detail, prev_hash=prev_hash)
    sql(node, "INSERT INTO audit_entry (seq, at, actor, action, target, detail, prev_hash, hash) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", seq, at, "cli", "user.add", "mallory", detail, prev_hash, digest)


def test_a_forged_entry_put_in_the_middle_is_named_as_inserted(node):
    # make room at #3 the way one would with SQL, then slip a correctly hashed entry in
    sql(node, "UPDATE audit_entry SET seq = seq + 1000 WHERE seq >= ?", 3)
    sql(node, "UPDATE audit_entry SET seq = seq - 999 WHERE seq >= ?", 1000)
    sql(node, "UPDATE audit_head SET seq = seq + 1")
    _forge(node, 3, row(node, 2).hash)
    report = verify(node)
    bad = report.first_bad
    assert report.entries == 7
    assert (bad.seq, bad.problem, bad.action) == (3, "inserted", "user.add")
    assert "inserted" in bad.message


def test_a_forged_entry_at_the_end_is_named_as_inserted(node):
    _forge(node, 7, row(node, 6).hash)
    bad = verify(node).first_bad
    assert (bad.seq, bad.problem) == (7, "inserted")


def test_a_tail_cut_after_a_signed_head_is_named_as_removed(node, clock):
    seal = seal_head(node)
    assert seal is not None and seal["seq"] == 6 and verify(node).ok
    record(node, "cli", "user.disable", "user1")                  # 7, not signed yet
    keep = row(node, 4)
    # cut #5 … #7 and move the head row back so it agrees: only the signature remembers
    sql(node, "DELETE FROM audit_entry WHERE seq > ?", 4)
    sql(node, "UPDATE audit_head SET seq = ?, hash = ?", 4, keep.hash)
    report = verify(node)
    bad = report.first_bad
    assert (bad.seq, bad.problem) == (5, "removed")
    assert "#6" in bad.message and seal["signed_at"] in bad.message


def test_a_head_moved_back_without_a_seal_still_disagrees_with_the_chain(node):
    sql(node, "DELETE FROM audit_entry WHERE seq > ?", 4)
    bad = verify(node).first_bad
    assert (bad.seq, bad.problem) == (5, "removed")


def test_a_rewritten_chain_no_longer_matches_its_signed_head(node):
    seal_head(node)
    # rewrite #2 and re-hash everything after it, head included: only the signature is left
    sql(node, "UPDATE audit_entry SET detail = ? WHERE seq = ?", '{"role":"admin"}', 2)
    prev = row(node, 1).hash
    for seq in range(2, 7):
        r = row(node, seq)
        digest = entry_hash(at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail, prev_hash=prev)
        sql(node, "UPDATE audit_entry SET prev_hash = ?, hash = ? WHERE seq = ?", prev, digest, seq)
        prev = digest
    sql(node, "UPDATE audit_head SET hash = ?", prev)
    bad = verify(node).first_bad
    assert bad is not None and bad.problem == "changed" and bad.seq == 6 and "signed" in bad.message


def test_a_forged_signature_is_refused(node):
    seal_head(node)
    sql(node, "UPDATE audit_seal SET seq = ?", 5)
    bad = verify(node).first_bad
    assert bad is not None and bad.seq == 5 and "does not verify" in bad.message


def test_a_broken_chain_is_never_signed(node):
    sql(node, "UPDATE audit_entry SET detail = ? WHERE seq = ?", '{"role":"admin"}', 4)
    assert seal_head(node) is None
    assert verify(node).signed_heads == 0


def test_heads_signed_before_and_after_a_key_rotation_verify(node):
    from node.home import rotate_key
    assert seal_head(node)["key_id"].endswith("#1")
    rotate_key(node)
    record(node, "cli", "key.rotate", node.code, {"to": node.keypair.key_id})
    assert seal_head(node)["key_id"].endswith("#2")
    report = verify(node)
    assert report.ok and report.signed_heads == 2
    assert seal_head(node) is None           # nothing new: nothing to sign


def test_personal_data_is_refused_in_details(node):
    with pytest.raises(ValueError, match="personal data"):
        record(node, "cli", "pii.read", "C1", {"complainant": {"phone": "13900000000"}})
    assert verify(node).entries == 6


def test_writers_in_parallel_never_fork_the_chain(node):
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(10):
                record(node, f"w{k}", "export", f"t{i}")
        except BaseException as exc:   # reported below: a lost write must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = verify(node)
    assert report.ok and report.entries == 46
