"""Reading cases: one case, the list with its filters and keyset cursor, substring search,
and the leadership board.

Serves CONTRACT §5 (``GET /api/v1/cases`` with ``status, kind, urgency, q, overdue,
handling_node, accepting_node, department``, ``limit``, ``cursor``), R2.3 (reports against
staff are listed for the ``discipline`` role only; to anyone else a hidden case does not
exist), R2.6 (the supervisor's overdue and "soon due" views) and R1.4 / R3.4 (open urgent and
critical cases at once on the leadership board).
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from peewee import SQL

from node.cases import standard
from node.cases.checks import check_text
from node.cases.common import (
    DEPARTMENTS,
    DISCIPLINE,
    DONE_STATUSES,
    LEADERSHIP_ROLES,
    READ_ROLES,
    dumps,
    intake_context,
    load_case,
    load_history,
    require_role,
    shanghai_today,
    show_time,
    to_api,
)
from node.cases.models import Case, CaseEvent
from node.db import is_sqlite
from node.errors import NodeError, invalid
from node.runtime import Node

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def get_case(node: Node, case_id: str, actor: Any) -> dict[str, Any]:
    """One case (404 also when the actor may not see it)."""
    require_role(actor, READ_ROLES)
    row = load_case(case_id, actor)
    return to_api(row, load_history(case_id))


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(dumps({"pk": pk}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pk = json.loads(raw)["pk"]
        if not isinstance(pk, int) or isinstance(pk, bool) or pk < 1:
            raise ValueError
        return pk
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid("cursor", "分页游标无效 / invalid cursor (use next_cursor as returned)") from None


LIST_FILTERS = ("status", "kind", "urgency", "q", "overdue", "handling_node", "accepting_node",
                "department", "held_as", "attention", "due_within_days")


def _parse_limit(limit: Any) -> int:
    if limit is None or limit == "":
        return DEFAULT_LIMIT
    try:
        n = int(limit)
    except (TypeError, ValueError):
        raise invalid("limit", f"limit 须为正整数 / limit must be a positive integer, got {str(limit)[:20]!r}") from None
    if n < 1:
        raise invalid("limit", "limit 须为正整数 / limit must be a positive integer")
    return min(n, MAX_LIMIT)


def _enum_filter(name: str, value: str, allowed: Any) -> str:
    if value not in allowed:
        raise NodeError(422, "invalid_enum", f"{name} 取值无效：{value[:40]}，可选值：{'、'.join(allowed)}"
                                             f" / {name} must be one of {', '.join(allowed)}", name)
    return value


def list_cases(node: Node, filters: Mapping[str, Any], actor: Any, limit: Any = None,
               cursor: str | None = None) -> dict[str, Any]:
    """Cases this node holds, newest first, keyset-paged: ``{"items", "next_cursor"}``.

    Filters: ``status``, ``kind``, ``urgency``, ``q`` (substring search over summary,
    description and respondent name), ``overdue`` (``true``/``false``), ``handling_node``,
    ``accepting_node``, ``department``, ``held_as`` (``handler``/``copy``: the cases this node
    handles, or the copies it keeps on the route and for supervision), ``attention``
    (``true``: flagged for a person by routing), ``due_within_days`` (N: open cases with a
    running clock due within N working days, overdue ones included — the supervisor's
    "soon due" view). Unknown filters are refused naming the field.
    """
    _check_filter_names(filters, actor)
    n = _parse_limit(limit)
    query = _filtered(node, filters, actor)
    if cursor:
        query = query.where(Case.pk < _decode_cursor(cursor))
    rows = list(query.order_by(Case.pk.desc()).limit(n + 1).dicts())
    more = len(rows) > n
    rows = rows[:n]
    return {"items": _with_history(rows),
            "next_cursor": _encode_cursor(rows[-1]["pk"]) if more else None}


def count_cases(node: Node, filters: Mapping[str, Any], actor: Any) -> int:
    """How many cases ``list_cases`` would list with these filters (the desk's tiles link to
    that list, so a count and its list never disagree)."""
    _check_filter_names(filters, actor)
    return _filtered(node, filters, actor).count()


def _check_filter_names(filters: Mapping[str, Any], actor: Any) -> None:
    require_role(actor, READ_ROLES)
    for key in filters:
        if key not in LIST_FILTERS:
            raise NodeError(422, "unknown_field", f"未知查询参数 {key} / unknown query parameter {key}",
                            str(key))


def _filtered(node: Node, filters: Mapping[str, Any], actor: Any):
    """The cases the actor may see that match ``filters`` (each value checked, 422 naming it)."""
    query = Case.select()
    if getattr(actor, "role", None) != DISCIPLINE:
        query = query.where(Case.department != DISCIPLINE)
    f = {k: v for k, v in filters.items() if v not in (None, "")}
    if "status" in f:
        query = query.where(Case.status == _enum_filter("status", f["status"], tuple(standard.STATUSES)))
    if "kind" in f:
        query = query.where(Case.kind == _enum_filter("kind", f["kind"], standard.ALL_KINDS))
    if "urgency" in f:
        query = query.where(Case.urgency == _enum_filter(
            "urgency", f["urgency"], tuple(u.value for u in standard.URGENCIES)))
    if "department" in f:
        query = query.where(Case.department == _enum_filter("department", f["department"], tuple(DEPARTMENTS)))
    if "overdue" in f:
        value = str(f["overdue"]).lower()
        if value not in ("true", "false", "1", "0"):
            raise invalid("overdue", "overdue 须为 true 或 false / overdue must be true or false")
        query = query.where(Case.overdue == (value in ("true", "1")))
    for key in ("handling_node", "accepting_node"):
        if key in f:
            query = query.where(getattr(Case, key) == str(f[key]))
    if "held_as" in f:
        query = query.where(Case.held_as == _enum_filter("held_as", str(f["held_as"]), ("handler", "copy")))
    if "attention" in f:
        value = str(f["attention"]).lower()
        if value not in ("true", "false", "1", "0"):
            raise invalid("attention", "attention 须为 true 或 false / attention must be true or false")
        query = query.where(Case.attention.is_null(value not in ("true", "1")))
    if "due_within_days" in f:
        try:
            days = int(str(f["due_within_days"]))
            if days < 0 or days > 366:
                raise ValueError
        except ValueError:
            raise invalid("due_within_days", "due_within_days 须为 0–366 的整数（工作日）/ due_within_days "
                                             "must be an integer 0-366 (working days)") from None
        today = shanghai_today(node)
        until = intake_context(node).calendar.add_working_days(today, days) if days else today
        query = query.where(Case.next_due.is_null(False) & (Case.next_due <= until)
                            & Case.status.not_in(tuple(DONE_STATUSES)))
    if "q" in f:
        q = check_text(f["q"], "q", max_length=200)
        if q:
            query = query.where(_search_clause(node, q))
    return query


def _search_clause(node: Node, q: str):
    """Chinese substring semantics without segmentation: FTS5 trigram (SQLite) for 3+
    characters, LIKE for shorter phrases; ILIKE (pg_trgm-indexed) on PostgreSQL."""
    if is_sqlite(node.db) and len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        sub = f"(SELECT case_id FROM case_search WHERE case_search MATCH {node.db.param})"
        return Case.case_id.in_(SQL(sub, [phrase]))
    return Case.search_text.contains(q)


def _with_history(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [r["case_id"] for r in rows]
    by_case: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for e in CaseEvent.for_cases(ids).dicts():
        by_case[e["case_id"]].append(e)
    return [to_api(r, by_case[r["case_id"]]) for r in rows]


def leadership_board(node: Node, actor: Any, limit: int = MAX_LIMIT) -> dict[str, Any]:
    """Open urgent and critical cases, critical first, newest first (R1.4, R3.4).

    Reports against staff stay with discipline inspection (R2.3) and are not listed.
    """
    require_role(actor, LEADERSHIP_ROLES)
    rows = list(Case.open_urgent(DONE_STATUSES, DISCIPLINE, limit))
    counts = {"critical": 0, "urgent": 0}
    for r in rows:
        counts[r["urgency"]] += 1
    return {"items": _with_history(rows), "counts": counts, "as_of": show_time(node.now())}
