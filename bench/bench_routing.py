"""Case routing figures over real processes (issue 4 "Benchmark"; R1.5, R2.6).

The eight-node demo tree (``admin_cli.demo.TREE``) as real ``n12315 serve`` processes on
127.0.0.1, each with its own SQLite file, initialised and linked through the CLI, driven
through the staff API only (the demo's replication settings: push at once after a write,
else every 0.5 s; pull every 1 s):

1. **intake → visible at the county**: 200 phone complaints taken one after another at the
   Guangdong province (440000) about a Nanshan firm; for each, the time from sending the
   ``POST`` until ``GET /api/v1/cases/<id>`` at Nanshan (440305) answers with the case held
   there (two hops: 440000 → 440300 → 440305). p50 / p99 / max.
2. **1,000 cases across branches**: 1,000 complaints taken at Nanshan about a Hangzhou Xihu
   firm (440305 → 440300 → 440000 → 000000 → 330000 → 330100 → 330106); throughput until
   all 1,000 are held at Xihu; then Xihu accepts and concludes each (4 client threads), and
   the time until every conclusion is back at Nanshan, the accepting node.

Run: ``python -m bench routing`` (or ``python -m bench.bench_routing``).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

COMMAND = "python -m bench routing"
N_LATENCY = 200
N_CROSS = 1000




def _body(region: str, name: str, i: int, channel: str) -> dict[str, Any]:
    return {"kind": "complaint", "channel": channel, "category": "S0304", "summary": f"基准测试第 {i} 件：外卖食品异物",
            "description": "米饭中发现金属异物。",
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": name, "region_code": region, "address": ""}}


class _Client:
    def __init__(self, fed: Any):
        self.fed = fed
        self.session = requests.Session()

    def call(self, code: str, method: str, path: str, role: str = "admin", **kw: Any) -> requests.Response:
        n = self.fed.nodes[code]
        return self.session.request(method, n.url + path, headers={"Authorization": f"Bearer {n.tokens[role]}"},
                                    timeout=30, **kw)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _intake_to_county(c: _Client) -> list[float]:
    out = []
    for i in range(N_LATENCY):
        t0 = time.perf_counter()
        r = c.call("440000", "POST", "/api/v1/cases", "intake", json=_body("440305", "深圳市南山区某餐饮店", i, "phone"))
        r.raise_for_status()
        cid = r.json()["id"]
        deadline = t0 + 60
        while True:
            g = c.call("440305", "GET", f"/api/v1/cases/{cid}")
            if g.status_code == 200 and g.json()["held_as"] == "handler":
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{cid} never reached 440305")
            time.sleep(0.002)
        out.append(time.perf_counter() - t0)
    return out


def _held(c: _Client, code: str, query: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        r = c.call(code, "GET", f"/api/v1/cases?limit=200{query}" + (f"&cursor={cursor}" if cursor else ""))
        r.raise_for_status()
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def _cross_branch(c: _Client) -> dict[str, float]:
    t0 = time.perf_counter()
    ids = []
    for i in range(N_CROSS):
        r = c.call("440305", "POST", "/api/v1/cases", "intake",
                   json=_body("330106", "杭州市西湖区某服饰有限公司", i, "web"))
        r.raise_for_status()
        ids.append(r.json()["id"])
    taken = time.perf_counter() - t0
    want = set(ids)
    while True:
        got = {x["id"] for x in _held(c, "330106", "&held_as=handler&accepting_node=440305")} & want
        if len(got) == len(want):
            break
        if time.perf_counter() - t0 > 900:
            raise RuntimeError(f"only {len(got)} of {len(want)} cases reached 330106")
        time.sleep(0.5)
    arrived = time.perf_counter() - t0

    def conclude(cid: str) -> None:
        for body in ({"action": "accept"}, {"action": "conclude", "outcome": "mediated"}):
            r = c.call("330106", "POST", f"/api/v1/cases/{cid}/actions", "handler", json=body)
            r.raise_for_status()

    t1 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(conclude, ids))
    acted = time.perf_counter() - t1
    while True:
        done = {x["id"] for x in _held(c, "440305", "&status=concluded&accepting_node=440305")} & want
        if len(done) == len(want):
            break
        if time.perf_counter() - t1 > 900:
            raise RuntimeError(f"only {len(done)} of {len(want)} conclusions came back to 440305")
        time.sleep(0.5)
    back = time.perf_counter() - t1
    return {"taken_s": taken, "arrived_s": arrived, "acted_s": acted, "back_s": back}


def run() -> list[dict]:
    from admin_cli.demo import TREE, Federation, free_ports
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        fed = Federation(Path(tmp), 0, tree=TREE, log=lambda s: None)
        for n, port in zip(fed.nodes.values(), free_ports(len(fed.nodes)), strict=True):
            n.port = port
        try:
            fed.init_all(roles=("admin", "intake", "handler"))
            fed.start_all()
            fed.link_all()
            c = _Client(fed)
            lat = _intake_to_county(c)
            cross = _cross_branch(c)
        finally:
            fed.stop_all()
    ms = [v * 1000 for v in lat]
    return [
        {"name": f"intake at the province → held at the county (2 hops), p50 over {N_LATENCY} cases",
         "value": round(statistics.median(ms)), "unit": "ms", "command": COMMAND},
        {"name": "… p99", "value": round(_pct(ms, 99)), "unit": "ms", "command": COMMAND},
        {"name": "… max", "value": round(max(ms)), "unit": "ms", "command": COMMAND},
        {"name": f"{N_CROSS:,} cases Nanshan → HQ → Xihu (6 hops): intake at Nanshan (sequential POSTs)",
         "value": round(N_CROSS / cross["taken_s"]), "unit": "cases/s", "command": COMMAND},
        {"name": f"… routed throughput until all {N_CROSS:,} are held at Xihu",
         "value": round(N_CROSS / cross["arrived_s"]), "unit": "cases/s", "command": COMMAND},
        {"name": f"… time until all {N_CROSS:,} are held at Xihu", "value": f"{cross['arrived_s']:.1f}",
         "unit": "s", "command": COMMAND},
        {"name": f"… Xihu accepts and concludes all {N_CROSS:,} (4 client threads)", "value": f"{cross['acted_s']:.1f}",
         "unit": "s", "command": COMMAND},
        {"name": "… time from the first conclusion until every conclusion is back at Nanshan",
         "value": f"{cross['back_s']:.1f}", "unit": "s", "command": COMMAND},
    ]


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
