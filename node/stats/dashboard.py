"""The figures of the data dashboard (数据看板, issue 11 item 8; R4.3 analysis, R8.2 free
query): one call that answers everything the desk's dashboard and its XLSX export show,
through the same functions as ``GET /api/v1/stats``, ``/units`` and ``/hotspots`` — so a
figure on the dashboard always equals the API's for the same parameters.

``trend`` adds what the API does not have: cases per receipt day over the range (from the
day projection, basis ``accepted``; from the day cube, basis ``handled`` — as ``query``).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from node.errors import invalid
from node.runtime import Node
from node.stats.common import BASES, as_date, check_params
from node.stats.cube import ensure_fresh
from node.stats.hotspots import hotspots
from node.stats.queries import Range, grouped, parse_range, query, rows_out
from node.stats.units import units

# the fields each drawn as a chart of its own, in the order the dashboard shows them
CHART_FIELDS: tuple[str, ...] = ("category", "kind", "channel", "region")


def _basis(params: Mapping[str, Any]) -> str:
    basis = params.get("basis") or "accepted"
    if basis not in BASES:
        raise invalid("basis", f"basis 须为 {'、'.join(BASES)} / basis must be accepted or handled", code="invalid_enum")
    return str(basis)


def trend(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """Cases per receipt day (Asia/Shanghai) over ``from``..``to``, every day listed (0 when
    none); on basis ``accepted`` from the day projection, on ``handled`` from the day cube.
    The days sum to ``query``'s ``totals.cases`` for the same range and basis."""
    check_params(params, ("from", "to", "basis"))
    rng = parse_range(params, node.now(), node.config.stats.max_range_days)
    basis = _basis(params)
    ensure_fresh(node)
    return _trend(node, rng, basis)


def _trend(node: Node, rng: Range, basis: str) -> dict[str, Any]:
    p = node.db.param
    a, b = rng.start.isoformat(), rng.end.isoformat()
    if basis == "accepted":
        sql = (f'SELECT "start", SUM("cases") FROM "stats_agg" WHERE "dim" = \'\' AND "grain" = \'d\' '
               f'AND "start" BETWEEN {p} AND {p} GROUP BY "start"')
        args: list[Any] = [a, b]
    else:
        sql = (f'SELECT "day", SUM("cases") FROM "stats_row" WHERE "basis" = {p} AND "day" BETWEEN {p} AND {p} '
               'GROUP BY "day"')
        args = [basis, a, b]
    per_day = {as_date(d): int(n or 0) for d, n in node.db.execute_sql(sql, args).fetchall()}
    days = [rng.start + timedelta(days=i) for i in range(rng.days)]
    return {"scope": node.code, "from": a, "to": b, "basis": basis,
            "days": [d.isoformat() for d in days], "cases": [per_day.get(d, 0) for d in days]}


def dashboard(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the dashboard shows for ``from``, ``to``, ``group_by``, ``basis`` (the
    parameters of ``GET /api/v1/stats``, checked the same way and refused with the same
    422 naming the field):

    - ``figures``: ``query(params)`` itself — totals, the rows grouped as asked, coverage;
    - ``by``: the rows grouped by each of ``CHART_FIELDS`` (same range and basis), as
      ``query`` with that ``group_by`` answers them;
    - ``trend``: cases per receipt day;
    - ``units``: ``units`` over the range (unit performance and ranking);
    - ``hotspots``: ``hotspots`` for the week ending on ``to``.

    ``query`` brings the aggregates up to date first; the chart rows and the trend are then
    read with ``query``'s own readers without doing it again (each refresh costs a look at
    the case table, several per page at 100,000 cases otherwise).
    """
    figures = query(node, params)
    rng = Range(date.fromisoformat(figures["from"]), date.fromisoformat(figures["to"]))
    basis = figures["basis"]
    by = {field: (figures["rows"] if figures["group_by"] == [field]
                  else rows_out(grouped(node, rng, [field], basis), [field]))
          for field in CHART_FIELDS}
    return {"figures": figures, "by": by, "trend": _trend(node, rng, basis),
            "units": units(node, {"from": figures["from"], "to": figures["to"]}),
            "hotspots": hotspots(node, {"date": figures["to"]})}
