"""Reading cases: one case, the list with its filters and keyset cursor, substring search,
and the leadership board.

Serves CONTRACT §5 (``GET /api/v1/cases`` with ``status, kind, urgency, q, overdue,
handling_node, accepting_node, department``, ``limit``, ``cursor``), R2.3 (reports against
staff are listed for the ``discipline`` role only; to anyone else a hidden case does not
exist), R2.6 (the supervisor's overdue and "soon due" views) and R1.4 / R3.4 (open urgent and
critical cases at once on the leadership board). What a list, the board or the export shows
of the complainant is masked by role (issue 13 item 3; ``personal_view``); ``read_case`` and
``reveal_case`` are one case as a person reads it and its deliberate, recorded full read.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
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
    intake_context,
    load_case,
    load_history,
    require_role,
    shanghai_today,
    show_time,
    superseded_history,
    to_api,
)
from node.cases.models import Case, CaseEvent
from node.cases.personal_view import present, present_all, reveal
from node.db import is_sqlite
from node.errors import NodeError, invalid, shown
from node.privacy import keyring_of, phone_hashes
from node.runtime import Node
from node.web.paging import bad_cursor, open_cursor, parse_limit, query_digest, seal_cursor

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def get_case(node: Node, case_id: str, actor: Any) -> dict[str, Any]:
    """One case (404 also when the actor may not see it)."""
    require_role(actor, READ_ROLES)
    row = load_case(case_id, actor)
    case = to_api(row, load_history(case_id))
    kept = superseded_history(case_id)
    if kept:      # only at a copy that received a contradicting history (docs/audit.md)
        case["superseded_history"] = kept
    return case


def read_case(node: Node, case_id: str, actor: Any) -> dict[str, Any]:
    """One case as ``actor`` reads it: in full for its handler and intake, else masked (issue 13
    item 3). ``get_case`` is the full case for the domains' own use, never shown as it is."""
    return present(node, get_case(node, case_id, actor), actor)


def reveal_case(node: Node, case_id: str, actor: Any, payload: Any, *, via: str) -> dict[str, Any]:
    """One case in full for a read with a written reason, recorded as ``pii.read`` (issue 13
    items 3-4); 400 naming ``reason`` when it is missing or too short, nothing recorded."""
    return reveal(node, get_case(node, case_id, actor), actor, payload, via=via)


_MAX_PK = 2 ** 63 - 1      # the largest key a BIGINT column holds


def _scope(filters: Mapping[str, Any], sort: str) -> str:
    """What a cursor is bound to: the list's filters and its order (issue 13)."""
    return query_digest(filters, sort=sort)


def _pk_of(position: Mapping[str, Any]) -> int:
    pk = position.get("pk")
    if not isinstance(pk, int) or isinstance(pk, bool) or not 1 <= pk <= _MAX_PK:
        raise bad_cursor()
    return pk


LIST_FILTERS = ("status", "kind", "urgency", "q", "overdue", "handling_node", "accepting_node",
                "department", "held_as", "attention", "due_within_days")


def _parse_limit(limit: Any) -> int:
    return parse_limit(limit, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)


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
    scope = _scope(filters, "newest")
    if cursor:
        query = query.where(Case.pk < _pk_of(open_cursor(node, scope, cursor)))
    rows = list(query.order_by(Case.pk.desc()).limit(n + 1).dicts())
    more = len(rows) > n
    rows = rows[:n]
    return {"items": present_all(node, _with_history(rows), actor),
            "next_cursor": seal_cursor(node, scope, {"pk": rows[-1]["pk"]}) if more else None}


def count_cases(node: Node, filters: Mapping[str, Any], actor: Any) -> int:
    """How many cases ``list_cases`` would list with these filters (the desk's tiles link to
    that list, so a count and its list never disagree)."""
    _check_filter_names(filters, actor)
    return _filtered(node, filters, actor).count()


def _check_filter_names(filters: Mapping[str, Any], actor: Any) -> None:
    require_role(actor, READ_ROLES)
    for key in filters:
        if key not in LIST_FILTERS:
            name = shown(str(key), 30)
            raise NodeError(422, "unknown_field", f"未知查询参数 {name} / unknown query parameter {name}", name)


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
    return {"items": present_all(node, _with_history(rows), actor), "counts": counts, "as_of": show_time(node.now())}


# -- the desk's list: sorted, keyset-paged; its export; duplicate hints (issue 11 items 3-4) -------
SORTS = ("newest", "received", "received_asc", "next_due", "urgency")
EXPORT_MAX = 10_000
_URGENCY_ORDER = ("critical", "urgent", "general")


def _segments(sort: str) -> list[tuple[Any, tuple[Any, ...]]]:
    """An order as consecutive segments ``(where, order_by)``, each of which an index on the
    case table can read in order (no sort of the whole table for a page of 50): by next due,
    the cases with a running clock (``next_due``) and then those without; by urgency, one
    grade after the other (``urgency``, newest first within it); by time received, the
    receipt date (``received_date``) and the time within the day."""
    if sort == "next_due":
        return [(Case.next_due.is_null(False), (Case.next_due, Case.pk)), (Case.next_due.is_null(), (Case.pk,))]
    if sort == "urgency":
        return [(Case.urgency == u, (Case.pk.desc(),)) for u in _URGENCY_ORDER]
    if sort == "received":
        return [(None, (Case.received_date.desc(), Case.received_at.desc(), Case.pk.desc()))]
    if sort == "received_asc":
        return [(None, (Case.received_date, Case.received_at, Case.pk))]
    return [(None, (Case.pk.desc(),))]


def _segment_of(sort: str, row: Mapping[str, Any]) -> int:
    if sort == "next_due":
        return 1 if row["next_due"] is None else 0
    if sort == "urgency":
        return _URGENCY_ORDER.index(row["urgency"]) if row["urgency"] in _URGENCY_ORDER else 2
    return 0


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _sorted_cursor(node: Node, scope: str, sort: str, row: Mapping[str, Any]) -> str:
    if sort == "newest":
        return seal_cursor(node, scope, {"pk": row["pk"]})   # the API's own cursor: the two stay interchangeable
    key: Any = None
    if sort in ("received", "received_asc"):
        key = [_as_text(row["received_date"]), _as_text(row["received_at"])]
    elif sort == "next_due" and row["next_due"] is not None:
        key = _as_text(row["next_due"])
    doc = {"sort": sort, "seg": _segment_of(sort, row), "key": key, "pk": row["pk"]}
    return seal_cursor(node, scope, doc)


def _after(node: Node, scope: str, sort: str, cursor: str) -> tuple[int, Any]:
    """Where the page after the cursor's row starts: its segment and the keyset condition."""
    doc = open_cursor(node, scope, cursor)
    pk = _pk_of(doc)
    if sort == "newest":
        return 0, Case.pk < pk
    try:
        key, seg = doc["key"], doc["seg"]
        if (doc["sort"] != sort
                or not isinstance(seg, int) or isinstance(seg, bool) or not 0 <= seg < len(_segments(sort))):
            raise ValueError
        if sort in ("received", "received_asc"):
            day, at = date.fromisoformat(key[0]), datetime.fromisoformat(key[1])
            if sort == "received":
                return seg, (Case.received_date < day) | ((Case.received_date == day) & (
                    (Case.received_at < at) | ((Case.received_at == at) & (Case.pk < pk))))
            return seg, (Case.received_date > day) | ((Case.received_date == day) & (
                (Case.received_at > at) | ((Case.received_at == at) & (Case.pk > pk))))
        if sort == "next_due" and seg == 0:
            due = date.fromisoformat(key)
            return seg, (Case.next_due > due) | ((Case.next_due == due) & (Case.pk > pk))
        return seg, (Case.pk > pk) if sort == "next_due" else (Case.pk < pk)
    except (ValueError, KeyError, TypeError, IndexError):
        raise bad_cursor() from None


def _sorted_rows(query: Any, sort: str, n: int, after_cursor: tuple[int, Any] = (0, None)) -> list[dict[str, Any]]:
    """Up to ``n`` rows of ``query`` in ``sort`` order, after the cursor's row (``_after``)."""
    segments = _segments(sort)
    start, after = after_cursor
    rows: list[dict[str, Any]] = []
    for i in range(start, len(segments)):
        where, order = segments[i]
        part = query if where is None else query.where(where)
        if i == start and after is not None:
            part = part.where(after)
        rows += list(part.order_by(*order).limit(n - len(rows)).dicts())
        if len(rows) >= n:
            break
    return rows


def _check_sort(sort: Any) -> str:
    if sort in (None, ""):
        return "newest"
    return _enum_filter("sort", str(sort), SORTS)


def _lean(row: Mapping[str, Any], events: list[dict[str, Any]] | None) -> dict[str, Any]:
    item = to_api(row, events or [])
    if events is None:
        del item["history"]
    item["next_due"] = None if row["next_due"] is None else str(row["next_due"])
    return item


def search_cases(node: Node, filters: Mapping[str, Any], actor: Any, *, sort: Any = None, limit: Any = None,
                 cursor: str | None = None) -> dict[str, Any]:
    """``list_cases`` with a choice of order, for the desk's list: ``{"items", "next_cursor",
    "sort"}``.

    ``sort``: ``newest`` (the default and the API's order: newest registered first),
    ``received`` / ``received_asc`` (by the time received, latest or earliest first),
    ``next_due`` (the earliest running clock first, cases without one last), ``urgency``
    (critical, urgent, general; newest first within a grade). Each order is keyset-paged with
    a cursor that names its order (a cursor of one order is refused by another); the cursor of
    ``newest`` is the API's. Items are the API's case plus ``next_due`` (the earliest open
    deadline, ``YYYY-MM-DD`` or ``None``). Filters and their checks are ``list_cases``'s.
    """
    _check_filter_names(filters, actor)
    order = _check_sort(sort)
    n = _parse_limit(limit)
    query = _filtered(node, filters, actor)
    scope = _scope(filters, order)
    rows = _sorted_rows(query, order, n + 1, _after(node, scope, order, cursor) if cursor else (0, None))
    more = len(rows) > n
    rows = rows[:n]
    events: dict[str, list[dict[str, Any]]] = {r["case_id"]: [] for r in rows}
    if rows:
        for e in CaseEvent.for_cases(list(events)).dicts():
            events[e["case_id"]].append(e)
    return {"items": present_all(node, [_lean(r, events[r["case_id"]]) for r in rows], actor),
            "next_cursor": _sorted_cursor(node, scope, order, rows[-1]) if more else None, "sort": order}


def count_cases_upto(node: Node, filters: Mapping[str, Any], actor: Any, cap: int) -> int:
    """``count_cases``, counting no further than ``cap + 1``: the desk's list says "N cases" up
    to the cap and "more than cap" beyond, without a scan of the whole table for it."""
    _check_filter_names(filters, actor)
    return _filtered(node, filters, actor).select(Case.pk).limit(cap + 1).count()


def export_cases(node: Node, filters: Mapping[str, Any], actor: Any, *, sort: Any = None,
                 max_rows: int = EXPORT_MAX) -> list[dict[str, Any]]:
    """Every case of the filtered list in ``sort`` order, for a spreadsheet: the API's case
    without its history, plus ``next_due``. More than ``max_rows`` is refused (422
    ``too_many``, saying how many there are) rather than cut short without a word."""
    _check_filter_names(filters, actor)
    order = _check_sort(sort)
    query = _filtered(node, filters, actor)
    rows = _sorted_rows(query, order, max_rows + 1)
    if len(rows) > max_rows:
        total = query.count()
        raise NodeError(422, "too_many", f"筛选结果共 {total} 件，超过导出上限 {max_rows} 件，请缩小筛选范围后再导出"
                                         f" / {total} cases match; at most {max_rows} can be exported: narrow the "
                                         "filters", None)
    return present_all(node, [_lean(r, None) for r in rows], actor)


def similar_cases(node: Node, *, phone: str | None = None, respondent_name: str | None = None,
                  uscc: str | None = None, now: datetime, days: int = 30, actor: Any,
                  limit: int = 10) -> list[dict[str, Any]]:
    """Cases this node holds, received in the last ``days`` days (Asia/Shanghai dates), with the
    same complainant phone, the same respondent name or the same USCC — the intake form's
    duplicate hints. Newest first, at most ``limit``; each ``{"id", "received_at", "kind",
    "status", "summary", "respondent_name", "handling_node", "matched": [...]}`` with
    ``matched`` naming what is the same (``phone``, ``respondent_name``, ``uscc``).

    The phone is compared through its keyed hash (normalised: full-width digits, spaces, ``+86``),
    never on the encrypted complainant column (issue 13 item 1); reports against staff stay
    hidden from everyone but discipline inspection (R2.3)."""
    require_role(actor, READ_ROLES)
    phone = (phone or "").strip()
    name = (respondent_name or "").strip()
    code = (uscc or "").strip().upper()
    clauses = []
    hashes = phone_hashes(keyring_of(node.db), phone) if phone else []
    if hashes:
        clauses.append(Case.complainant_phone_hash.in_(hashes))
    if name:
        clauses.append(Case.respondent_name == name)
    if len(code) == 18:
        clauses.append(Case.respondent_uscc == code)
    if not clauses:
        return []
    since = now.astimezone(standard.SHANGHAI).date() - timedelta(days=days)
    where = clauses[0]
    for clause in clauses[1:]:
        where = where | clause
    query = Case.select().where(where & (Case.received_date >= since))
    if getattr(actor, "role", None) != DISCIPLINE:
        query = query.where(Case.department != DISCIPLINE)
    out = []
    for row in query.order_by(Case.pk.desc()).limit(limit).dicts():
        matched = [m for m, hit in (("phone", bool(hashes) and row["complainant_phone_hash"] in hashes),
                                    ("respondent_name", bool(name) and row["respondent_name"] == name),
                                    ("uscc", len(code) == 18 and row["respondent_uscc"] == code)) if hit]
        if not matched:
            continue
        out.append({"id": row["case_id"], "received_at": show_time(row["received_at"]), "kind": row["kind"],
                    "status": row["status"], "summary": row["summary"], "respondent_name": row["respondent_name"],
                    "handling_node": row["handling_node"], "matched": matched})
    return out
