"""The supervision board (督办) of the staff desk (issue 11 item 6; R2.6; docs/routing.md §8):
the overdue and soon-due cases of this node's subtree grouped by handling unit, and the
escalation reminders recorded for them.

What a node sees of its subtree is what routing already keeps there: the cases it handles
(``held_as = "handler"``) and the read copies its handling units send up — every case of the
subtree up to the prefecture, and beyond as a clock runs out (``supervision.toml``). The
board lists the cases a unit of the subtree handles (the handling node is this node or lies
inside its region) that have a running clock due within N working days, overdue ones
included; a copy of a case handled outside the subtree (one this node took in and sent
away, or one it passed on the way) is the other supervisor's business and is not listed.

Counts and lists come from the same functions and filters as the case API
(``node.cases.count_cases`` and ``search_cases`` with ``due_within_days``, ``overdue`` and
``handling_node``), so a unit's counts always equal the cases listed under it. The stage of
each case is ``node.routing.supervision.stage_of`` — the same one the reminders use.

Nothing here writes; ``supervision_actions`` does the urging and taking over.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from federation.models import Link
from node.cases import (
    DISCIPLINE,
    DONE_STATUSES,
    SHANGHAI,
    TRANSITIONS,
    Case,
    CaseEvent,
    count_cases,
    intake_context,
    search_cases,
)
from node.divisions import load_divisions
from node.errors import invalid
from node.routing import rules, tables
from node.routing.custody import unit_name
from node.routing.documents import db_time, from_json, show_time
from node.routing.supervision import stage_of
from node.runtime import Node

MAX_WITHIN_DAYS = 366
PER_UNIT = 20            # cases listed under each unit on the whole board (the unit's own view pages on)
UNIT_PAGE = 100          # cases per page when one unit is chosen
MAX_LISTED_UNITS = 20    # units whose cases are listed on the whole board; the others show their counts
STAGE_FILTERS = ("overdue", "due_soon")
TAKE_OVER_ROLES = ("leader", "supervisor", "admin")
REMINDERS_SHOWN = 30
REMINDER_DAYS = 30       # how far back the reminder history looks


@dataclass(frozen=True)
class CaseLine:
    id: str
    summary: str
    kind: str
    status: str
    urgency: str
    due: str | None            # YYYY-MM-DD, the earliest running clock
    working_days: int | None   # left until the due date (>= 0), or late (< 0)
    stage: str                 # running | due_soon | overdue | escalated
    overdue: bool
    handling_node: str
    here: bool                 # this node handles it (else: a copy; actions travel as proposals)
    can_urge: bool
    can_take_over: bool


@dataclass
class UnitGroup:
    code: str
    name: str
    overdue: int
    due_soon: int
    here: bool
    cases: list[CaseLine] = field(default_factory=list)
    listed: bool = False       # its cases are listed on this page
    next_cursor: str | None = None

    @property
    def total(self) -> int:
        return self.overdue + self.due_soon


@dataclass
class Board:
    within_days: int
    stage: str                 # "" | overdue | due_soon
    unit: str                  # "" or the chosen handling unit
    units: list[UnitGroup]     # every unit of the subtree with a case on the board, counts only
    groups: list[UnitGroup]    # the units whose cases are listed
    soon_due_working_days: int
    escalate_after_working_days: int

    @property
    def overdue(self) -> int:
        return sum(u.overdue for u in self.units)

    @property
    def due_soon(self) -> int:
        return sum(u.due_soon for u in self.units)


@dataclass(frozen=True)
class Reminder:
    case_id: str
    summary: str
    at: str                    # Asia/Shanghai ISO time
    stage: str                 # due_soon | escalated
    due: str
    unit: str                  # the handling unit that recorded it
    unit_name: str
    sent_to: tuple[tuple[str, str], ...]   # (code, name) of the levels above that it reached
    note: str


# -- filters -------------------------------------------------------------------------------------
def parse_filters(node: Node, args: Mapping[str, Any]) -> dict[str, Any]:
    """The board's filters from a query string: ``due_within_days`` (working days, default
    the soon-due window of ``supervision.toml``), ``stage`` (``overdue`` / ``due_soon``),
    ``handling_node`` (a unit of this node's subtree). 422 naming the field when wrong."""
    sup = tables.for_node(node).supervision
    raw = str(args.get("due_within_days") or "").strip()
    if raw == "":
        within = sup.soon_due_working_days
    else:
        try:
            within = int(raw)
            if within < 0 or within > MAX_WITHIN_DAYS:
                raise ValueError
        except ValueError:
            raise invalid("due_within_days", f"due_within_days 须为 0–{MAX_WITHIN_DAYS} 的整数（工作日）"
                                             f" / due_within_days must be an integer 0-{MAX_WITHIN_DAYS} "
                                             "(working days)") from None
    stage = str(args.get("stage") or "")
    if stage and stage not in STAGE_FILTERS:
        raise invalid("stage", "stage 取值无效：可选 overdue、due_soon / stage must be overdue or due_soon")
    unit = str(args.get("handling_node") or "").strip()
    if unit and not in_subtree(node, unit):
        raise invalid("handling_node", f"{unit[:20]} 不是本节点辖区内的单位 / {unit[:20]} is not a unit of this "
                                       "node's subtree")
    return {"due_within_days": within, "stage": stage, "handling_node": unit}


def in_subtree(node: Node, code: str) -> bool:
    """This node, or a unit inside its region (its counties, stations, …)."""
    return code == node.code or load_divisions().is_within(code, node.code)


def _case_filters(within: int, stage: str, unit: str) -> dict[str, str]:
    """The case list filters (the API's names) behind one count or one list of the board."""
    f = {"due_within_days": str(within), "handling_node": unit}
    if stage:
        f["overdue"] = "true" if stage == "overdue" else "false"
    return f


# -- the board -----------------------------------------------------------------------------------
def _today(node: Node) -> date:
    return node.now().astimezone(SHANGHAI).date()


def _candidate_units(node: Node, actor: Any, within: int) -> list[str]:
    """Handling units of the subtree that may have a case due within ``within`` working days
    (a superset: each is then counted with ``count_cases``; units counting none are dropped)."""
    today = _today(node)
    until = intake_context(node).calendar.add_working_days(today, within) if within else today
    query = (Case.select(Case.handling_node).distinct()
             .where(Case.next_due.is_null(False) & (Case.next_due <= until)
                    & Case.status.not_in(tuple(DONE_STATUSES))))
    if getattr(actor, "role", None) != DISCIPLINE:
        query = query.where(Case.department != DISCIPLINE)
    return sorted(code for (code,) in query.tuples() if in_subtree(node, code))


def unit_names(node: Node, codes: list[str]) -> dict[str, str]:
    """How the desk names each unit: this node by its own name, a division by the division
    table (``…市场监督管理局``), a station by the name its link was registered with."""
    div = load_divisions()
    linked = {link.code: link.name for link in Link.select(Link.code, Link.name).where(Link.code.in_(codes))} \
        if codes else {}
    out = {}
    for code in codes:
        if code == node.code:
            out[code] = node.config.name
        elif div.level_of(code) == "station" and linked.get(code):
            out[code] = linked[code]
        else:
            out[code] = unit_name(code)
    return out


def supervision_board(node: Node, actor: Any, filters: Mapping[str, Any], cursor: str | None = None) -> Board:
    """The board for ``filters`` (from ``parse_filters``): every unit of the subtree with an
    overdue or soon-due case, its two counts, and the cases of the listed units, earliest due
    first (``cursor`` pages on through the chosen unit's cases)."""
    within, stage, unit = filters["due_within_days"], filters["stage"], filters["handling_node"]
    sup = tables.for_node(node).supervision
    codes = _candidate_units(node, actor, within)
    if unit and unit not in codes:
        codes.append(unit)
    names = unit_names(node, codes)
    units = []
    for code in codes:
        overdue = count_cases(node, _case_filters(within, "overdue", code), actor)
        due_soon = count_cases(node, _case_filters(within, "due_soon", code), actor)
        if overdue or due_soon or code == unit:
            units.append(UnitGroup(code, names[code], overdue, due_soon, here=code == node.code))
    units.sort(key=lambda u: (not u.here, -u.overdue, -u.due_soon, u.code))
    if unit:
        listed = [u for u in units if u.code == unit]
    else:
        listed = [u for u in units if (u.overdue if stage == "overdue" else u.due_soon if stage == "due_soon"
                                       else u.total)][:MAX_LISTED_UNITS]
    for group in listed:
        page = search_cases(node, _case_filters(within, stage, group.code), actor, sort="next_due",
                            limit=UNIT_PAGE if unit else PER_UNIT, cursor=cursor if unit else None)
        group.cases = [case_line(node, actor, item) for item in page["items"]]
        group.next_cursor = page["next_cursor"]
        group.listed = True
    return Board(within, stage, unit, units, listed, sup.soon_due_working_days, sup.escalate_after_working_days)


def case_line(node: Node, actor: Any, item: Mapping[str, Any]) -> CaseLine:
    """One case of the board: its earliest due date, working days left (or late, negative),
    its supervision stage, and which of urge and take over this user may ask for."""
    due = item.get("next_due")
    days = None
    if due:
        cal = intake_context(node).calendar
        days = cal.working_days_between(_today(node), date.fromisoformat(due))
    stage = stage_of(node, {"next_due": due, "status": item["status"], "overdue": item["overdue"]})
    here = item.get("held_as", "handler") == "handler"
    handler = item["handling_node"]
    kind, status = item["kind"], item["status"]
    can_take_over = (getattr(actor, "role", None) in TAKE_OVER_ROLES and not here and handler != node.code
                     and in_subtree(node, handler) and status in TRANSITIONS["take_over"].get(kind, {}))
    return CaseLine(id=item["id"], summary=item["summary"], kind=kind, status=status, urgency=item["urgency"],
                    due=due, working_days=days, stage=stage, overdue=bool(item["overdue"]), handling_node=handler,
                    here=here, can_urge=status in TRANSITIONS["urge"].get(kind, {}), can_take_over=can_take_over)


# -- the escalation reminders --------------------------------------------------------------------
def _sent_to(node: Node, handler: str, stage: str) -> list[str]:
    """The levels above ``handler`` that hold a copy at ``stage`` (``rules.supervisors``)."""
    div = load_divisions()
    try:
        chain = [(c, div.level_of(c) or "") for c in div.ancestors(handler)]
    except KeyError:
        return []
    return rules.supervisors(chain, stage, tables.for_node(node).supervision)


def reminder_history(node: Node, actor: Any, limit: int = REMINDERS_SHOWN, unit: str = "",
                     days: int = REMINDER_DAYS) -> list[Reminder]:
    """The ``remind`` events (docs/routing.md §8) of the last ``days`` days recorded by the
    handling units of this node's subtree, newest first, at most ``limit``: which case, which
    stage (due soon / escalated), the due date, when, and the levels above that the reminder
    carried the case to. Reports against staff only for discipline inspection (R2.3).

    A reminder is a change of its case, so the case's ``updated_at`` (indexed) is at least the
    reminder's time: only cases changed in the window are looked at, and their events through
    the ``case_id`` index — never a scan of the whole history table."""
    since = db_time(node.now() - timedelta(days=days))
    query = (CaseEvent.select(CaseEvent, Case.summary)
             .join(Case, on=(CaseEvent.case_id == Case.case_id))
             .where((Case.updated_at >= since) & (CaseEvent.action == "remind") & (CaseEvent.at >= since)))
    if getattr(actor, "role", None) != DISCIPLINE:
        query = query.where(Case.department != DISCIPLINE)
    if unit:
        query = query.where(CaseEvent.node == unit)
    rows: list[dict[str, Any]] = []
    batch = 200
    for page in range(10):     # copies of cases handled outside the subtree are skipped, rarely many
        got = list(query.order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
                   .offset(page * batch).limit(batch).dicts())
        rows += [r for r in got if in_subtree(node, r["node"])]
        if len(rows) >= limit or len(got) < batch:
            break
    rows = rows[:limit]
    sent = {r["id"]: _sent_to(node, r["node"], _stage(r)) for r in rows}
    names = unit_names(node, sorted({r["node"] for r in rows} | {c for codes in sent.values() for c in codes}))
    return [Reminder(case_id=r["case_id"], summary=r["summary"], at=show_time(r["at"]) or "", stage=_stage(r),
                     due=str(from_json(r["data"], {}).get("due") or ""), unit=r["node"], unit_name=names[r["node"]],
                     sent_to=tuple((c, names[c]) for c in sent[r["id"]]), note=r["note"])
            for r in rows]


def _stage(event: Mapping[str, Any]) -> str:
    return str(from_json(event.get("data"), {}).get("stage") or "")
