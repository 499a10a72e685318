"""The cost of one ``GET /metrics`` scrape (issue 14 "Seen from outside"; docs/metrics.md).

Guangdong's province node (440000) linked to its 21 prefectures through invite/join in the
in-process harness (``tests/network/harness.py``), 250 documents pending for each (5,250 outbox
rows, none delivered: the links are partitioned). Each scrape goes
through the Flask test client from loopback (everything the server does: collector queries,
exposition; no network): 2 warm-up scrapes, then ``RUNS`` timed; p50 and p95.

Run: ``python -m bench metrics`` (``N12315_BENCH_METRICS_RUNS`` changes the runs).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("N12315_BENCH_METRICS_RUNS", "50"))
PER_LINK = 250
COMMAND = "python -m bench metrics"
PREFECTURES = ["440100", "440200", "440300", "440400", "440500", "440600", "440700", "440800", "440900",
               "441200", "441300", "441400", "441500", "441600", "441700", "441800", "441900", "442000",
               "445100", "445200", "445300"]


def run() -> list[dict]:
    os.environ.setdefault("N12315_HTTP__ALLOW_HTTP_PEERS", "true")   # the harness's http:// names
    from tests.network import notes
    from tests.network.harness import Network
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        net = Network(Path(tmp))
        try:
            net.add("province", "440000")
            for code in PREFECTURES:
                net.add("prefecture", code)
                net.link("440000", code)
            province = net.nodes["440000"]
            notes.install(province)
            for code in PREFECTURES:
                net.partition("440000", code)
                for i in range(PER_LINK):
                    notes.send(province, code, i)
            client = net.clients["440000"]
            for _ in range(2):
                assert client.get("/metrics").status_code == 200
            ms = []
            for _ in range(RUNS):
                started = time.perf_counter()
                resp = client.get("/metrics")
                ms.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200
            size = len(resp.get_data())
        finally:
            net.close()
    ms.sort()
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    note = f"{len(PREFECTURES)} links, {len(PREFECTURES) * PER_LINK} outbox rows, {size} bytes"
    return [{"name": f"scrape p50 ({note})", "value": round(statistics.median(ms), 1), "unit": "ms", "command": COMMAND},
            {"name": "scrape p95", "value": round(p95, 1), "unit": "ms", "command": COMMAND}]
