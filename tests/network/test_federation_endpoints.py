"""Bad input at /federation/v1/ (issue 3): each refused with nothing applied, visible in
``status`` or the log. Plus F9 (PostgreSQL writers committing out of order) and the
protocol-version rule that lets a tree upgrade one node at a time."""
from __future__ import annotations

import json
import threading
import time

import pytest

from federation import httpsig
from federation.models import Link
from federation.storage import write_tx
from node.network.transport import replicator
from replication import documents, outbox, sender
from replication.models import OutboxEntry, Quarantine
from replication.status import link_report
from tests.network import notes


def signed(pair, src: str, dst: str, payload, path: str = sender.PUSH_PATH, raw: bytes | None = None):
    node = pair.nodes[src]
    body = raw if raw is not None else json.dumps(payload).encode()
    url = pair.url_of(dst) + path
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, sender.hop_keypair(replicator(node)),
                                        pair.clock().timestamp()))
    return pair.clients[dst].post(path, data=body, headers=headers, base_url=pair.url_of(dst))


def batch_of(pair, src: str, dst: str) -> dict:
    node = pair.nodes[src]
    with node.activate():
        rows = outbox.pending(dst, "cases", 500)
        return sender._batch_from_rows(replicator(node), dst, "cases", rows).to_dict()


def applied_nothing(pair, code: str) -> bool:
    return notes.applied(pair.nodes[code]) == {}


@pytest.mark.parametrize("mutate, status, code", [
    (lambda b: b.update(protocol="2.0"), 400, "bad_batch"),
    (lambda b: b.pop("epoch"), 400, "bad_batch"),
    (lambda b: b["entries"][0].update(seq="1"), 400, "bad_batch"),
    (lambda b: b["entries"][0]["doc"].pop("sig"), 400, "bad_batch"),
    (lambda b: b.update(receiver="440305"), 403, "wrong_receiver"),
    (lambda b: b.update(sender="440300"), 403, "sender_mismatch"),
], ids=["future-major-protocol", "no-epoch", "seq-not-int", "doc-without-sig", "wrong-receiver", "spoofed-sender"])
def test_corrupted_envelopes_refused(pair, mutate, status, code):
    notes.send(pair.nodes["440305"], "440305001", 1)
    batch = batch_of(pair, "440305", "440305001")
    mutate(batch)
    resp = signed(pair, "440305", "440305001", batch)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert applied_nothing(pair, "440305001")


def test_truncated_envelope_refused(pair):
    notes.send(pair.nodes["440305"], "440305001", 1)
    raw = json.dumps(batch_of(pair, "440305", "440305001")).encode()[:-20]
    resp = signed(pair, "440305", "440305001", None, raw=raw)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "malformed"
    assert applied_nothing(pair, "440305001")


def test_oversize_batch_refused_413(pair):
    for i in range(3):
        notes.send(pair.nodes["440305"], "440305001", i)
    batch = batch_of(pair, "440305", "440305001")
    batch["entries"] = batch["entries"] * 100  # 300 entries > batch_size 200
    resp = signed(pair, "440305", "440305001", batch)
    assert resp.status_code == 413
    assert applied_nothing(pair, "440305001")


def test_previous_minor_protocol_version_accepted(pair):
    notes.send(pair.nodes["440305"], "440305001", 1)
    batch = batch_of(pair, "440305", "440305001")
    batch["protocol"] = "1.0"
    resp = signed(pair, "440305", "440305001", batch)
    assert resp.status_code == 200 and resp.get_json()["acked"] == 1


def test_parent_addressing_outside_my_subtree_refused(tree):
    county, station = tree.nodes["440305"], tree.nodes["440305001"]
    with county.activate():
        rep = replicator(county)
        doc = documents.create("test.note", channel="cases", origin="440305", dest="330106", body={"n": 1},
                               keypair=county.keypair, now=county.now())
        with write_tx(county.db):
            outbox.enqueue(rep, "440305001", "cases", doc, ["440305"], county.now())
    tree.sync("440305")
    with station.activate():
        held = list(Quarantine.select())
        assert held and "subtree" in held[0].error
    assert notes.applied(station) == {}


def test_revoked_peer_refused_401_and_visible(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    with county.activate():
        from federation import links
        from node.divisions import load_divisions
        links.revoke_link("440305001", "测试", county.keypair, county.now(), load_divisions().is_within)
    notes.send(station, "440305", 1)
    report = pair.sync("440305001")
    assert report.errors and any("401" in e for e in report.errors)
    assert notes.applied(county) == {}
    with station.activate():
        row = next(r for r in link_report(station.now()) if r["code"] == "440305")
        assert "401" in (row["last_error"] or "")


def test_peer_answering_garbage_is_recorded_not_acknowledged(pair):
    county = pair.nodes["440305"]
    notes.send(county, "440305001", 1)

    original = pair.deliver

    def deliver(dst, request):
        resp = original(dst, request)
        resp._content = b"<html>proxy error</html>"
        return resp

    pair.deliver = deliver
    try:
        report = pair.sync("440305")
    finally:
        pair.deliver = original
    assert report.acked == 0 and any("garbage" in e for e in report.errors)
    assert pair.backlog("440305") == 1
    with county.activate():
        assert "garbage" in Link.get(Link.code == "440305001").last_error
    pair.settle()
    assert list(notes.applied(pair.nodes["440305001"]).values()) == [1]


def test_f9_concurrent_writers_commit_out_of_sequence_order_nothing_skipped(pair):
    """Two transactions enqueue for the same link; the first holds its transaction open.
    The counter row orders them: numbers are dense and the sender never skips one."""
    county = pair.nodes["440305"]
    rep = replicator(county)
    started = threading.Event()
    errors: list[BaseException] = []

    def slow_writer():
        try:
            with county.activate(), write_tx(county.db):
                doc = documents.create("test.note", channel="cases", origin="440305", dest="440305001",
                                       body={"n": 0}, keypair=county.keypair, now=county.now())
                outbox.enqueue(rep, "440305001", "cases", doc, ["440305"], county.now())
                started.set()
                time.sleep(0.6)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            started.set()

    t = threading.Thread(target=slow_writer)
    t.start()
    started.wait(5)
    # meanwhile the sender looks: the uncommitted row is invisible, nothing is sent or skipped
    with county.activate():
        assert outbox.pending("440305001", "cases", 10) == []
    fast = notes.send(county, "440305001", 1)   # blocks on the counter row until the first commits
    t.join()
    assert not errors, errors
    with county.activate():
        seqs = [r.seq for r in OutboxEntry.select().order_by(OutboxEntry.seq)]
    assert seqs == [1, 2]
    pair.settle()
    assert notes.order(pair.nodes["440305001"], "440305") == [0, 1]
    assert notes.applied(pair.nodes["440305001"])[fast] == 1


def test_status_shows_per_link_health(pair):
    county = pair.nodes["440305"]
    pair.down.add("440305001")
    notes.send(county, "440305001", 1)
    pair.sync("440305")
    with county.activate():
        row = next(r for r in link_report(county.now()) if r["code"] == "440305001")
    for key in ("backlog", "oldest_pending_s", "last_ok_push", "last_ok_pull", "last_error", "attempts",
                "next_try_at", "quarantined", "key_id", "clock_skew_s"):
        assert key in row
    assert row["backlog"] == 1 and row["attempts"] == 1 and "refused" in row["last_error"]


def test_batches_larger_than_the_staff_api_limit_are_accepted_and_bounded(pair):
    """Replication batches may exceed the 1 MiB staff-API limit (long case descriptions);
    the sender still bounds each batch by max_batch_bytes."""
    county = pair.nodes["440305"]
    with county.activate():
        rep = replicator(county)
        with write_tx(county.db):
            for i in range(80):  # 80 × ~60 KB ≈ 4.8 MB: two batches, each over 1 MiB
                doc = documents.create("test.note", channel="cases", origin="440305", dest="440305001",
                                       body={"n": i, "pad": "投诉内容" * 5000}, keypair=county.keypair,
                                       now=county.now())
                outbox.enqueue(rep, "440305001", "cases", doc, ["440305"], county.now())
        assert 20 < len(outbox.pending("440305001", "cases", 200, rep.settings.max_batch_bytes)) < 80
    report = pair.sync("440305")
    assert not report.errors, report.errors
    pair.settle()
    assert notes.order(pair.nodes["440305001"], "440305") == list(range(80))


def test_link_silent_for_a_day_is_reported(pair):
    from replication.status import warnings
    county = pair.nodes["440305"]
    notes.send(county, "440305001", 1)
    pair.settle()
    with county.activate():
        assert not [w for w in warnings(county.now()) if "silent" in w]
    pair.clock.advance(25 * 3600)
    with county.activate():
        assert [w for w in warnings(county.now()) if "440305001" in w and "silent" in w]
