"""Unit performance and ranking (R7.6 performance assessment, R8.2;
``GET /api/v1/stats/units``): per direct subordinate unit, over its whole subtree, rates
from the ``@unit`` projection — acceptance, on-time acceptance and conclusion, mediation
success, satisfaction — and one score to rank them by (``RANKING_RULE``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.models import Link
from node.runtime import Node
from node.stats.common import check_params
from node.stats.cube import ensure_fresh, sum_cols
from node.stats.models import MEASURES
from node.stats.queries import agg_parts, as_of, coverage, measures_out, parse_range

RANKING_RULE = ("按综合得分排序：按期受理率、按期办结率、调解成功率、满意率四项中有数据的各项平均；得分相同者超期件数少者在前 / "
                "ranked by the mean of the available rates among on-time acceptance, on-time conclusion, "
                "mediation success and satisfaction; ties: fewer overdue cases first")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def unit_metrics(accepted: Mapping[str, Any], handled: Mapping[str, Any]) -> dict[str, Any]:
    h = handled
    mediation_tries = h["mediated"] + h["settled"] + h["not_mediated"]
    feedback = h["satisfied"] + h["basically_satisfied"] + h["dissatisfied"]
    out = {
        "cases_taken": accepted["cases"],
        "cases_handled": h["cases"],
        "acceptance_rate": _rate(h["accepted"], h["decided"]),
        "on_time_acceptance_rate": _rate(h["accepted_on_time"], h["decided"]),
        "on_time_conclusion_rate": _rate(h["concluded_on_time"], h["concluded"]),
        "mediation_success_rate": _rate(h["mediated"] + h["settled"], mediation_tries),
        "amount_recovered": h["amount_recovered"],
        "satisfaction_rate": _rate(h["satisfied"] + h["basically_satisfied"], feedback),
        "overdue": h["overdue"],
    }
    rates = [out[k] for k in ("on_time_acceptance_rate", "on_time_conclusion_rate", "mediation_success_rate",
                              "satisfaction_rate") if out[k] is not None]
    out["score"] = round(sum(rates) / len(rates), 4) if rates else None
    return out


def units(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats/units``: per direct subordinate unit, over its whole subtree."""
    check_params(params, ("from", "to"))
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    ensure_fresh(node)
    union, args = agg_parts(node, "@unit", rng, '"unit", "basis"')
    raw = node.db.execute_sql(f'SELECT "unit", "basis", {sum_cols()} FROM ({union}) t GROUP BY "unit", "basis"',
                              args).fetchall()
    figures: dict[tuple[str, str], dict[str, Any]] = {(u, b): measures_out(r) for u, b, *r in raw}
    zero = measures_out([0] * len(MEASURES))
    links = list(Link.select(Link.code, Link.name, Link.level, Link.state)
                 .where((Link.role == "child") & (Link.state != "revoked")).order_by(Link.code))
    out = []
    for link in links:
        m = unit_metrics(figures.get((link.code, "accepted"), zero), figures.get((link.code, "handled"), zero))
        out.append({"code": link.code, "name": link.name, "level": link.level, **m})
    out.sort(key=lambda u: (u["score"] is None, -(u["score"] or 0), u["overdue"], u["code"]))
    for i, u in enumerate(out, 1):
        u["rank"] = i
    own = unit_metrics(figures.get((node.code, "accepted"), zero), figures.get((node.code, "handled"), zero))
    return {"scope": node.code, "scope_name": node.config.name, "from": rng.start.isoformat(),
            "to": rng.end.isoformat(), "as_of": as_of(node), "units": out,
            "own": {"code": node.code, "name": node.config.name, **own},
            "ranking_rule": RANKING_RULE, "coverage": coverage(node, now)}
