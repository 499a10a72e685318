"""Intake throughput over HTTP (issue 2 "Benchmark"; issue 15 item 1; R1, CONTRACT §5).

Two servers side by side in the same run, each a real waitress process (8 threads) on 127.0.0.1:

- ``n12315 serve`` of a county node (SQLite WAL, synchronous=FULL), POST /api/v1/cases
  with the CONTRACT §5 example body: validation, id counter, deadlines, triage, history,
  search index — the whole intake;
- a bare stack: Flask + peewee + waitress, kept honest (issue 15 item 1) — the same JSON parsing
  as the node (``node.web.body.parse_json_object``: duplicate keys, depth, surrogates, float
  markers), the same pragmas (WAL, ``synchronous=FULL``), and one process-wide
  ``threading.Lock`` around its ``BEGIN IMMEDIATE`` write as ``federation.storage.write_tx``
  takes; it checks two fields and inserts one row.

8 concurrent clients over keep-alive HTTP (one ``requests.Session`` each). Both servers are
warmed first, then measured in interleaved rounds (node, bare, node, bare …;
``N12315_BENCH_INTAKE_ROUNDS``, default 5, each ``N12315_BENCH_INTAKE_N`` requests, default
1,000) so a burst of other work on the machine hits both sides alike. Reported: the median
rounds' rates, the median of the per-round ratios, p50/p99 over all of a side's requests.
Target (issue 15 item 1): ratio ≥ 0.5, ≥ 200 cases/s on 2 cores, p99 < 100 ms.
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import requests

CLIENTS = 8
REQUESTS = int(os.environ.get("N12315_BENCH_INTAKE_N", "1000"))
ROUNDS = int(os.environ.get("N12315_BENCH_INTAKE_ROUNDS", "5"))
WARM = 200
COMMAND = "python -m bench intake"

BODY = {
    "kind": "complaint", "channel": "phone", "urgency": "general",
    "complainant": {"name": "张三", "phone": "13800000000", "address": "深圳市南山区科技园"},
    "respondent": {"name": "深圳市某某电器有限公司", "uscc": "914403001922038216", "region_code": "440305",
                   "address": "深圳市南山区"},
    "category": "G0303", "summary": "空调安装后不制冷，商家拒绝维修",
    "description": "2026年9月购买的空调安装后不制冷，多次联系商家未果。", "amount": "1299.00",
}

BARE_APP = textwrap.dedent('''
    import sys
    import threading
    from flask import Flask, request, jsonify
    from peewee import SqliteDatabase, Model, CharField, TextField, AutoField
    from waitress import serve
    from node.web.body import parse_json_object   # the node's own parsing: same cost per request
    db = SqliteDatabase(sys.argv[1], pragmas={"journal_mode": "wal", "synchronous": 2,
                                              "busy_timeout": 15000}, check_same_thread=False)
    WRITE_LOCK = threading.Lock()   # one process-wide writer queue, as federation.storage.write_tx
    class Row(Model):
        id = AutoField()
        kind = CharField()
        summary = TextField()
        body = TextField()
        class Meta:
            database = db
    db.create_tables([Row])
    app = Flask("bare")
    @app.post("/cases")
    def create():
        data = parse_json_object(request.get_data(cache=True))
        if data.get("kind") not in ("consultation", "complaint", "report") or not data.get("summary"):
            return jsonify({"error": "bad"}), 422
        with WRITE_LOCK, db.atomic("IMMEDIATE"):
            row = Row.create(kind=data["kind"], summary=data["summary"], body=request.get_data(as_text=True))
        return jsonify({"id": row.id}), 201
    serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=8, _quiet=True)
''')


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def load(url: str, headers: dict[str, str], n: int) -> tuple[float, list[float]]:
    """``n`` POSTs from ``CLIENTS`` keep-alive clients at once: (requests per second, latencies in s)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_client = n // CLIENTS
    start = threading.Barrier(CLIENTS + 1)

    def client() -> None:
        s = requests.Session()
        mine = []
        start.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            r = s.post(url, json=BODY, headers=headers, timeout=30)
            mine.append(time.perf_counter() - t0)
            if r.status_code != 201:
                with lock:
                    errors.append(f"{r.status_code} {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed at {url}: {errors[0]}")
    return len(latencies) / elapsed, latencies


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * q) - 1)]


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="n12315-bench-intake-"))
    node_port, bare_port = free_port(), free_port()
    home = tmp / "node"
    cli = [sys.executable, "-m", "admin_cli", "--home", str(home)]
    subprocess.run(cli + ["init", "--level", "county", "--code", "440305", "--name", "深圳市南山区市场监督管理局",
                          "--url", f"http://127.0.0.1:{node_port}"], check=True, capture_output=True)
    token = subprocess.run(cli + ["user", "add", "bench", "--role", "intake"], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    (tmp / "bare.py").write_text(BARE_APP)
    # the bare app imports the node's JSON parsing: run it from the project root
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(cli + ["serve", "--port", str(node_port), "--no-jobs"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(tmp / "bare.py"), str(tmp / "bare.db"), str(bare_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env),
    ]
    sides = {
        "node": (f"http://127.0.0.1:{node_port}/api/v1/cases", {"Authorization": f"Bearer {token}"}),
        "bare": (f"http://127.0.0.1:{bare_port}/cases", {}),
    }
    rates: dict[str, list[float]] = {"node": [], "bare": []}
    latencies: dict[str, list[float]] = {"node": [], "bare": []}
    try:
        wait_up(f"http://127.0.0.1:{node_port}/healthz")
        wait_up(f"http://127.0.0.1:{bare_port}/")
        for url, headers in sides.values():   # warm: imports, caches, every waitress thread's first request
            load(url, headers, WARM)
        for _ in range(ROUNDS):
            for side, (url, headers) in sides.items():
                rps, lat = load(url, headers, REQUESTS)
                rates[side].append(rps)
                latencies[side].extend(lat)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    ratios = [n / b for n, b in zip(rates["node"], rates["bare"], strict=True)]
    lat = {side: sorted(v) for side, v in latencies.items()}
    p = {side: (statistics.median(v) * 1000, percentile(v, 0.99) * 1000) for side, v in lat.items()}
    spread = {side: f"{min(v):.0f}–{max(v):.0f}" for side, v in rates.items()}
    rounds = f"{ROUNDS} interleaved rounds × {REQUESTS} requests"
    return [
        {"name": f"intake, n12315 serve (8 clients, keep-alive; median of {rounds}; rounds {spread['node']})",
         "value": round(statistics.median(rates["node"])), "unit": "cases/s (goal ≥ 200)", "command": COMMAND},
        {"name": "intake p50 / p99 latency (goal p99 < 100)", "value": f"{p['node'][0]:.1f} / {p['node'][1]:.1f}",
         "unit": "ms", "command": COMMAND},
        {"name": f"bare Flask+peewee+waitress insert, same parsing, lock, pragmas (rounds {spread['bare']})",
         "value": round(statistics.median(rates["bare"])), "unit": "rows/s", "command": COMMAND},
        {"name": "bare p50 / p99 latency", "value": f"{p['bare'][0]:.1f} / {p['bare'][1]:.1f}", "unit": "ms",
         "command": COMMAND},
        {"name": f"ratio n12315 / bare, median of per-round ratios ({min(ratios):.2f}–{max(ratios):.2f}; "
                 f"goal ≥ 0.5)",
         "value": f"{statistics.median(ratios):.2f}", "unit": "×", "command": COMMAND},
    ]


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
