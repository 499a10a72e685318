"""Demo checks of the statistics flow (``n12315 demo --check``; CONTRACT §7, §8; R4.2).

Every node pushes its rollup bottom-up through the CLI (``n12315 stats push --wait``), then
HQ's ``GET /api/v1/stats`` must count exactly the cases the demo took in, split by kind
exactly, with every node of the tree reporting; every other node must count exactly the
cases taken in its own subtree.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from admin_cli.demo import DemoError, Federation, cli_cmd
from admin_cli.demo_checks import check


def _depth(fed: Federation, code: str) -> int:
    n, d = fed.nodes[code], 0
    while n.parent:
        n, d = fed.nodes[n.parent], d + 1
    return d


def _within(fed: Federation, code: str, ancestor: str) -> bool:
    while code:
        if code == ancestor:
            return True
        code = fed.nodes[code].parent if code in fed.nodes else None  # type: ignore[assignment]
    return False


def _push_bottom_up(fed: Federation) -> None:
    for n in sorted(fed.nodes.values(), key=lambda n: -_depth(fed, n.code)):
        proc = cli_cmd(n.home, "stats", "push", "--wait", "30", check=False)
        if proc.returncode != 0:
            raise DemoError(f"{n.code}: stats push failed: {proc.stderr.strip()}")


def _range(created: list[dict[str, Any]]) -> tuple[str, str]:
    days = sorted(datetime.fromisoformat(c["received_at"]).date().isoformat() for c in created)
    return days[0], days[-1]


@check("统计 / HQ counts every case taken once, the by-kind split is exact, every node reports")
def stats_hq_total(fed: Federation, created: list[dict[str, Any]]) -> str:
    _push_bottom_up(fed)
    frm, to = _range(created)
    resp = fed.api("000000", "GET", f"/api/v1/stats?from={frm}&to={to}&group_by=kind", role="analyst")
    if resp.status_code != 200:
        raise DemoError(f"GET /api/v1/stats at HQ: {resp.status_code} {resp.text[:200]}")
    doc = resp.json()
    want = Counter(c["kind"] for c in created)
    got = Counter({r["kind"]: r["cases"] for r in doc["rows"] if r["cases"]})
    if doc["totals"]["cases"] != len(created) or got != want:
        raise DemoError(f"HQ counts {doc['totals']['cases']} cases {dict(got)}; the demo took in "
                        f"{len(created)} {dict(want)}")
    cov = doc["coverage"]
    expected = len(fed.nodes) - 1
    if (cov["nodes_expected"], cov["nodes_reporting"], cov["stale"]) != (expected, expected, []):
        raise DemoError(f"HQ coverage incomplete: {cov}")
    split = "，".join(f"{k} {v}" for k, v in sorted(want.items()))
    return (f"总局合计 {len(created)} 件 = 录入 {len(created)} 件（{split}），覆盖 {expected}/{expected} / "
            f"HQ total equals the cases taken, by kind exact, coverage complete")


@check("统计 / every node counts exactly the cases taken in its subtree")
def stats_every_tier(fed: Federation, created: list[dict[str, Any]]) -> str:
    frm, to = _range(created)
    for code in fed.nodes:
        resp = fed.api(code, "GET", f"/api/v1/stats?from={frm}&to={to}&group_by=kind", role="analyst")
        if resp.status_code != 200:
            raise DemoError(f"GET /api/v1/stats at {code}: {resp.status_code} {resp.text[:200]}")
        want = Counter(c["kind"] for c in created if _within(fed, c["accepting_node"], code))
        got = Counter({r["kind"]: r["cases"] for r in resp.json()["rows"] if r["cases"]})
        if got != want:
            raise DemoError(f"{code} counts {dict(got)}; its subtree took in {dict(want)}")
    return f"{len(fed.nodes)} 个节点的辖区合计均准确 / every tier exact"
