"""Intake throughput over HTTP (issue 2 "Benchmark"; R1, CONTRACT §5).

Two servers side by side in the same run, each a real waitress process on 127.0.0.1:

- ``n12315 serve`` of a county node (SQLite WAL, synchronous=FULL), POST /api/v1/cases
  with the CONTRACT §5 example body: validation, id counter, deadlines, triage, history,
  search index — the whole intake;
- a bare stack: Flask + peewee (SQLite WAL, same pragmas) + waitress, an endpoint that
  parses JSON, checks two fields and inserts one row.

8 concurrent clients over keep-alive HTTP (one ``requests.Session`` each) for a fixed
number of requests. Target: ≥ 0.5× the bare stack, ≥ 300 cases/s on 2 cores, p99 < 100 ms.
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
REQUESTS = int(os.environ.get("N12315_BENCH_INTAKE_N", "2000"))
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
    from flask import Flask, request, jsonify
    from peewee import SqliteDatabase, Model, CharField, TextField, AutoField
    from waitress import serve
    db = SqliteDatabase(sys.argv[1], pragmas={"journal_mode": "wal", "synchronous": 2,
                                              "busy_timeout": 15000}, check_same_thread=False)
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
        data = request.get_json()
        if data.get("kind") not in ("consultation", "complaint", "report") or not data.get("summary"):
            return jsonify({"error": "bad"}), 422
        with db.atomic("IMMEDIATE"):
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


def load(url: str, headers: dict[str, str], n: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_client = n // CLIENTS

    def client() -> None:
        s = requests.Session()
        mine = []
        for _ in range(per_client):
            t0 = time.perf_counter()
            r = s.post(url, json=BODY, headers=headers, timeout=30)
            mine.append(time.perf_counter() - t0)
            if r.status_code != 201:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    # warm-up
    s = requests.Session()
    for _ in range(20):
        s.post(url, json=BODY, headers=headers, timeout=30)
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    if errors[0]:
        raise RuntimeError(f"{errors[0]} requests failed at {url}")
    return {"rps": len(latencies) / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


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
    procs = [
        subprocess.Popen(cli + ["serve", "--port", str(node_port), "--no-jobs"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(tmp / "bare.py"), str(tmp / "bare.db"), str(bare_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_up(f"http://127.0.0.1:{node_port}/healthz")
        wait_up(f"http://127.0.0.1:{bare_port}/")
        node = load(f"http://127.0.0.1:{node_port}/api/v1/cases", {"Authorization": f"Bearer {token}"}, REQUESTS)
        bare = load(f"http://127.0.0.1:{bare_port}/cases", {}, REQUESTS)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    ratio = node["rps"] / bare["rps"]
    return [
        {"name": "intake, n12315 serve (8 clients, keep-alive)", "value": round(node["rps"]), "unit": "cases/s",
         "command": COMMAND},
        {"name": "intake p50 / p99 latency", "value": f"{node['p50_ms']:.1f} / {node['p99_ms']:.1f}", "unit": "ms",
         "command": COMMAND},
        {"name": "bare Flask+peewee+waitress insert (same load)", "value": round(bare["rps"]), "unit": "rows/s",
         "command": COMMAND},
        {"name": "bare p50 / p99 latency", "value": f"{bare['p50_ms']:.1f} / {bare['p99_ms']:.1f}", "unit": "ms",
         "command": COMMAND},
        {"name": "ratio n12315 / bare (target ≥ 0.5)", "value": f"{ratio:.2f}", "unit": "×", "command": COMMAND},
    ]


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
