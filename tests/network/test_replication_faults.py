"""The failure catalogue in the in-process harness (RELIABILITY F1-F17, F19-F24).

Oracle for all: every committed document applied exactly once at its destination, in
order per link and channel, nothing unexpected. Each test is named after its F-number;
the seed is printed so a failure can be replayed with N12315_SEED.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from datetime import timedelta

import pytest
import requests

from federation import httpsig
from federation.models import Link, SeenNonce
from federation.storage import write_tx
from node.network.transport import replicator
from replication import documents, inbox, outbox, sender
from replication.engine import DbNonceCache
from replication.models import InboxMark, InboxPending, Quarantine, ReplicationAudit
from tests.network import notes
from tests.network.harness import Faults


def assert_exactly_once(net, dest: str, origin: str, ids: list[str], channel: str = "cases", *,
                        drained: bool = True) -> None:
    """Every id applied once at ``dest``, in order; and (issue 14) every live outbox empty:
    a sender still holding the rows is not done, whatever the receiver counted."""
    got = notes.applied(net.nodes[dest])
    missing = [i for i in ids if i not in got]
    doubled = {i: n for i, n in got.items() if n != 1}
    assert not missing, f"lost {len(missing)} of {len(ids)} documents (seed {net.seed})"
    assert not doubled, f"applied more than once: {doubled} (seed {net.seed})"
    assert notes.order(net.nodes[dest], origin, channel) == sorted(notes.order(net.nodes[dest], origin, channel)), \
        f"out of order (seed {net.seed})"
    if drained:
        net.assert_drained()


def settle_with_time(net, rounds: int = 200, *, must_converge: bool = True) -> int:
    """Unforced syncs with the clock moving 61 s a round; raises when it does not converge."""
    return net.settle_with_time(rounds, 61, must_converge=must_converge)


def pushes_answered(net, dest: str) -> list[tuple[requests.PreparedRequest, requests.Response]]:
    """Every push ``dest`` answered from now on, with the request, even answers the network lost."""
    seen: list[tuple[requests.PreparedRequest, requests.Response]] = []

    def keep(dst, req, resp):
        if dst == dest and req.url.endswith(sender.PUSH_PATH):
            seen.append((req.copy(), resp))
    net.after_deliver.append(keep)
    return seen


def signed_push(net, src: str, dest: str, body: bytes):
    """A push from ``src`` with a signature of its own (fresh ``created`` and nonce), through a
    test client of its own, so two of them can run in two threads at once."""
    rep = replicator(net.nodes[src])
    url = net.url_of(dest) + sender.PUSH_PATH
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, sender.hop_keypair(rep), net.clock().timestamp()))
    return net.apps[dest].test_client().post(sender.PUSH_PATH, data=body, headers=headers,
                                             base_url=net.url_of(dest))


def set_clock(node, clock) -> None:
    """Only this node's clock moves (its replicator and nonce cache read ``node.clock``)."""
    node.clock = clock
    replicator(node).clock = clock


def nonce_of(req: requests.PreparedRequest) -> str:
    return req.headers["Signature-Input"].split('nonce="', 1)[1].split('"', 1)[0]


def test_basic_delivery_down_and_up_the_chain(tree):
    station, hq = tree.nodes["440305001"], tree.nodes["000000"]
    down = [notes.send(hq, "440305001", i) for i in range(20)]
    up = [notes.send(station, "000000", i) for i in range(20)]
    tree.settle()
    assert_exactly_once(tree, "440305001", "000000", down)
    assert_exactly_once(tree, "000000", "440305001", up)
    assert notes.order(station, "000000") == list(range(20))


def test_cross_branch_via_lowest_common_ancestor(tree):
    ids = [notes.send(tree.nodes["440305"], "330106", i) for i in range(10)]
    tree.settle()
    assert_exactly_once(tree, "330106", "440305", ids)
    # HQ relayed it and holds nothing of it; Shenzhen never saw the Zhejiang side
    assert notes.applied(tree.nodes["000000"]) == {}


def test_f1_request_dropped_is_retried_until_acknowledged(pair):
    ids = []
    for round_ in range(8):  # several batches, each at the mercy of the network
        pair.faults["440305"] = Faults(drop_request=1.0 if round_ == 0 else 0.5)
        ids += [notes.send(pair.nodes["440305"], "440305001", round_ * 5 + i) for i in range(5)]
        pair.sync("440305", force=False)
        pair.clock.advance(61)
    settle_with_time(pair)
    assert pair.stats["dropped_requests"] > 0
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f2_response_lost_after_commit_is_deduplicated(pair):
    ids = []
    for round_ in range(8):
        pair.faults["440305001"] = Faults(drop_response=1.0 if round_ == 0 else 0.6)
        ids += [notes.send(pair.nodes["440305001"], "440305", round_ * 5 + i) for i in range(5)]
        pair.sync("440305001", force=False)
        pair.clock.advance(61)
    settle_with_time(pair)
    assert pair.stats["dropped_responses"] > 0
    assert_exactly_once(pair, "440305", "440305001", ids)


def test_f2_resend_after_a_lost_answer_is_acknowledged_again_and_the_backlog_empties(pair):
    """F2 step by step: the county commits the station's batch, the answer is lost; the
    station's resend is deduplicated (nothing applied again), acknowledged again with the
    same mark, and the station's outbox is empty afterwards."""
    station, county = pair.nodes["440305001"], pair.nodes["440305"]
    ids = [notes.send(station, "440305", i) for i in range(5)]
    answers = pushes_answered(pair, "440305")
    pair.faults["440305001"] = Faults(drop_response=1.0)
    report = pair.sync("440305001", force=False)
    assert pair.stats["dropped_responses"] >= 1 and report.acked == 0 and report.errors
    lost = answers[-1][1].json()
    assert (lost["acked"], lost["applied"]) == (5, 5), "the receiver committed the batch"
    assert notes.applied(county) == {i: 1 for i in ids}
    assert pair.backlog("440305001") == 5, "the sender never heard the answer: nothing deleted"
    pair.faults.clear()
    with station.activate():
        due = Link.get(Link.code == "440305").next_try_at.replace(tzinfo=pair.clock().tzinfo)
    pair.clock.advance((due - pair.clock()).total_seconds() + 1)
    report = pair.sync("440305001", force=False)           # the ordinary retry, on its schedule
    again = answers[-1][1].json()
    assert answers[-1][1].status_code == 200
    assert (again["acked"], again["applied"], again["duplicates"]) == (5, 0, 5), again
    assert report.acked == 5 and not report.errors
    assert pair.backlog("440305001") == 0, "the sender's backlog is empty after the second acknowledgement"
    with station.activate():
        link = Link.get(Link.code == "440305")
        assert link.last_error is None and link.attempts == 0 and link.next_try_at is None
    assert_exactly_once(pair, "440305", "440305001", ids)


def test_f3_same_batch_delivered_twice(pair):
    pair.faults["440305"] = Faults(duplicate=1.0)
    ids = [notes.send(pair.nodes["440305"], "440305001", i) for i in range(30)]
    settle_with_time(pair)
    assert pair.stats["duplicated"] > 0
    assert_exactly_once(pair, "440305001", "440305", ids)
    assert pair.backlog("440305") == 0, "every copy's answer, even 'replayed', leads to an acknowledgement"


def test_f3_replayed_answer_to_a_duplicated_request_is_not_a_long_backoff(pair):
    """The copy that answered was the second: 401 "replayed" for our own fresh nonce. That
    is the network, not a bad key: retry on the normal schedule, never the one-hour cap."""
    county = pair.nodes["440305"]
    ids = [notes.send(county, "440305001", i) for i in range(3)]
    pair.faults["440305"] = Faults(duplicate=1.0)
    pair.rng.random = lambda: 0.0      # duplicate every request, hand back the second answer
    pair.sync("440305", force=True)
    with county.activate():
        link = Link.get(Link.code == "440305001")
        wait = (link.next_try_at.replace(tzinfo=pair.clock().tzinfo) - pair.clock()).total_seconds()
    assert "replayed" in link.last_error
    assert wait <= 2 * county.config.replication.backoff_base_s   # first attempt: base × 2¹, jittered down
    pair.faults.clear()
    pair.clock.advance(wait + 1)
    pair.sync("440305", force=False)
    assert pair.backlog("440305") == 0
    assert_exactly_once(pair, "440305001", "440305", ids)


class WatchedLock:
    """The receiver's per-link lock, telling when a second request waits on it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waited = threading.Event()

    def acquire(self, blocking: bool = True) -> bool:
        if self.lock.acquire(blocking=False):
            return True
        if not blocking:
            return False
        self.waited.set()
        return self.lock.acquire()

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> WatchedLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def test_f3_same_batch_resent_concurrently_with_a_fresh_signature_applies_once(pair, monkeypatch):
    """Rule 7's case: the nonce check cannot stop it (each copy is signed afresh, as a
    retry from a second ``n12315 sync`` would be) and the two copies overlap in the
    receiver: the first is still applying when the second has passed its signature check
    (on PostgreSQL it then waits on the link's lock; on SQLite on the write lock). The
    inbox applies the batch once and answers both with the same acknowledgement."""
    from node.db import is_sqlite
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(county, "440305001", i) for i in range(6)]
    with county.activate():
        rows = outbox.pending("440305001", "cases", 100)
        body = sender.batch_bytes(replicator(county), "440305001", "cases", rows)
    with station.activate():
        srep = replicator(station)
    lock = srep.locks[("440305", "cases")] = WatchedLock()
    verified = {"n": 0}
    second_verified = threading.Event()
    real_nonce = DbNonceCache.seen_or_add

    def counting_nonce(self, key_id, nonce, expires_at):
        verified["n"] += 1
        if verified["n"] == 2:
            second_verified.set()
        return real_nonce(self, key_id, nonce, expires_at)

    monkeypatch.setattr(DbNonceCache, "seen_or_add", counting_nonce)
    real = srep.registry.handlers["test.note"]
    in_handler = threading.Event()

    def slow(delivery):
        if not in_handler.is_set():
            in_handler.set()
            assert second_verified.wait(10), "the second copy never reached the receiver"
            if not is_sqlite(station.db):
                assert lock.waited.wait(10), "the second copy never waited on the link's lock"
        real(delivery)

    srep.registry.handlers["test.note"] = slow
    answers: list = [None, None]
    errors: list[BaseException] = []

    def post(i: int) -> None:
        try:
            answers[i] = signed_push(pair, "440305", "440305001", body)
        except BaseException as exc:  # surfaced below: a failed copy must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    try:
        threads[0].start()
        assert in_handler.wait(10), "the first copy never reached the handler"
        threads[1].start()
        for t in threads:
            t.join(30)
    finally:
        srep.registry.handlers["test.note"] = real
    assert not errors, errors
    assert verified["n"] == 2, "both copies passed the hop signature check (fresh nonces)"
    if not is_sqlite(station.db):
        assert lock.waited.is_set(), "the second copy was not held back by the link's lock (rule 7)"
    assert [a.status_code for a in answers] == [200, 200], [a.get_data(as_text=True) for a in answers]
    got = [a.get_json() for a in answers]
    assert [g["acked"] for g in got] == [6, 6], f"both copies are answered with the same acknowledgement: {got}"
    assert [(g["applied"], g["duplicates"]) for g in got] == [(6, 0), (0, 6)], got
    assert notes.applied(station) == {i: 1 for i in ids}
    with station.activate():
        assert Quarantine.select().count() == 0
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f4_reordered_delivery_applies_in_order(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(county, "440305001", i) for i in range(6)]
    with county.activate():
        rows = outbox.pending("440305001", "cases", 100)
        entries = [documents.Entry(r.seq, json.loads(r.route), json.loads(r.body)) for r in rows]
        epoch = rows[0].epoch
    late = documents.Batch("440305", "440305001", "cases", epoch, entries[3:], [])
    early = documents.Batch("440305", "440305001", "cases", epoch, entries[:3], [])
    with station.activate():
        srep = replicator(station)
        first = inbox.receive(srep, late, "440305")
        assert first.acked == 0 and first.buffered == 3 and first.applied == 0
        assert InboxPending.select().count() == 3
        second = inbox.receive(srep, early, "440305")
        assert second.acked == 6 and second.applied == 6
        assert InboxPending.select().count() == 0
    assert notes.order(station, "440305") == list(range(6))
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f4_held_requests_released_late_change_nothing(pair):
    county = pair.nodes["440305"]
    first = [notes.send(county, "440305001", i) for i in range(10)]
    pair.faults["440305"] = Faults(hold=1.0)
    pair.sync("440305")                      # the batch is held in the network, sender times out
    pair.faults.clear()
    second = [notes.send(county, "440305001", 10 + i) for i in range(10)]
    settle_with_time(pair)                   # the retry delivers both batches
    released = pair.release_held()           # the old request finally arrives, late
    pair.settle()
    assert released == 1
    assert_exactly_once(pair, "440305001", "440305", first + second)
    assert notes.order(pair.nodes["440305001"], "440305") == list(range(20))


def test_f6_crash_between_commit_and_send(pair):
    ids = [notes.send(pair.nodes["440305"], "440305001", i) for i in range(10)]
    pair.restart("440305")            # the outbox survived in the database, nothing in memory
    notes.install(pair.nodes["440305"])
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)


class Crash(BaseException):
    """Not an Exception: escapes the handler's savepoint like a process dying mid-batch."""


def test_f6_crash_mid_batch_leaves_no_partial_effect(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(county, "440305001", i) for i in range(10)]
    with station.activate():
        rep = replicator(station)
    real = rep.registry.handlers["test.note"]
    calls = {"n": 0}

    def crashing(delivery):
        calls["n"] += 1
        if calls["n"] == 5:
            raise Crash()
        real(delivery)

    rep.registry.handlers["test.note"] = crashing
    with pytest.raises(Crash):
        pair.sync("440305")
    assert notes.applied(station) == {}, "a batch that crashed half-way must leave nothing behind"
    rep.registry.handlers["test.note"] = real
    pair.restart("440305001")
    notes.install(pair.nodes["440305001"])
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f7_f20_failed_commit_is_never_acknowledged(pair):
    """Disk full / power loss at commit: the receiver answers 5xx and acknowledges nothing."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(county, "440305001", i) for i in range(5)]
    def failing_commit():
        raise __import__("peewee").OperationalError("database or disk is full")

    station.db.commit = failing_commit       # only the receiver's disk is full
    try:
        report = pair.sync("440305")
    finally:
        del station.db.commit
    assert report.acked == 0 and report.errors
    assert pair.backlog("440305") == 5, "nothing may be deleted that the receiver did not store"
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)   # SQLite's pragmas: no PostgreSQL twin
def test_f7_sqlite_is_synchronous_full(pair):
    node = pair.nodes["440305"]
    with node.activate():
        assert node.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
        assert node.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)   # a file-level restore: SQLite's scenario
def test_f8_restored_from_backup_starts_new_epoch(pair, tmp_path):
    county = pair.nodes["440305"]
    home = county.config.home_path
    county.db.execute_sql("PRAGMA wal_checkpoint(FULL)")
    backup = tmp_path / "backup.db"
    shutil.copy(home / "node.db", backup)
    first = [notes.send(county, "440305001", i) for i in range(5)]
    pair.settle()
    county = _restore_from(pair, "440305", backup)   # the disk dies; last night's backup comes back
    second = [notes.send(county, "440305001", 100 + i) for i in range(5)]
    pair.settle()
    got = notes.applied(pair.nodes["440305001"])
    assert all(got.get(i) == 1 for i in first + second), "no silent dedup hit after a restore"
    with county.activate():
        assert ReplicationAudit.select().where(ReplicationAudit.action == "epoch").count() == 1


def _restore_from(pair, code, backup):
    """Stop a node, put a copy of its database back in place, start it again."""
    home = pair.nodes[code].config.home_path
    pair.nodes[code].close()
    for suffix in ("-wal", "-shm"):
        (home / f"node.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, home / "node.db")
    node = pair.restart(code)
    notes.install(node)
    return node


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)   # a file-level restore (the mark-level test runs on both)
@pytest.mark.parametrize("mode", ["push", "pull"])
def test_f8_restored_receiver_moves_past_what_it_acknowledged_before(pair, tmp_path, mode):
    """The *receiver* is restored: what it acknowledged after the backup is gone from the
    sender's outbox and can never come again. The channel must not stall on that gap; the
    loss is named in an audited alarm and in ``status``; later documents arrive once."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    if mode == "pull":   # the station cannot take inbound connections: only its pulls move documents
        with county.activate():
            Link.update(pull_only=True).where(Link.code == "440305001").execute()
    notes.send(county, "440305001", 0)
    pair.settle()
    station.db.execute_sql("PRAGMA wal_checkpoint(FULL)")
    backup = tmp_path / "station-backup.db"
    shutil.copy(station.config.home_path / "node.db", backup)
    lost = [notes.send(county, "440305001", i) for i in range(1, 6)]
    pair.settle()
    assert pair.backlog("440305") == 0, "the county deleted what the station acknowledged"
    station = _restore_from(pair, "440305001", backup)
    later = [notes.send(county, "440305001", i) for i in range(6, 11)]
    pair.settle()
    assert pair.backlog("440305") == 0, f"the channel stalled on the restore gap ({mode})"
    got = notes.applied(station)
    assert [got.get(i) for i in later] == [1] * 5
    assert not any(i in got for i in lost), "documents lost with the restore cannot reappear"
    assert notes.order(station, "440305") == [0, 6, 7, 8, 9, 10]
    with station.activate():
        alarms = list(ReplicationAudit.select().where(ReplicationAudit.action == "restore_gap"))
        assert len(alarms) == 1 and alarms[0].peer == "440305"
        assert "#2–#6" in alarms[0].detail and "5 document(s)" in alarms[0].detail
        from replication import status
        assert any("restore gap" in w and "#2–#6" in w for w in status.warnings(station.now()))


def test_f8_receiver_mark_behind_the_senders_floor_jumps_once(pair):
    """The same fault at the level of the marks, so it also runs on PostgreSQL: the
    receiver's mark goes back (as a restore leaves it) with a document of that range held
    in quarantine; the next batch's floor moves it on, the held one is superseded."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    [notes.send(county, "440305001", i) for i in range(5)]
    pair.settle()
    with station.activate():
        mark = InboxMark.get(InboxMark.peer == "440305")
        Quarantine.insert(peer="440305", epoch=mark.epoch, channel="cases", seq=4, doc_kind="test.note",
                          doc_id="x", digest="d", body="{}", route="[]", error="old", created_at=station.now()
                          ).execute()
        InboxMark.update(hwm=2).where(InboxMark.peer == "440305").execute()
    later = [notes.send(county, "440305001", i) for i in range(5, 8)]
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", later)
    assert notes.order(station, "440305") == list(range(8))
    with station.activate():
        assert InboxMark.get(InboxMark.peer == "440305").hwm == 8
        alarms = [a.detail for a in ReplicationAudit.select().where(ReplicationAudit.action == "restore_gap")]
        assert len(alarms) == 1 and "#3–#5" in alarms[0]
        assert Quarantine.get(Quarantine.seq == 4).state == "superseded"
    # the link keeps working and raises nothing more
    [notes.send(county, "440305001", i) for i in range(8, 10)]
    pair.settle()
    with station.activate():
        assert ReplicationAudit.select().where(ReplicationAudit.action == "restore_gap").count() == 1


def test_floor_at_or_above_the_first_entry_is_a_malformed_batch(pair):
    county = pair.nodes["440305"]
    notes.send(county, "440305001", 1)
    with county.activate():
        rows = outbox.pending("440305001", "cases", 10)
        body = sender._batch_from_rows(replicator(county), "440305001", "cases", rows).to_dict()
    for bad in (1, -1, "3", True):
        with pytest.raises(documents.EnvelopeError) as err:
            documents.Batch.from_dict({**body, "acked_before": bad}, 200)
        assert err.value.field == "acked_before"
    assert documents.Batch.from_dict({**body, "acked_before": 0}, 200).acked_before == 0
    # a 1.1 sender sends no floor at all: still accepted
    old = {k: v for k, v in body.items() if k != "acked_before"}
    assert documents.Batch.from_dict({**old, "protocol": "1.1"}, 200).acked_before == 0


def test_f8_same_key_different_content_is_an_alarm(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    notes.send(county, "440305001", 1)
    with county.activate():
        rows = outbox.pending("440305001", "cases", 10)
        entry = documents.Entry(rows[0].seq, json.loads(rows[0].route), json.loads(rows[0].body))
        epoch = rows[0].epoch
    pair.settle()
    forged_doc = dict(entry.doc)
    forged_doc["body"] = {"n": 999}
    batch = documents.Batch("440305", "440305001", "cases", epoch,
                            [documents.Entry(entry.seq, entry.route, forged_doc)], [])
    with station.activate():
        with pytest.raises(inbox.ReceiveError) as err:
            inbox.receive(replicator(station), batch, "440305")
        assert err.value.status == 409
        link = Link.get(Link.code == "440305")
        assert link.state == "stopped" and "different content" in link.state_reason


def _waiting_on_a_lock(node) -> bool:
    """PostgreSQL: some backend is blocked on a row lock of the send counter."""
    return bool(node.db.execute_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        ("%send_counter%",)).fetchone()[0])


def sync_between(net, src: str, dest: str, *, then: threading.Event) -> None:
    """A sync of ``src`` that reads and sends while a writer still holds its transaction;
    once ``dest`` has answered the push, ``then`` lets that writer commit. (Recording the
    acknowledgement waits for the writer: SQLite has one writer, and on PostgreSQL the
    counter row is locked by it.)"""
    answered = threading.Event()

    def seen(dst, req, resp):
        if dst == dest and req.url.endswith(sender.PUSH_PATH):
            answered.set()
    net.after_deliver.append(seen)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            net.sync(src)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
    t = threading.Thread(target=run)
    t.start()
    try:
        assert answered.wait(10), "the sync between the two commits sent nothing"
    finally:
        then.set()
        t.join(30)
        net.after_deliver.remove(seen)
    assert not errors, errors


def test_f9_two_writers_commit_out_of_sequence_order_with_a_sync_between(pair):
    """F9, rule 2: writer A takes the next number of the link and holds its transaction
    open; writer B takes the number after it and commits *first*; the county syncs between
    the two commits; then A commits. A sender that reads "rows above my cursor" (or a
    counter that does not hold B back) ships B's row, acknowledges past A's and never
    sends A's row. Here the counter row's lock makes B wait for A (on PostgreSQL visible
    as a lock wait; SQLite has one writer at a time), and nothing is skipped."""
    from node.db import is_sqlite
    county = pair.nodes["440305"]
    first = notes.send(county, "440305001", 0)
    pair.settle()                                  # the link has a mark above zero already
    rep = replicator(county)
    took: dict[str, int] = {}
    doc_ids: dict[str, str] = {}
    enqueued = {w: threading.Event() for w in "AB"}
    commit = {w: threading.Event() for w in "AB"}
    errors: list[BaseException] = []

    def writer(name: str, n: int) -> None:
        try:
            with county.activate(), write_tx(county.db):
                doc = documents.create("test.note", channel="cases", origin="440305", dest="440305001",
                                       body={"n": n}, keypair=county.keypair, now=county.now())
                took[name] = outbox.enqueue(rep, "440305001", "cases", doc, ["440305"], county.now())
                doc_ids[name] = doc["id"]
                enqueued[name].set()
                assert commit[name].wait(30), f"writer {name} was never told to commit"
        except BaseException as exc:  # surfaced below: a failed writer must fail the test
            errors.append(exc)
            enqueued[name].set()

    a = threading.Thread(target=writer, args=("A", 1))
    b = threading.Thread(target=writer, args=("B", 2))
    a.start()
    assert enqueued["A"].wait(10)
    b.start()
    if is_sqlite(county.db):
        b_went_ahead = enqueued["B"].wait(0.5)
    else:
        for _ in range(200):
            if enqueued["B"].is_set() or _waiting_on_a_lock(county):
                break
            threading.Event().wait(0.02)
        b_went_ahead = enqueued["B"].is_set()
    if b_went_ahead:
        # B holds the higher number: commit it first, sync in between, then A
        assert took["B"] > took["A"]
        commit["B"].set()
        b.join(10)
        sync_between(pair, "440305", "440305001", then=commit["A"])
        a.join(10)
    else:
        # B waits for A's number: A commits, then the sync runs while B's row is uncommitted
        commit["A"].set()
        a.join(10)
        assert enqueued["B"].wait(10)
        sync_between(pair, "440305", "440305001", then=commit["B"])
        b.join(10)
    assert not errors, errors
    assert not a.is_alive() and not b.is_alive()
    assert (took["A"], took["B"]) == (2, 3), took
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", [first, doc_ids["A"], doc_ids["B"]])
    assert notes.order(pair.nodes["440305001"], "440305") == [0, 1, 2]
    with pair.nodes["440305001"].activate():
        assert ReplicationAudit.select().where(ReplicationAudit.action == "restore_gap").count() == 0


def test_f10_clock_jump_freshness_error_is_clear_and_order_unaffected(pair):
    county = pair.nodes["440305"]
    ids = [notes.send(county, "440305001", i) for i in range(5)]
    # only the sender's clock jumps an hour ahead: its requests are stale at the receiver
    real_clock = pair.clock
    county.clock = lambda: real_clock() + timedelta(hours=1)
    replicator(county).clock = county.clock
    report = pair.sync("440305")
    assert report.acked == 0
    with county.activate():
        err = Link.get(Link.code == "440305001").last_error
    assert "stale" in err and "skew" in err
    # the clock steps back: the same documents go through, once, in order
    county.clock = real_clock
    replicator(county).clock = real_clock
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", ids)
    assert notes.order(pair.nodes["440305001"], "440305") == list(range(5))


@pytest.mark.parametrize("jump", [timedelta(hours=1), timedelta(days=31)], ids=["1h", "31d"])
def test_f10_receiver_clock_jumps_and_steps_back_windows_and_documents_made_meanwhile(pair, jump):
    """F10 at the receiver. Its clock jumps ahead (an hour; a month: past the 30 days of
    receipts too) and its jobs prune nonces and receipts by that clock; then it steps back.
    While ahead: the county's pushes are refused as stale with a clear message, and the
    station's own documents are created with future times (the county refuses those hops
    too). After the step back: a request captured before the jump, whose nonce was pruned,
    passes the hop check again, and the inbox still deduplicates it by its marks; every
    document, those created during the jump included, arrives once and in order."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    captured: list[requests.PreparedRequest] = []
    pair.before_deliver.append(
        lambda dst, req: captured.append(req.copy()) if dst == "440305001" and req.url.endswith(sender.PUSH_PATH)
        else None)
    before = [notes.send(county, "440305001", i) for i in range(3)]
    pair.settle()
    pair.before_deliver.clear()
    real_clock = pair.clock
    set_clock(station, lambda: real_clock() + jump)
    with station.activate():
        assert DbNonceCache(station.now).prune() >= 1
        assert SeenNonce.select().where(SeenNonce.nonce == nonce_of(captured[0])).count() == 0
        pruned = inbox.prune_receipts(replicator(station))
        assert pruned == (3 if jump > timedelta(days=30) else 0)
    during_down = [notes.send(county, "440305001", 3 + i) for i in range(3)]
    report = pair.sync("440305", force=True)
    assert report.acked == 0
    with county.activate():
        err = Link.get(Link.code == "440305001").last_error
    assert "stale" in err and "skew" in err, err
    made_during = [notes.send(station, "440305", i) for i in range(3)]   # stamped with the station's clock
    report = pair.sync("440305001", force=True)
    assert report.acked == 0 and any("stale" in e for e in report.errors), report.errors
    set_clock(station, real_clock)                                        # the clock steps back
    answers = pushes_answered(pair, "440305001")
    resp = pair.deliver("440305001", captured[0])
    assert resp.status_code == 200, "its nonce was pruned while the clock was ahead: the hop check passes"
    answer = answers[-1][1].json()
    assert (answer["applied"], answer["duplicates"]) == (0, 3), answer
    pair.settle()
    assert_exactly_once(pair, "440305001", "440305", before + during_down)
    assert_exactly_once(pair, "440305", "440305001", made_during)
    assert notes.order(station, "440305") == list(range(6))
    assert notes.order(county, "440305001") == list(range(3))


def test_f13_poison_document_quarantined_other_channels_flow(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    notes.send(county, "440305001", 0)
    poison = notes.send(county, "440305001", 1, poison=True)
    after = notes.send(county, "440305001", 2)
    other = [notes.send(county, "440305001", i, channel="stats") for i in range(3)]
    settle_with_time(pair, rounds=5, must_converge=False)   # the poisoned channel keeps its rows
    assert notes.order(station, "440305", "stats") == [0, 1, 2], "the other channel flows"
    assert notes.order(station, "440305", "cases") == [0], "the poisoned channel waits"
    with station.activate():
        held = list(Quarantine.select().where(Quarantine.state == "held"))
        assert [q.doc_id for q in held] == [poison]
        from replication.quarantine import skip
        skip(replicator(station), held[0].id, "admin", "测试：毒文档 / test poison")
        audit = ReplicationAudit.select().where(ReplicationAudit.action == "skip").get()
        assert "test poison" in audit.detail
    pair.settle()
    assert notes.order(station, "440305", "cases") == [0, 2]
    assert notes.applied(station)[after] == 1
    assert all(notes.applied(station)[i] == 1 for i in other)


def test_f16_links_cut_and_restored_in_random_order(tree):
    rng = tree.rng
    codes = [c for c in tree.nodes]
    sent: dict[str, list[tuple[str, str]]] = {}
    links = [("000000", "440000"), ("440000", "440300"), ("440300", "440305"), ("440305", "440305001"),
             ("000000", "330000"), ("330000", "330100"), ("330100", "330106")]
    cut = rng.sample(links, k=4)
    for i in range(60):
        src, dst = rng.sample(codes, 2)
        sent.setdefault(dst, []).append((src, notes.send(tree.nodes[src], dst, i)))
        if i % 10 == 0 and cut:
            a, b = cut.pop()
            tree.partition(a, b)
        for code in codes:
            tree.sync(code, force=False)
        tree.clock.advance(5)
    for a, b in rng.sample(links, k=len(links)):
        tree.heal(a, b)
        tree.sync(a)
        tree.sync(b)
    settle_with_time(tree)
    for dst, items in sent.items():
        got = notes.applied(tree.nodes[dst])
        for src, doc_id in items:
            assert got.get(doc_id) == 1, f"{doc_id} from {src} to {dst} (seed {tree.seed})"


def test_f17_overloaded_parent_retry_after(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(station, "440305", i) for i in range(5)]
    rep = replicator(county)
    acquired = [rep.sync_slots.acquire(blocking=False) for _ in range(rep.settings.max_concurrent_syncs)]
    assert all(acquired)
    try:
        report = pair.sync("440305001")
        assert report.acked == 0 and any("429" in e for e in report.errors)
        with station.activate():
            link = Link.get(Link.code == "440305")
            assert link.next_try_at is not None  # the sender slows down
    finally:
        for _ in acquired:
            rep.sync_slots.release()
    pair.settle()
    assert_exactly_once(pair, "440305", "440305001", ids)


def test_f17_sender_honours_retry_after_for_its_next_attempt(pair):
    """F17, rule 11: the busy parent answers 429 with ``Retry-After``; the child's next
    attempt is due no earlier than that (plus its own jitter of at most a quarter), it
    sends nothing before, and its backlog drains on the first attempt after."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    ids = [notes.send(station, "440305", i) for i in range(5)]
    rep = replicator(county)
    # a Retry-After far from the child's own backoff (2 s base), so the two cannot be confused
    rep.settings = dataclasses.replace(rep.settings, retry_after_s=120)
    asked: list = []
    pair.before_deliver.append(lambda dst, req: asked.append(pair.clock()) if dst == "440305" else None)
    answers = pushes_answered(pair, "440305")
    slots = [rep.sync_slots.acquire(blocking=False) for _ in range(rep.settings.max_concurrent_syncs)]
    assert all(slots)
    try:
        refused_at = pair.clock()
        report = pair.sync("440305001", force=False)
    finally:
        for _ in slots:
            rep.sync_slots.release()
    assert report.acked == 0 and any("429" in e for e in report.errors), report.errors
    assert answers and answers[-1][1].status_code == 429
    assert answers[-1][1].headers["Retry-After"] == "120"
    with station.activate():
        link = Link.get(Link.code == "440305")
        next_at = link.next_try_at.replace(tzinfo=refused_at.tzinfo)
    wait_s = (next_at - refused_at).total_seconds()
    assert 120 <= wait_s <= 150, f"next attempt in {wait_s:.1f} s, not after Retry-After 120 s (+ jitter ≤ 25 %)"
    tries = len(asked)
    pair.clock.advance(wait_s - 1)
    report = pair.sync("440305001", force=False)              # what `serve`'s timer does: not yet
    assert len(asked) == tries and report.sent == 0, "the sender tried again before Retry-After"
    assert pair.backlog("440305001") == 5
    pair.clock.advance(1)
    report = pair.sync("440305001", force=False)
    assert len(asked) > tries and report.acked == 5
    assert_exactly_once(pair, "440305", "440305001", ids)


def test_f23_replayed_request_refused_and_content_deduplicated(pair):
    county = pair.nodes["440305"]
    captured: list[requests.PreparedRequest] = []
    pair.before_deliver.append(lambda dst, req: captured.append(req.copy()))
    ids = [notes.send(county, "440305001", i) for i in range(3)]
    pair.settle()
    pair.before_deliver.clear()
    pair.clock.advance(600)
    replay = captured[0]
    resp = pair.deliver("440305001", replay)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] in ("stale", "replayed")
    # within the window a replay is refused by its nonce
    pair.clock.advance(-600)
    resp = pair.deliver("440305001", replay)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "replayed"
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f23_replay_ten_minutes_later_after_the_nonce_window_is_deduplicated_by_the_inbox(pair):
    """F23 past the nonce window: ten minutes later the nonce is pruned (the receiver keeps
    nonces only while ``created`` is fresh). At a correct clock the captured bytes are
    refused as stale; at a receiver whose clock has stepped back ten minutes the very same
    bytes pass the hop check, and the inbox absorbs them: nothing applied twice."""
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    captured: list[requests.PreparedRequest] = []
    pair.before_deliver.append(
        lambda dst, req: captured.append(req.copy()) if req.url.endswith(sender.PUSH_PATH) else None)
    ids = [notes.send(county, "440305001", i) for i in range(3)]
    pair.settle()
    pair.before_deliver.clear()
    replay = captured[0]
    pair.clock.advance(600)
    with station.activate():
        assert DbNonceCache(station.now).prune() >= 1
        assert SeenNonce.select().where(SeenNonce.nonce == nonce_of(replay)).count() == 0, "nonce window passed"
    resp = pair.deliver("440305001", replay)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "stale", resp.text
    real_clock = pair.clock
    set_clock(station, lambda: real_clock() - timedelta(seconds=600))
    answers = pushes_answered(pair, "440305001")
    resp = pair.deliver("440305001", replay)
    assert resp.status_code == 200, resp.text
    answer = answers[-1][1].json()
    assert (answer["acked"], answer["applied"], answer["duplicates"]) == (3, 0, 3), answer
    set_clock(station, real_clock)
    assert_exactly_once(pair, "440305001", "440305", ids)


def test_f24_body_changed_under_valid_signature(pair):
    county = pair.nodes["440305"]
    captured: list[requests.PreparedRequest] = []
    pair.before_deliver.append(lambda dst, req: captured.append(req.copy()))
    notes.send(county, "440305001", 1)
    pair.faults["440305"] = Faults(drop_request=1.0)
    pair.sync("440305")
    pair.before_deliver.clear()
    pair.faults.clear()
    assert not captured  # dropped before delivery: build the request ourselves
    with county.activate():
        rows = outbox.pending("440305001", "cases", 10)
        batch = sender._batch_from_rows(replicator(county), "440305001", "cases", rows).to_dict()
    body = json.dumps(batch).encode()
    from federation import httpsig
    url = pair.url_of("440305001") + sender.PUSH_PATH
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, sender.hop_keypair(replicator(county)),
                                        pair.clock().timestamp()))
    tampered = body.replace(b'"n": 1', b'"n": 2')
    resp = pair.clients["440305001"].post("/federation/v1/push", data=tampered, headers=headers,
                                          base_url=pair.url_of("440305001"))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "digest_mismatch"
    assert notes.applied(pair.nodes["440305001"]) == {}


def test_unsigned_and_unknown_signer_refused(pair):
    resp = pair.clients["440305001"].post("/federation/v1/push", json={"protocol": "1.1"},
                                          base_url=pair.url_of("440305001"))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unsigned"


def test_f5_station_offline_drains_with_bounded_batches(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    pair.down.add("440305001")
    n = 2000
    down = [notes.send(county, "440305001", i) for i in range(n)]
    up = []
    pair.down.discard("440305001")
    pair.down.add("440305")
    up = [notes.send(station, "440305", i) for i in range(n)]
    pair.down.discard("440305")
    # a week of failed attempts: backoff never exceeds the cap
    pair.down.add("440305001")
    for _ in range(30):
        pair.sync("440305", force=False)
        pair.clock.advance(6 * 3600)
    with county.activate():
        link = Link.get(Link.code == "440305001")
        wait = (link.next_try_at.replace(tzinfo=pair.clock().tzinfo) - pair.clock()).total_seconds()
        assert wait <= county.config.replication.backoff_cap_s
    pair.down.discard("440305001")
    pair.clock.advance(3601)
    rounds = pair.settle(rounds=100)
    assert rounds < 100
    assert_exactly_once(pair, "440305001", "440305", down)
    assert_exactly_once(pair, "440305", "440305001", up)


def test_f1_f2_f3_f4_pull_only_station_behind_an_intranet(tmp_path, seed, network_db_url):
    """Rule 9: the county cannot open a connection to the station at all; the station
    joined with ``--pull-only`` and moves both directions itself (pull down, push up),
    through dropped requests, lost answers, duplicates and held-back requests."""
    from tests.network.conftest import build
    from tests.network.harness import Network
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    try:
        build(net, [("county", "440305"), ("station", "440305001")], {})
        net.link("440305", "440305001", pull_only=True)
        county, station = net.nodes["440305"], net.nodes["440305001"]
        net.faults["440305"] = Faults(partitioned={"440305001"})
        down, up = [], []
        for round_ in range(10):
            net.faults["440305001"] = Faults(drop_request=0.3, drop_response=0.3, duplicate=0.3, hold=0.15)
            down += [notes.send(county, "440305001", round_ * 15 + i) for i in range(15)]
            up += [notes.send(station, "440305", round_ * 15 + i) for i in range(15)]
            for _ in range(3):
                net.sync("440305001", force=True)
                net.sync("440305", force=True)
            net.clock.advance(61)
        net.faults["440305001"] = Faults()
        settle_with_time(net)
        net.release_held()
        settle_with_time(net)
        # every fault this schedule injects fired (no node goes down, nothing is partitioned here)
        injected = ("dropped_requests", "held", "duplicated", "dropped_responses")
        assert all(net.stats[k] > 0 for k in injected), net.stats
        assert_exactly_once(net, "440305001", "440305", down)
        assert_exactly_once(net, "440305", "440305001", up)
        assert notes.order(station, "440305") == list(range(150))
        with county.activate():
            link = Link.get(Link.code == "440305001")
            assert link.pull_only and link.last_error is None, "the county never tried to push"
            assert link.last_seen_at is not None
    finally:
        net.close()


def test_an_idle_poll_within_ten_seconds_writes_nothing_but_a_later_or_troubled_one_does(pair):
    """An idle station polls its county every few seconds: the link's last good pull moves at
    most every ``SUCCESS_GRANULARITY_S`` (no write, no fsync, per idle poll); an error on the
    link is always cleared by the next good pull."""
    station = pair.nodes["440305001"]

    def last_ok():
        with station.activate():
            link = Link.get(Link.code == "440305")
            return link.last_ok_pull_at, link.attempts, link.last_error

    pair.sync("440305001")
    first, attempts, error = last_ok()
    assert first is not None and attempts == 0 and error is None
    pair.clock.advance(sender.SUCCESS_GRANULARITY_S - 1)
    pair.sync("440305001")
    assert last_ok()[0] == first                                # a poll 9 s later: not written
    pair.clock.advance(2)
    pair.sync("440305001")
    assert last_ok()[0] > first                                 # 11 s after the write: written
    moved = last_ok()[0]
    pair.faults["440305001"] = Faults(drop_request=1.0)
    pair.sync("440305001")
    assert last_ok()[1] >= 1 and last_ok()[2]                   # the failure is recorded
    pair.faults["440305001"] = Faults()
    pair.clock.advance(1)
    pair.sync("440305001")                                      # forced: inside the backoff
    after, attempts, error = last_ok()
    assert attempts == 0 and error is None and after > moved    # cleared at once, not 10 s later
