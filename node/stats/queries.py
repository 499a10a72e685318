"""Answers to ``GET /api/v1/stats`` and ``GET /api/v1/stats/direct`` (CONTRACT §7; R4.2,
R4.3 free query, R7.2, R8.2), and what every reader shares: the checked range and group-by
fields, the cover of a range by month, dekad and day projections, and coverage (which
nodes of the subtree have reported, and how freshly).

``query`` answers from the months, dekads and days that cover the range — never from the
case table; several group-by fields at once, or basis ``handled``, are summed from the day
cube. ``query_direct`` (HQ only) reads the direct-report rows, kept apart from the national
totals.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from node.errors import NodeError, invalid, shown
from node.runtime import Node
from node.stats.common import (
    BASES,
    DATE_RE,
    GROUP_FIELDS,
    OUTPUT_MEASURES,
    aware,
    check_params,
    dekad_end,
    is_hq,
    month_end,
    quoted,
    show_time,
    today,
    yuan,
)
from node.stats.cube import ensure_fresh, sum_cols
from node.stats.direct import direct_points
from node.stats.models import COUNT_MEASURES, MEASURES, StatsMember, StatsState
from replication import topology


# -- parameters ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_day(value: Any, name: str) -> date:
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise invalid(name, f"{name} 日期格式应为 YYYY-MM-DD：{shown(str(value), 20)!r} / {name} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(name, f"{name} 不是有效日期：{shown(value, 20)} / {name} is not a valid date") from None


def parse_range(params: Mapping[str, Any], now: datetime, max_days: int, default_days: int = 30) -> Range:
    """``from``/``to`` (Asia/Shanghai dates, both included); default: the last 30 days."""
    to_raw, from_raw = params.get("to"), params.get("from")
    end = parse_day(to_raw, "to") if to_raw not in (None, "") else today(now)
    start = parse_day(from_raw, "from") if from_raw not in (None, "") else end - timedelta(days=default_days - 1)
    if start > end:
        raise invalid("from", f"起始日期 {start} 晚于截止日期 {end} / from is after to")
    rng = Range(start, end)
    if rng.days > max_days:
        raise invalid("to", f"查询跨度 {rng.days} 天，超过上限 {max_days} 天 / the range spans {rng.days} days; "
                            f"at most {max_days} (stats.max_range_days)", code="range_too_long")
    return rng


def parse_group_by(value: Any, allowed: Sequence[str] = GROUP_FIELDS) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise invalid("group_by", "group_by 须为逗号分隔的字段名 / group_by is a comma-separated list")
    out: list[str] = []
    for name in (v.strip() for v in value.split(",")):
        if name not in allowed:
            raise invalid("group_by", f"未知的分组字段 {name[:30]!r}，可选：{'、'.join(allowed)} / unknown group_by "
                                      f"field {name[:30]!r}; one of {', '.join(allowed)}", code="unknown_field")
        if name not in out:
            out.append(name)
    return out


# -- reading the projections ----------------------------------------------------------------------
def split_range(rng: Range) -> list[tuple[str, date, date]]:
    """Cover the range with the coarsest grains: whole months, then whole dekads (旬), then
    days; ``(grain, first start, last start)`` per contiguous run, so each run is one
    index range scan. A year costs at most 12 months + 4 dekads + 18 days of rows."""
    pieces: list[tuple[str, date]] = []
    cur = rng.start
    while cur <= rng.end:
        if cur.day == 1 and month_end(cur) <= rng.end:
            pieces.append(("m", cur))
            cur = month_end(cur) + timedelta(days=1)
        elif cur.day in (1, 11, 21) and dekad_end(cur) <= rng.end:
            pieces.append(("x", cur))
            cur = dekad_end(cur) + timedelta(days=1)
        else:
            pieces.append(("d", cur))
            cur += timedelta(days=1)
    runs: list[tuple[str, date, date]] = []
    for grain, first in pieces:
        if runs and runs[-1][0] == grain:
            runs[-1] = (grain, runs[-1][1], first)
        else:
            runs.append((grain, first, first))
    return runs


_N_COUNTS = len(COUNT_MEASURES)


def measures_out(values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(COUNT_MEASURES, [int(v or 0) for v in values[:_N_COUNTS]], strict=True))
    out["amount"] = yuan(values[_N_COUNTS])
    out["amount_recovered"] = yuan(values[_N_COUNTS + 1])
    return out


def agg_parts(node: Node, dim: str, rng: Range, cols: str) -> tuple[str, list[Any]]:
    """A UNION ALL over ``stats_agg``: months, dekads and days covering the range."""
    p = node.db.param
    parts, args = [], []
    sel = f'SELECT {cols}, {", ".join(quoted(m) for m in MEASURES)} FROM "stats_agg"'
    for grain, a, b in split_range(rng):
        parts.append(f'{sel} WHERE "dim" = {p} AND "grain" = {p} AND "start" BETWEEN {p} AND {p}')
        args += [dim, grain, a.isoformat(), b.isoformat()]
    return " UNION ALL ".join(parts), args


def grouped(node: Node, rng: Range, group_by: Sequence[str], basis: str) -> list[tuple[Any, ...]]:
    """Rows ``(group values..., measures...)`` for the range, from the projections."""
    p = node.db.param
    gcols = ", ".join(quoted(g) for g in group_by)
    sums = sum_cols()
    if basis == "accepted" and len(group_by) <= 1:
        dim = group_by[0] if group_by else ""
        union, args = agg_parts(node, dim, rng, gcols or "''")
        if not group_by:
            sql = f"SELECT {sums} FROM ({union}) t"
        else:
            sql = f"SELECT {gcols}, {sums} FROM ({union}) t GROUP BY {gcols}"
        return node.db.execute_sql(sql, args).fetchall()
    # several fields, or basis handled: straight from the day cube (exact for any
    # combination; slower at HQ scale, see docs/statistics.md)
    head = f"{gcols}, " if gcols else ""
    tail = f" GROUP BY {gcols}" if gcols else ""
    sql = f'SELECT {head}{sums} FROM "stats_row" WHERE "basis" = {p} AND "day" BETWEEN {p} AND {p}{tail}'
    return node.db.execute_sql(sql, [basis, rng.start.isoformat(), rng.end.isoformat()]).fetchall()


def rows_out(raw: Sequence[Sequence[Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Grouped rows as the API shows them, most cases first (thousands of rows at HQ: kept
    to one dict build per row). Grouped sums are never NULL: every cube column is NOT NULL."""
    n = len(group_by)
    keys = (*group_by, *OUTPUT_MEASURES)
    cut = n + _N_COUNTS
    raw = sorted(raw, key=lambda r: (-int(r[n]), *[str(v) for v in r[:n]]))
    return [dict(zip(keys, (*r[:cut], yuan(r[cut]), yuan(r[cut + 1])), strict=True)) for r in raw]


# -- coverage and the answers ----------------------------------------------------------------------
def coverage(node: Node, now: datetime) -> dict[str, Any]:
    """How many nodes of the known subtree have a fresh snapshot here (CONTRACT §7).

    Expected: this node's children as linked, plus every descendant they reported.
    Stale: expected nodes whose latest snapshot is older than ``stats.stale_after_hours``
    (or that never reported). Reporting: expected minus stale.
    """
    children = topology.child_codes()
    gen = StatsState.get_value("members_gen", "0")
    cached = node.cache.get("stats_members")
    if cached is None or cached[0] != gen:
        last: dict[str, datetime] = {}
        for via, member, at in StatsMember.select(StatsMember.via, StatsMember.member, StatsMember.reported_at).tuples():
            at = aware(at)
            if member not in last or at > last[member][1]:
                last[member] = (via, at)  # type: ignore[assignment]
        cached = (gen, last)
        node.cache["stats_members"] = cached
    last_by_member: dict[str, Any] = cached[1]
    kids = set(children)
    expected = set(kids) | {m for m, (via, _) in last_by_member.items() if via in kids}
    expected.discard(node.code)
    hours = node.config.stats.stale_after_hours
    threshold = now - timedelta(hours=hours)
    stale = sorted(c for c in expected
                   if c not in last_by_member or last_by_member[c][0] not in kids or last_by_member[c][1] < threshold)
    return {"nodes_reporting": len(expected) - len(stale), "nodes_expected": len(expected), "stale": stale,
            "stale_after_hours": hours}


def as_of(node: Node) -> str | None:
    """When the projections were last rebuilt: the age of the figures an answer shows."""
    return show_time(StatsState.get_value("refreshed_at")) or show_time(node.now())


QUERY_PARAMS = ("from", "to", "group_by", "basis")


def query(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats`` (CONTRACT §7): figures of this node's whole subtree."""
    check_params(params, QUERY_PARAMS)
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    group_by = parse_group_by(params.get("group_by"))
    basis = params.get("basis") or "accepted"
    if basis not in BASES:
        raise invalid("basis", f"basis 须为 {'、'.join(BASES)} / basis must be accepted or handled", code="invalid_enum")
    ensure_fresh(node)
    totals_raw = grouped(node, rng, [], basis)
    totals = measures_out(totals_raw[0] if totals_raw else [0] * len(MEASURES))
    rows = rows_out(grouped(node, rng, group_by, basis), group_by) if group_by else []
    return {"scope": node.code, "scope_name": node.config.name, "from": rng.start.isoformat(),
            "to": rng.end.isoformat(), "group_by": group_by, "basis": basis, "as_of": as_of(node),
            "totals": totals, "rows": rows, "coverage": coverage(node, now)}


def query_direct(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """At HQ: the figures the direct-report points sent straight to HQ — shown apart from
    the national totals (R4.2). ``node`` filters one point; ``group_by`` may add ``node``."""
    check_params(params, (*QUERY_PARAMS, "node"))
    if not is_hq(node):
        raise NodeError(409, "not_hq", "数据直报只在总局汇总 / direct reports are kept at HQ only")
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    group_by = parse_group_by(params.get("group_by"), (*GROUP_FIELDS, "node"))
    basis = params.get("basis") or "accepted"
    if basis not in BASES:
        raise invalid("basis", "basis 须为 accepted 或 handled / basis must be accepted or handled", code="invalid_enum")
    point = params.get("node")
    p = node.db.param
    cols = ", ".join('"source"' if g == "node" else quoted(g) for g in group_by)
    where = f'"basis" = {p} AND "day" BETWEEN {p} AND {p}'
    args: list[Any] = [basis, rng.start.isoformat(), rng.end.isoformat()]
    if point:
        where += f' AND "source" = {p}'
        args.append(point)
    sums = sum_cols()
    total = node.db.execute_sql(f'SELECT {sums} FROM "stats_direct_row" WHERE {where}', args).fetchall()
    rows = []
    if group_by:
        raw = node.db.execute_sql(f'SELECT {cols}, {sums} FROM "stats_direct_row" WHERE {where} GROUP BY {cols}',
                                  args).fetchall()
        rows = rows_out(raw, group_by)
    points = direct_points(node)
    reporting = [c for c, v in points.items() if v["designated"] and v["last_report_at"]]
    return {"scope": node.code, "source": "direct_report", "from": rng.start.isoformat(), "to": rng.end.isoformat(),
            "group_by": group_by, "basis": basis, "as_of": show_time(now),
            "totals": measures_out(total[0] if total else [0] * len(MEASURES)), "rows": rows,
            "points": list(points.values()),
            "coverage": {"nodes_reporting": len(reporting),
                         "nodes_expected": sum(1 for v in points.values() if v["designated"]),
                         "stale": sorted(c for c, v in points.items() if v["designated"] and c not in reporting)}}
