"""Replication figures (issue 3 "Benchmark"; RELIABILITY rules 6-7, 12).

- **Backlog drain**: 20,000 case-sized documents (a realistic complaint record, ~1.3 KB
  of canonical JSON each, origin-signed) queued at a county for its offline station; the
  station returns and the queue drains through the real stack — batch building, RFC 9421
  signing, the station's Flask endpoint, hop verification, origin-signature verification
  per document, in-order apply with a savepoint and an upsert per document, receipts,
  high-water mark, commit with synchronous=FULL, cumulative ack, outbox delete. The
  transport is the in-process harness adapter (no TCP), so the figure is the engine's.
  Beside it, in the same run: raw ``insert_many`` of the same rows into SQLite.
- **Batch size**: the same drain of 5,000 documents at 50, 200 and 500 per batch.
- **Per-request signature cost**: RFC 9421 sign and verify of one push of 200 documents,
  and Ed25519 sign/verify of one document's canonical JSON.
"""
from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC
from pathlib import Path

COMMAND = "python -m bench replication"
CASE_BODY = {
    "case": {
        "id": "440000-20260929-000123", "kind": "complaint", "report_target": None, "channel": "phone",
        "received_at": "2026-09-29T10:00:00+08:00", "urgency": "general", "status": "registered",
        "complainant": {"name": "张三", "phone": "13800000000", "address": "广东省深圳市南山区科技园南区", "anonymous": False},
        "respondent": {"name": "深圳市南山区某某电器有限公司", "uscc": "914403001922038216", "region_code": "440305",
                       "address": "深圳市南山区"},
        "category": "G0303", "summary": "空调安装后不制冷，商家拒绝维修",
        "description": "2026年9月在商场购买的空调安装后不制冷，多次联系商家上门维修未果，要求退货退款。" * 3,
        "amount": "1299.00", "amount_recovered": None, "extensions": {}, "accepting_node": "440000",
        "handling_node": "440305", "rule_set": "CN-ORDER20-2022",
        "deadlines": {"accept_by": "2026-10-14", "conclude_by": None},
        "history": [{"at": "2026-09-29T10:00:00+08:00", "node": "440000", "actor": "intake1", "action": "create",
                     "from_status": None, "to_status": "registered", "note": ""}],
    }
}


def _pair(base: Path, batch_size: int):
    import os
    os.environ["N12315_REPLICATION__BATCH_SIZE"] = str(batch_size)
    try:
        from tests.network.conftest import build
        from tests.network.harness import Network
        net = Network(base, seed=1)
        build(net, [("county", "440305"), ("station", "440305001")], {"440305001": "440305"})
    finally:
        del os.environ["N12315_REPLICATION__BATCH_SIZE"]
    from node.network.transport import replicator
    station = net.nodes["440305001"]

    db = station.db
    sql = ("INSERT INTO local_state (key, value) VALUES (?, ?) "
           "ON CONFLICT (key) DO UPDATE SET value = excluded.value")

    def apply(delivery):
        # stands for a case copy written at the receiver: one upsert per document, written
        # the way a hot-path handler should be (one prepared statement, no query building)
        db.execute_sql(sql, ("bench:" + delivery.doc["id"], delivery.body["case"]["id"]))

    with station.activate():
        replicator(station).registry.register("bench.case", apply)
    return net


def _queue(net, n: int) -> float:
    from federation.storage import write_tx
    from node.network.transport import replicator
    from replication import documents, outbox
    county = net.nodes["440305"]
    t0 = time.perf_counter()
    with county.activate():
        rep = replicator(county)
        for start in range(0, n, 500):
            with write_tx(county.db):
                for _ in range(start, min(n, start + 500)):
                    doc = documents.create("bench.case", channel="cases", origin="440305", dest="440305001",
                                           body=CASE_BODY, keypair=county.keypair, now=county.now())
                    outbox.enqueue(rep, "440305001", "cases", doc, ["440305"], county.now())
    return time.perf_counter() - t0


def drain(n: int, batch_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="n12315-bench-drain-") as tmp:
        net = _pair(Path(tmp), batch_size)
        try:
            net.down.add("440305001")
            queue_s = _queue(net, n)
            net.down.discard("440305001")
            t0 = time.perf_counter()
            rounds = net.settle(rounds=10_000)
            elapsed = time.perf_counter() - t0
            assert net.backlog("440305") == 0, "drain incomplete"
        finally:
            net.close()
    return {"docs_per_s": n / elapsed, "seconds": elapsed, "queue_per_s": n / queue_s, "rounds": rounds}


def raw_insert_many(n: int) -> float:
    from peewee import SqliteDatabase

    from federation.canonical import canonical_bytes
    from replication.models import OutboxEntry
    body = canonical_bytes(CASE_BODY).decode()
    with tempfile.TemporaryDirectory(prefix="n12315-bench-raw-") as tmp:
        db = SqliteDatabase(str(Path(tmp) / "raw.db"), pragmas={"journal_mode": "wal", "synchronous": 2})
        with db.bind_ctx([OutboxEntry]):
            db.create_tables([OutboxEntry])
            from datetime import datetime
            now = datetime.now(UTC)
            rows = [dict(dest="440305001", channel="cases", epoch="e1", seq=i + 1, doc_kind="bench.case",
                         doc_id=f"{i:032x}", body=body, route='["440305"]', created_at=now) for i in range(n)]
            t0 = time.perf_counter()
            for start in range(0, n, 200):
                with db.atomic():
                    OutboxEntry.insert_many(rows[start:start + 200]).execute()
            elapsed = time.perf_counter() - t0
        db.close()
    return n / elapsed


def signature_costs() -> list[dict]:
    from federation import httpsig, keys
    from federation.docsign import sign_document, verify_document
    pair = keys.generate_keypair("440305#1")
    hop = keys.KeyPair("440305", pair.private, pair.public_b64)
    doc = sign_document({"kind": "bench.case", "body": CASE_BODY}, pair)
    body = json.dumps({"entries": [doc] * 200}).encode()
    url = "http://127.0.0.1:8315/federation/v1/push"
    n = 300
    t0 = time.perf_counter()
    for _ in range(n):
        httpsig.sign_request("POST", url, {}, body, hop, time.time())
    sign_ms = (time.perf_counter() - t0) / n * 1000
    cache = httpsig.MemoryNonceCache()
    signed = [httpsig.sign_request("POST", url, {}, body, hop, time.time()) for _ in range(n)]
    t0 = time.perf_counter()
    for h in signed:
        httpsig.verify_request("POST", url, h, body, lambda k: pair.public_b64, time.time(), nonce_cache=cache)
    verify_ms = (time.perf_counter() - t0) / n * 1000
    m = 2000
    t0 = time.perf_counter()
    for _ in range(m):
        sign_document({"kind": "bench.case", "body": CASE_BODY}, pair)
    doc_sign_us = (time.perf_counter() - t0) / m * 1e6
    t0 = time.perf_counter()
    for _ in range(m):
        verify_document(doc, lambda k: pair.public_b64)
    doc_verify_us = (time.perf_counter() - t0) / m * 1e6
    return [
        {"name": "RFC 9421 sign, one push of 200 documents (~270 KB, incl. sha-256 digest)",
         "value": f"{sign_ms:.2f}", "unit": "ms/request", "command": COMMAND},
        {"name": "RFC 9421 verify, same request (digest + Ed25519 + nonce)", "value": f"{verify_ms:.2f}",
         "unit": "ms/request", "command": COMMAND},
        {"name": "origin signature of one case document (canonical JSON + Ed25519)", "value": f"{doc_sign_us:.0f}",
         "unit": "µs/doc", "command": COMMAND},
        {"name": "origin signature check of one case document", "value": f"{doc_verify_us:.0f}", "unit": "µs/doc",
         "command": COMMAND},
    ]


def run() -> list[dict]:
    figures = []
    n = 20_000
    result = drain(n, 200)
    raw = raw_insert_many(n)
    figures += [
        {"name": f"backlog drain, {n:,} case documents to a returning station (batch 200)",
         "value": round(result["docs_per_s"]), "unit": "documents/s", "command": COMMAND},
        {"name": "drain time", "value": f"{result['seconds']:.1f}", "unit": "s", "command": COMMAND},
        {"name": "queueing at the origin (sign + enqueue, 500 per transaction)", "value": round(result["queue_per_s"]),
         "unit": "documents/s", "command": COMMAND},
        {"name": "raw insert_many of the same rows into SQLite (200 per transaction)", "value": round(raw),
         "unit": "rows/s", "command": COMMAND},
    ]
    for size in (50, 200, 500):
        r = drain(5000, size)
        figures.append({"name": f"drain of 5,000 documents at batch size {size}", "value": round(r["docs_per_s"]),
                        "unit": "documents/s", "command": COMMAND})
    figures += signature_costs()
    return figures


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
