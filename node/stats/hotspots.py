"""Hot spots and early-warning leads (R4.3 analysis, R4.5 evidence for supervision;
``GET /api/v1/stats/hotspots``): week-over-week surges per category, region and firm — a
count this high must be both well above last week's and unlikely under a Poisson model of
it (``surge``) — and the most-complained firms of the week.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import node.cases as case_domain
from node.divisions import load_divisions
from node.errors import invalid
from node.runtime import Node
from node.stats.common import as_date, check_params, quoted, today
from node.stats.cube import ensure_fresh
from node.stats.queries import Range, as_of, coverage, parse_day


def poisson_sf(x: int, lam: float) -> float:
    """P(X ≥ x) for X ~ Poisson(lam): the chance of a count this high if nothing changed."""
    if x <= 0:
        return 1.0
    log_lam = math.log(lam)
    total = 0.0
    for k in range(x):
        total += math.exp(k * log_lam - lam - math.lgamma(k + 1))
    return max(0.0, min(1.0, 1.0 - total))


def surge(this_week: int, last_week: int, *, min_count: int, ratio: float, alpha: float) -> tuple[bool, float]:
    """The hot-spot rule: this week ≥ max(min_count, ratio × last week) **and** the Poisson
    upper tail P(X ≥ this week | λ = max(last week, 1)) < alpha. Returns (surge, p)."""
    lam = float(max(last_week, 1))
    p = poisson_sf(this_week, lam)
    return (this_week >= max(min_count, ratio * last_week) and p < alpha), p


def hotspots(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats/hotspots``: week-over-week surges per category, region and firm,
    and the most-complained firms of the week (``date``: the week's last day, default today)."""
    check_params(params, ("date", "top"))
    now = node.now()
    end = parse_day(params["date"], "date") if params.get("date") else today(now)
    top_raw = params.get("top")
    cfg = node.config.stats
    try:
        top = int(top_raw) if top_raw not in (None, "") else cfg.hotspot_top_firms
    except (TypeError, ValueError):
        raise invalid("top", "top 须为正整数 / top must be a positive integer") from None
    if top < 1 or top > 1000:
        raise invalid("top", "top 须在 1 到 1000 之间 / top must be between 1 and 1000")
    ensure_fresh(node)
    week = Range(end - timedelta(days=6), end)
    prev = Range(end - timedelta(days=13), end - timedelta(days=7))
    p = node.db.param
    counts: dict[tuple[str, str], list[int]] = {}
    for dim in ("category", "region"):
        raw = node.db.execute_sql(
            f'SELECT {quoted(dim)}, "start", "cases" FROM "stats_agg" WHERE "dim" = {p} AND "grain" = \'d\' '
            f'AND "start" BETWEEN {p} AND {p}', (dim, prev.start.isoformat(), week.end.isoformat())).fetchall()
        for value, start, cases in raw:
            slot = 0 if as_date(start) >= week.start else 1
            counts.setdefault((dim, value or ""), [0, 0])[slot] += int(cases)
    firm_names: dict[str, str] = {}
    firm_region: dict[str, str] = {}
    firm_split: dict[str, list[int]] = {}
    raw = node.db.execute_sql(
        'SELECT "uscc", "day", MAX("name"), MAX("region"), SUM("cases"), SUM("complaints"), SUM("reports") '
        f'FROM "stats_firm" WHERE "day" BETWEEN {p} AND {p} GROUP BY "uscc", "day"',
        (prev.start.isoformat(), week.end.isoformat())).fetchall()
    for uscc, day, name, region, cases, complaints, reports in raw:
        slot = 0 if as_date(day) >= week.start else 1
        counts.setdefault(("firm", uscc), [0, 0])[slot] += int(cases)
        if name:
            firm_names[uscc] = name
        if region:
            firm_region[uscc] = region
        if slot == 0:
            s = firm_split.setdefault(uscc, [0, 0])
            s[0] += int(complaints)
            s[1] += int(reports)
    divisions = load_divisions()
    # through the package: node.cases.categories is also a module (tests/test_layout.py)
    cats = case_domain.categories(node)
    found = []
    for (dim, value), (x, y) in counts.items():
        hit, pv = surge(x, y, min_count=cfg.hotspot_min_count, ratio=cfg.hotspot_ratio, alpha=cfg.hotspot_alpha)
        if not hit:
            continue
        name = (cats.name(value) if dim == "category" else divisions.full_name(value) if dim == "region"
                else firm_names.get(value)) or None
        found.append({"dimension": dim, "value": value, "name": name, "this_week": x, "last_week": y,
                      "ratio": round(x / y, 2) if y else None, "p_value": float(f"{pv:.3g}")})
    found.sort(key=lambda h: (h["p_value"], -h["this_week"], h["dimension"], h["value"]))
    firms = sorted(((u, c) for (d, u), c in counts.items() if d == "firm" and c[0] > 0),
                   key=lambda t: (-t[1][0], t[0]))[:top]
    top_firms = [{"uscc": u, "name": firm_names.get(u), "region": firm_region.get(u) or None, "cases": c[0],
                  "complaints": firm_split.get(u, [0, 0])[0], "reports": firm_split.get(u, [0, 0])[1],
                  "last_week": c[1]} for u, c in firms]
    return {"scope": node.code, "scope_name": node.config.name,
            "week": {"from": week.start.isoformat(), "to": week.end.isoformat()},
            "previous_week": {"from": prev.start.isoformat(), "to": prev.end.isoformat()},
            "rule": {"min_count": cfg.hotspot_min_count, "ratio": cfg.hotspot_ratio, "alpha": cfg.hotspot_alpha,
                     "text": (f"本周件数 ≥ max({cfg.hotspot_min_count}, {cfg.hotspot_ratio} × 上周件数)，且泊松上尾概率 "
                              f"P(X ≥ 本周 | λ = max(上周, 1)) < {cfg.hotspot_alpha} / this week ≥ "
                              f"max({cfg.hotspot_min_count}, {cfg.hotspot_ratio} × last week) and the Poisson "
                              f"upper tail P(X ≥ this week | λ = max(last week, 1)) < {cfg.hotspot_alpha}")},
            "as_of": as_of(node), "hotspots": found, "top_firms": top_firms, "coverage": coverage(node, now)}
