"""The public portal under load (issue 12): form submit → case stored, and the delay until the
complainant's "received" SMS reaches the gateway.

One county node as a real ``n12315 serve`` process (SQLite, jobs on, the demo's SMS gateway on
127.0.0.1 as ``notify.sms_url``), the phone check off and the per-address limits raised for the
load (``N12315_PUBLIC__*``). 8 clients, each a keep-alive ``requests.Session`` acting as one
browser: GET the form (its CSRF token), then POST complaints (every field of the form, consent
ticked); a 303 to the receipt means the case, its query code and its notices were committed.
Figures: submissions per second, p50 / p95 / p99 of the POST, and p50 / p95 of submit → SMS at
the gateway (bounded by ``notify.flush_interval_s`` unless the sender is woken).

Run: ``python -m bench public`` (``N12315_BENCH_PUBLIC_REQUESTS`` changes the load).
"""
from __future__ import annotations

import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from admin_cli.demo_gateway import DemoSmsGateway
from bench.bench_intake import free_port, wait_up

CLIENTS = 8
REQUESTS = int(os.environ.get("N12315_BENCH_PUBLIC_REQUESTS", "800"))
COMMAND = "python -m bench public"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CASE_ID = re.compile(r'id="case-id">([^<]+)<')


def form(i: int, csrf: str) -> dict[str, str]:
    return {"csrf_token": csrf, "kind": "complaint", "complainant.name": f"消费者{i}",
            "complainant.phone": f"139{i:08d}", "complainant.address": "广东省深圳市南山区科技园路 1 号",
            "respondent.name": "深圳市南山区某电器商行", "respondent.region_code": "440305", "category": "G0303",
            "summary": f"电饭煲收货即损坏 {i}", "description": "收货当天发现内胆变形，商家拒绝退换。",
            "demand": "退货退款", "occurred_on": "2026-09-20", "amount": "399", "consent": "1"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)] * 1000


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="n12315-bench-public-"))
    port = free_port()
    home = tmp / "node"
    cli = [sys.executable, "-m", "admin_cli", "--home", str(home)]
    subprocess.run(cli + ["init", "--level", "county", "--code", "440305", "--name", "深圳市南山区市场监督管理局",
                          "--url", f"http://127.0.0.1:{port}"], check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    with DemoSmsGateway(tmp / "sms.log", secrets.token_hex(8)) as sms:
        env = {**os.environ, "N12315_NOTIFY__SMS_URL": sms.url, "N12315_NOTIFY__SMS_SECRET": sms.secret,
               "N12315_PUBLIC__REQUIRE_PHONE_CODE": "false", "N12315_PUBLIC__SUBMIT_PER_ADDRESS_PER_HOUR": "1000000",
               "N12315_PUBLIC__SUBMIT_PER_PHONE_PER_DAY": "1000000"}
        proc = subprocess.Popen(cli + ["serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        try:
            wait_up(url + "/healthz")
            latencies: list[float] = []
            sent_at: dict[str, float] = {}
            errors: list[str] = []
            lock = threading.Lock()

            def client(k: int) -> None:
                s = requests.Session()
                csrf = CSRF.search(s.get(url + "/public/complaint", timeout=30).text).group(1)
                for j in range(REQUESTS // CLIENTS):
                    i = k * 100000 + j
                    t0 = time.perf_counter()
                    r = s.post(url + "/public/complaint", data=form(i, csrf), timeout=60, allow_redirects=False)
                    took = time.perf_counter() - t0
                    stamp = time.monotonic()
                    if r.status_code != 303:
                        with lock:
                            errors.append(f"{r.status_code}")
                        continue
                    receipt = s.get(url + "/public/receipt", timeout=30).text
                    with lock:
                        latencies.append(took)
                        sent_at[CASE_ID.search(receipt).group(1)] = stamp - took

            threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            if errors:
                raise RuntimeError(f"{len(errors)} submissions failed: {sorted(set(errors))}")
            deadline = time.monotonic() + 120
            delays: dict[str, float] = {}
            while time.monotonic() < deadline and len(delays) < len(sent_at):
                with sms.lock:
                    for m in sms.messages:
                        for cid in re.findall(r"\d{6}-\d{8}-\d{6}", m.get("text", "")):
                            if cid in sent_at and cid not in delays:
                                delays[cid] = m["received_monotonic"] - sent_at[cid]
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    told = list(delays.values())
    return [
        {"name": "public form submissions, n12315 serve (8 browsers, keep-alive)",
         "value": round(len(latencies) / elapsed), "unit": "cases/s", "command": COMMAND},
        {"name": "form submit → case stored, p50 / p95 / p99", "unit": "ms", "command": COMMAND,
         "value": f"{pct(latencies, 0.5):.1f} / {pct(latencies, 0.95):.1f} / {pct(latencies, 0.99):.1f}"},
        {"name": f"submit → 'received' SMS at the gateway, p50 / p95 ({len(told)} of {len(sent_at)} told)",
         "unit": "s", "command": COMMAND,
         "value": f"{statistics.median(told):.2f} / {pct(told, 0.95) / 1000:.2f}" if told else "none arrived"},
    ]


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
