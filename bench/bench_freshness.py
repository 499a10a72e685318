"""``python -m bench freshness`` (issue 15 item 4, P6): seconds from a case taken at the bottom
of a chain of real ``n12315 serve`` processes to the count at the top, with the default
configuration and no command (``stats.forward``, docs/statistics.md "When").

The chain is station → county → prefecture → province → HQ on 127.0.0.1, initialised and
linked through the CLI (``admin_cli.demo.Federation``). The demo's faster replication
intervals are put back to the defaults, so the figure is what an operator gets. Each round
takes one complaint at the station through ``POST /api/v1/cases`` and polls HQ's
``GET /api/v1/stats`` every 0.25 s until the total goes up. ``N12315_FRESHNESS_ROUNDS``
rounds (default 3). ``tests/process/test_stats_freshness.py`` runs ``measure`` on three
levels and asserts under a minute.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from admin_cli.demo import TREE, Federation, free_ports

CHAIN = TREE[:5]   # the demo's Guangdong branch: HQ → province → prefecture → county → station
# Federation.start speeds replication up for the demo; a fresh-figures measure must not
DEFAULT_REPLICATION = {"N12315_REPLICATION__PUSH_INTERVAL_S": "2.0", "N12315_REPLICATION__PULL_INTERVAL_S": "15",
                       "N12315_REPLICATION__BACKOFF_CAP_S": "3600"}


def complaint(i: int) -> dict[str, Any]:
    return {"kind": "complaint", "channel": "phone", "category": "S0304",
            "summary": f"时效测量投诉 {i}", "description": "统计时效测量 / freshness measure",
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": "深圳市某某电器有限公司", "region_code": "440305", "address": ""}}


def top_count(fed: Federation, code: str) -> int:
    r = fed.api(code, "GET", "/api/v1/stats", role="analyst")
    r.raise_for_status()
    return int(r.json()["totals"]["cases"])


def measure(tree: list[tuple[str, str, str, str | None]], base: Path, rounds: int = 3, timeout_s: float = 180,
            say: Callable[[str], None] = lambda s: None) -> list[float]:
    """Start ``tree`` (top first) as real processes; per round, the seconds from a case
    taken at the last node to the first node's total counting it."""
    fed = Federation(base, 0, tree=tree, log=lambda s: None, env=DEFAULT_REPLICATION)
    for n, port in zip(fed.nodes.values(), free_ports(len(fed.nodes)), strict=True):
        n.port = port
    top, bottom = tree[0][1], tree[-1][1]
    seconds: list[float] = []
    try:
        fed.init_all(roles=("admin", "intake", "analyst"))
        fed.start_all()
        fed.link_all()
        say(f"{len(tree)} processes linked: {' → '.join(c for _, c, _, _ in reversed(tree))}")
        for i in range(rounds):
            before = top_count(fed, top)
            r = fed.api(bottom, "POST", "/api/v1/cases", role="intake", json=complaint(i))
            if r.status_code != 201:
                raise RuntimeError(f"intake at {bottom}: {r.status_code} {r.text[:300]}")
            started = time.monotonic()
            while top_count(fed, top) < before + 1:
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError(f"{top} did not count the case within {timeout_s:g} s")
                time.sleep(0.25)
            seconds.append(time.monotonic() - started)
            say(f"round {i + 1}: {seconds[-1]:.1f} s")
            if top_count(fed, top) != before + 1:
                raise RuntimeError(f"{top} counts {top_count(fed, top)}, expected {before + 1} (counted twice?)")
    finally:
        fed.stop_all()
    return seconds


def run() -> list[dict[str, Any]]:
    rounds = int(os.environ.get("N12315_FRESHNESS_ROUNDS", "3"))
    with tempfile.TemporaryDirectory(prefix="n12315-freshness-") as tmp:
        seconds = measure(CHAIN, Path(tmp), rounds=rounds, say=lambda s: print(f"  {s}", flush=True))
    cmd = "python -m bench freshness"
    return [{"name": "intake at a station → counted at HQ, 5 real processes, default config (median) "
                     "— goal < 60 s", "value": f"{sorted(seconds)[len(seconds) // 2]:.1f}", "unit": "s", "command": cmd},
            {"name": "… slowest of the rounds", "value": f"{max(seconds):.1f}", "unit": "s", "command": cmd},
            {"name": "… rounds", "value": ", ".join(f"{s:.1f}" for s in seconds), "unit": "s", "command": cmd}]
