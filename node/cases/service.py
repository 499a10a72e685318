"""The case lifecycle at one node: intake, the state machine, history, search (CONTRACT §5).

Serves R1.1 (consultations, complaints, reports — against businesses and against staff),
R1.3 (consultations answered and recorded), R1.4 (triage into general / urgent / critical,
``node/services/triage.py``), R2.3 (reports against staff go to discipline inspection and are
seen by the ``discipline`` role only), R2.5 (``refer``), R2.6 (statutory clocks, overdue
marking) and R4.1 (every change is a history event naming node, actor and time).

Public API (no Flask; the web layer, the CLI and jobs call these inside ``node.activate()``):

* ``create_case(node, payload, actor) -> dict`` — validate (``standard.validate_case_input``),
  triage, bind the rule set in force on the receipt date, start the clocks, assign the id
  ``<node>-<YYYYMMDD>-<000001>`` from a per-day counter (one upsert), write everything in one
  transaction. ``"also_report": true`` on a complaint registers the two-track pair (Order 20
  Art. 8): a complaint and a report, linked both ways, each with its own clocks.
* ``get_case(node, case_id, actor) -> dict``
* ``list_cases(node, filters, actor, limit=50, cursor=None) -> {"items", "next_cursor"}``
* ``act(node, case_id, payload, actor) -> dict`` — one action of ``ACTIONS``.
* ``leadership_board(node, actor) -> dict`` — open urgent/critical cases (R1.4, R3.4).
* ``mark_overdue(node) -> int`` — the overdue job (``job_specs`` schedules it).

Every write — a new case or a state change — goes through ``_commit_change`` (see there):
the single place where routing (``node/services/case_sync.py``, R1.5, R2; docs/routing.md)
adds its replication documents in the same transaction, through ``PREPARE_HOOKS`` and
``CHANGE_HOOKS``. ``route``, ``escalate``, ``return``, ``take_over``, ``urge``, ``comment`` and
``reopen`` are implemented there (``ACTION_HANDLERS``); a node without links answers the
routing actions with 409 (no linked node). Only the handling node changes a case: at a node
holding a read copy (``held_as = "copy"``) an action is refused with 403 naming the handler,
or — for ``PROPOSAL_ACTIONS`` — sent to the handler as a proposal (``PROPOSAL_HOOK``).

Storage conventions: datetimes are stored naive in UTC (identical on SQLite and PostgreSQL)
and shown at +08:00; JSON columns hold canonical-ish JSON text; money is a decimal string.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from peewee import SQL

from node.config import CONFIGS_DIR
from node.db import is_sqlite, write_tx
from node.errors import NodeError, bad_request, conflict, forbidden, invalid, not_found
from node.cases.models import Case, CaseEvent
from node.runtime import Node
from node.deadlines import rules as dl
from node.deadlines import book as deadlines_runtime
from node import jobs
from node.cases import standard
from node.cases.categories import CategoryTable, load_categories
from node.cases.triage import URGENCY_NAMES_ZH, triage

SHANGHAI = standard.SHANGHAI

# -- roles (CONTRACT §4, §5) --------------------------------------------------------------------
CREATE_ROLES = ("intake", "handler", "admin")
ACT_ROLES = ("handler", "admin", "discipline")       # discipline: reports against staff only
# Actions that other roles may also take (supervision, follow-up): action -> roles.
ACTION_ROLES: dict[str, tuple[str, ...]] = {
    "urge": ("supervisor", "leader", "admin", "handler", "discipline"),
    "comment": ("supervisor", "leader", "admin", "handler", "intake", "discipline"),
    "take_over": ("leader", "supervisor", "admin", "handler", "discipline"),
    "feedback": ("handler", "admin", "intake", "discipline"),
    "reopen": ("handler", "admin", "intake", "discipline"),
}
ANY_ACT_ROLES = tuple(dict.fromkeys(ACT_ROLES + tuple(r for rs in ACTION_ROLES.values() for r in rs)))
READ_ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")
LEADERSHIP_ROLES = ("leader", "supervisor", "admin")
DISCIPLINE = "discipline"

DEPARTMENTS = {"consumer_protection": "消费者权益保护机构", "enforcement": "执法稽查机构",
               "discipline": "纪检监察机构"}

STATUS_NAMES_ZH = {k: v[0] for k, v in standard.STATUSES.items()}
# Statuses in which nothing is left to do at this node (the leadership board skips them).
DONE_STATUSES = frozenset({"concluded", "closed", "declined", "referred", "transferred",
                           "answered"})

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
NOTE_MAX = 2000

# -- the state machine ---------------------------------------------------------------------------
# action -> kind -> {from status: to status}. Actions that keep the status map it to itself.
_ALL = ("consultation", "complaint", "report")
TRANSITIONS: dict[str, dict[str, dict[str, str]]] = {
    "accept": {"complaint": {"registered": "accepted"}},
    "decline": {"complaint": {"registered": "declined"}},
    "refer": {k: {"registered": "referred"} for k in _ALL},
    "route": {k: {"registered": "transferred"} for k in _ALL},
    "escalate": {"complaint": {"registered": "transferred", "accepted": "transferred",
                               "in_mediation": "transferred"},
                 "report": {"registered": "transferred", "verifying": "transferred"},
                 "consultation": {"registered": "transferred"}},
    "return": {k: {"registered": "transferred"} for k in _ALL},
    "mediate": {"complaint": {"accepted": "in_mediation"}},
    "conclude": {"complaint": {"accepted": "concluded", "in_mediation": "concluded"},
                 "report": {"filed": "concluded", "not_filed": "concluded"}},
    "verify": {"report": {"registered": "verifying"}},
    "file": {"report": {"verifying": "filed"}},
    "not_file": {"report": {"verifying": "not_filed"}},
    "answer": {"consultation": {"registered": "answered"}},
    "feedback": {k: {"concluded": "concluded", "closed": "closed", "answered": "answered"}
                 for k in _ALL},
    "notify": {"complaint": {"concluded": "concluded"},
               "report": {"filed": "filed", "not_filed": "not_filed", "concluded": "concluded"}},
    "pause": {"complaint": {"accepted": "accepted", "in_mediation": "in_mediation"},
              "report": {"registered": "registered", "verifying": "verifying"}},
    "resume": {"complaint": {"accepted": "accepted", "in_mediation": "in_mediation"},
               "report": {"registered": "registered", "verifying": "verifying"}},
    "extend": {"report": {"registered": "registered", "verifying": "verifying"}},
    "close": {"complaint": {"concluded": "closed", "declined": "closed", "referred": "closed"},
              "report": {"concluded": "closed", "referred": "closed"},
              "consultation": {"answered": "closed", "referred": "closed"}},
    # supervision and follow-up (R2.6-R2.7; node/services/case_sync.py): at a node that holds
    # only a copy these travel to the handling node as proposals
    "urge": {"complaint": {s: s for s in ("registered", "accepted", "in_mediation")},
             "report": {s: s for s in ("registered", "verifying", "filed", "not_filed")},
             "consultation": {"registered": "registered"}},
    "comment": {k: {s: s for s in standard.STATUSES} for k in _ALL},
    "take_over": {"complaint": {"registered": "transferred", "accepted": "transferred",
                                "in_mediation": "transferred"},
                  "report": {"registered": "transferred", "verifying": "transferred"},
                  "consultation": {"registered": "transferred"}},
    "reopen": {"complaint": {"concluded": "accepted", "closed": "accepted"}},
}
ACTIONS = tuple(TRANSITIONS)
ACTION_NAMES_ZH = {
    "accept": "受理", "decline": "不予受理", "refer": "移送/告知", "route": "分流", "escalate": "上报",
    "return": "退回", "mediate": "调解", "conclude": "办结", "verify": "核查", "file": "立案",
    "not_file": "不予立案", "answer": "答复", "feedback": "回访", "notify": "告知", "pause": "中止计时",
    "resume": "恢复计时", "extend": "延长期限", "close": "归档", "urge": "督办", "comment": "意见",
    "take_over": "提级办理", "reopen": "重新办理",
}
ROUTING_ACTIONS = ("route", "escalate", "return")
# Actions a node holding only a copy may propose to the handling node (R2.6-R2.7).
PROPOSAL_ACTIONS = ("urge", "comment", "take_over", "feedback", "reopen")

# Fields each action takes besides "action" (anything else is refused naming the field).
_ACTION_FIELDS: dict[str, frozenset[str]] = {
    "accept": frozenset({"mode", "note"}),
    "decline": frozenset({"reason", "note"}),
    "refer": frozenset({"body", "reason", "note"}),
    "route": frozenset({"to", "note"}),
    "urge": frozenset({"note"}),
    "comment": frozenset({"note"}),
    "take_over": frozenset({"reason", "note"}),
    "reopen": frozenset({"reason", "note"}),
    "escalate": frozenset({"reason", "note"}),
    "return": frozenset({"reason", "note"}),
    "mediate": frozenset({"note"}),
    "conclude": frozenset({"outcome", "amount_recovered", "reason", "note"}),
    "verify": frozenset({"note"}),
    "file": frozenset({"note"}),
    "not_file": frozenset({"note"}),
    "answer": frozenset({"text", "note"}),
    "feedback": frozenset({"satisfaction", "note"}),
    "notify": frozenset({"note"}),
    "pause": frozenset({"reason", "note"}),
    "resume": frozenset({"note"}),
    "extend": frozenset({"clock", "days", "approved_by", "note"}),
    "close": frozenset({"note"}),
}
COMPLAINT_OUTCOMES = ("mediated", "not_mediated", "settled", "withdrawn")
REPORT_OUTCOMES = ("filed", "not_filed")


# -- hooks for later modules ---------------------------------------------------------------------
@dataclass
class CaseChange:
    """One case written by ``_commit_change``.

    ``row``: every ``Case`` column after the change (what a replication document carries);
    ``events``: the ``CaseEvent`` rows appended; ``previous_version``: ``None`` for a new case,
    else the version the change was computed from (the update is refused if it moved);
    ``changed``: the columns an update sets; ``action``: the action (``"register"`` for intake).
    """
    row: dict[str, Any]
    events: list[dict[str, Any]]
    previous_version: int | None = None
    changed: dict[str, Any] = field(default_factory=dict)
    action: str = "register"
    payload: dict[str, Any] = field(default_factory=dict)


# Called inside the write transaction, before the rows are written: fn(node, changes); may
# adjust ``row``/``changed``/``events`` (routing decides custody at intake here).
PREPARE_HOOKS: list[Callable[[Node, list[CaseChange]], None]] = []
# Called inside the write transaction, after the rows are written: fn(node, changes).
CHANGE_HOOKS: list[Callable[[Node, list[CaseChange]], None]] = []
# Called for an action at a node that holds only a copy (the action is one of
# PROPOSAL_ACTIONS): fn(node, row, payload, actor, now) -> the response (routing sends it on).
PROPOSAL_HOOK: list[Callable[..., dict[str, Any]]] = []
# Referral bodies from a directory: fn(node, body) -> {"code", "name", "tell", ...} or None.
REFERRAL_DIRECTORY: list[Callable[[Node, str], Mapping[str, Any] | None]] = []


def install_extension(*, prepare: Callable[[Node, list[CaseChange]], None] | None = None,
                      after_change: Callable[[Node, list[CaseChange]], None] | None = None,
                      propose: Callable[..., dict[str, Any]] | None = None,
                      referral: Callable[[Node, str], Mapping[str, Any] | None] | None = None,
                      actions: Mapping[str, Callable[..., Any]] | None = None,
                      departments: Mapping[str, str] | None = None) -> None:
    """Let another domain (routing) extend the lifecycle through the hooks above. Idempotent:
    ``node.domains.install`` calls it once per process, a second call adds nothing. The
    lifecycle never imports its extensions; it only calls what was installed."""
    if prepare is not None and prepare not in PREPARE_HOOKS:
        PREPARE_HOOKS.append(prepare)
    if after_change is not None and after_change not in CHANGE_HOOKS:
        CHANGE_HOOKS.append(after_change)
    if propose is not None and not PROPOSAL_HOOK:
        PROPOSAL_HOOK.append(propose)
    if referral is not None and referral not in REFERRAL_DIRECTORY:
        REFERRAL_DIRECTORY.append(referral)
    ACTION_HANDLERS.update(actions or {})
    for code, name in (departments or {}).items():
        DEPARTMENTS.setdefault(code, name)
# Handlers a routing module registers for route / escalate / return:
# fn(node, row, payload, actor, now) -> (to_status, changed columns, note, extra events).
ACTION_HANDLERS: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class Actor:
    """Who does something when no staff user does (jobs, the CLI)."""
    login: str
    role: str


SYSTEM = Actor("system", "system")


# -- per-node cached reference data (hot path: never re-read per request) --------------------------
@dataclass(frozen=True)
class IntakeContext:
    divisions: Any
    categories: CategoryTable
    extension_schemas: Mapping[str, dict[str, Any]]
    accepting_province: str | None
    rule_book: dl.RuleBook
    calendar: Any
    triage_rules: tuple
    sqlite: bool


def intake_context(node: Node) -> IntakeContext:
    ctx = node.cache.get("intake_context")
    if ctx is None:
        from node.divisions import HQ_CODE, load_divisions
        divisions = load_divisions()
        ctx = IntakeContext(
            divisions=divisions,
            categories=categories(node),
            extension_schemas=standard.load_extension_schemas(CONFIGS_DIR / "extensions",
                                                              divisions=divisions),
            accepting_province=None if node.code == HQ_CODE else divisions.province_of(node.code),
            rule_book=deadlines_runtime.rule_book(node),
            calendar=deadlines_runtime.work_calendar(node),
            triage_rules=tuple(node.config.triage),
            sqlite=is_sqlite(node.db),
        )
        node.cache["intake_context"] = ctx
    return ctx


def categories(node: Node) -> CategoryTable:
    """The node's category table: ``categories.json`` in its home if present, else the shipped one."""
    table = node.cache.get("categories")
    if table is None:
        own = Path(node.config.home) / "categories.json"
        table = load_categories(own if own.is_file() else None)
        node.cache["categories"] = table
    return table


# -- helpers ---------------------------------------------------------------------------------
def _db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _show_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).isoformat()


def _today(node: Node) -> date:
    return node.now().astimezone(SHANGHAI).date()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _require_role(actor: Any, roles: tuple[str, ...]) -> None:
    if getattr(actor, "role", None) not in roles:
        raise forbidden(f"角色 {getattr(actor, 'role', None)} 无权执行此操作（需要：{'/'.join(roles)}）"
                        f" / role {getattr(actor, 'role', None)} may not do this (needs {', '.join(roles)})")


def _not_found(case_id: str) -> NodeError:
    return not_found(f"案件 {case_id} 不存在 / case {case_id} not found")


def _visible(row: Mapping[str, Any], actor: Any) -> bool:
    """Reports against staff are seen by discipline inspection only (R2.3); everything else by
    every staff role."""
    if row["department"] == DISCIPLINE:
        return getattr(actor, "role", None) == DISCIPLINE
    return True


def _department(kind: str, report_target: str | None) -> str:
    if kind == "report":
        return DISCIPLINE if report_target == "staff" else "enforcement"
    return "consumer_protection"


def _next_due(deadlines: Mapping[str, Any], status: str) -> date | None:
    """The earliest due date among the clocks still running (for the overdue query)."""
    if not deadlines:
        return None
    live = dl.overdue_clocks(deadlines, status, date.max)
    dues = [deadlines[k] for k in live if deadlines.get(k)]
    return date.fromisoformat(min(dues)) if dues else None


def _event(case_id: str, node: Node, actor: Any, action: str, from_status: str | None,
           to_status: str | None, note: str, at: datetime, data: Mapping[str, Any] | None = None
           ) -> dict[str, Any]:
    return {"case_id": case_id, "at": at, "node": node.code, "actor": getattr(actor, "login", str(actor)),
            "action": action, "from_status": from_status, "to_status": to_status, "note": note,
            "data": _dumps(dict(data or {}))}


def _event_api(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": _show_time(e["at"]), "node": e["node"], "actor": e["actor"], "action": e["action"],
            "from_status": e["from_status"], "to_status": e["to_status"], "note": e["note"]}


def to_api(row: Mapping[str, Any], events: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The case as the API returns it (CONTRACT §5 shape plus linked_case, department,
    overdue, version)."""
    return {
        "id": row["case_id"],
        "kind": row["kind"],
        "report_target": row["report_target"],
        "channel": row["channel"],
        "received_at": _show_time(row["received_at"]),
        "urgency": row["urgency"],
        "complainant": json.loads(row["complainant"]),
        "respondent": json.loads(row["respondent"]),
        "category": row["category"],
        "summary": row["summary"],
        "description": row["description"] or None,
        "amount": row["amount"],
        "amount_recovered": row["amount_recovered"],
        "extensions": json.loads(row["extensions"]),
        "status": row["status"],
        "accepting_node": row["accepting_node"],
        "handling_node": row["handling_node"],
        "rule_set": row["rule_set"],
        "deadlines": json.loads(row["deadlines"]),
        "outcome": json.loads(row["outcome"]) if row["outcome"] else None,
        "history": [_event_api(e) for e in events],
        "linked_case": row["linked_case"],
        "department": row["department"],
        "overdue": bool(row["overdue"]),
        "version": row["version"],
        "held_as": row.get("held_as") or "handler",
        "attention": row.get("attention"),
        "custody": json.loads(row.get("route") or "[]"),
    }


# -- the one write path --------------------------------------------------------------------------
def _commit_change(node: Node, changes: list[CaseChange]) -> None:
    """Write new cases and state changes, their history events and search rows.

    Call inside ``write_tx(node.db)`` (the caller's transaction also holds the counter upsert
    or the read the change was computed from). Every change of a case at this node passes
    here, so a routing/replication module extends the lifecycle by appending to
    ``CHANGE_HOOKS``: each hook runs in the same transaction, after the rows are written, and
    enqueues its outbox documents there — the state change and the document it causes commit
    together or not at all (RELIABILITY rule 1). An update is guarded by the version it was
    computed from: a concurrent change makes it fail with 409 instead of being overwritten.
    """
    for prepare in PREPARE_HOOKS:
        prepare(node, changes)
    new_rows = [c.row for c in changes if c.previous_version is None]
    if new_rows:
        _insert(node.db, Case, new_rows)
        if is_sqlite(node.db):
            p = node.db.param
            node.db.execute_sql(
                "INSERT INTO case_search (case_id, body) VALUES "
                + ", ".join([f"({p}, {p})"] * len(new_rows)),
                [v for r in new_rows for v in (r["case_id"], r["search_text"])])
    for c in changes:
        if c.previous_version is None:
            continue
        updated = (Case.update(c.changed)
                   .where((Case.case_id == c.row["case_id"])
                          & (Case.version == c.previous_version))
                   .execute())
        if updated != 1:
            raise conflict(f"案件 {c.row['case_id']} 已被同时修改，请刷新后重试 / case "
                           f"{c.row['case_id']} changed meanwhile; reload and retry",
                           code="concurrent_change")
    events = [e for c in changes for e in c.events]
    if events:
        _insert(node.db, CaseEvent, events)
    for hook in CHANGE_HOOKS:
        hook(node, changes)


_INSERT_SQL: dict[tuple[Any, ...], str] = {}


def _insert(db: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """``INSERT … VALUES (…), (…)`` with the SQL text cached per shape.

    Same values as ``insert_many`` (each goes through its field's ``db_value``), but peewee's
    query builder costs ~0.5 ms for a 35-column row, a third of an intake request (cProfile:
    553 → 755 intakes/s in-process on SQLite); the text never changes, so it is built once.
    """
    names = tuple(rows[0])
    key = (model, names, len(rows), db.param)
    sql = _INSERT_SQL.get(key)
    fields = [model._meta.fields[n] for n in names]
    if sql is None:
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        one = "(" + ", ".join([db.param] * len(names)) + ")"
        sql = f'INSERT INTO "{model._meta.table_name}" ({cols}) VALUES ' + ", ".join([one] * len(rows))
        _INSERT_SQL[key] = sql
    db.execute_sql(sql, [f.db_value(r[n]) for r in rows for f, n in zip(fields, names, strict=True)])


def _take_ids(node: Node, day: date, n: int) -> list[str]:
    """``n`` consecutive case ids for ``day`` from the per-node day counter: one upsert."""
    p = node.db.param
    day_s = day.strftime("%Y%m%d")
    cursor = node.db.execute_sql(
        'INSERT INTO "day_counter" ("scope", "day", "value") '
        f"VALUES ({p}, {p}, {p}) "
        'ON CONFLICT ("scope", "day") DO UPDATE SET "value" = "day_counter"."value" + excluded."value" '
        'RETURNING "value"', [node.code, day_s, n])
    last = int(cursor.fetchone()[0])
    return [f"{node.code}-{day_s}-{v:06d}" for v in range(last - n + 1, last + 1)]


# -- intake -------------------------------------------------------------------------------------
def create_case(node: Node, payload: Any, actor: Any) -> dict[str, Any]:
    """Register a case (or a two-track pair) and return it as the API shows it."""
    _require_role(actor, CREATE_ROLES)
    if not isinstance(payload, dict):
        raise bad_request("请求体须为 JSON 对象 / the body must be a JSON object", code="malformed")
    also_report = False
    if "also_report" in payload:
        payload = dict(payload)
        also_report = payload.pop("also_report")
        if also_report is None:
            also_report = False
        if not isinstance(also_report, bool):
            raise invalid("also_report", "also_report 须为 true 或 false / also_report must be a boolean")
    ctx = intake_context(node)
    now = node.now()
    inp = standard.validate_case_input(payload, divisions=ctx.divisions, categories=ctx.categories,
                                       extension_schemas=ctx.extension_schemas, now=now,
                                       accepting_province=ctx.accepting_province)
    if also_report and inp.kind != "complaint":
        raise invalid("also_report", "仅投诉可同时登记为举报（双轨受理）/ only a complaint can also be "
                                     "registered as a report (two-track intake)")
    urgency, reasons = triage(inp.summary, inp.description or "", inp.urgency, ctx.triage_rules)
    rule_set = ctx.rule_book.for_date(inp.received_at)
    tracks = [(inp.kind, inp.report_target)] + ([("report", "business")] if also_report else [])
    clocks = [dl.initial_deadlines(kind, inp.received_at, rule_set, ctx.calendar) for kind, _ in tracks]

    at = _db_time(now)
    received_at = _db_time(inp.received_at)
    complainant = _dumps(inp.complainant.to_dict() if inp.complainant else None)
    respondent = _dumps(inp.respondent.to_dict() if inp.respondent else None)
    resp_name = (inp.respondent.name if inp.respondent else None) or ""
    search_text = "\n".join(t for t in (inp.summary, inp.description or "", resp_name) if t)
    extensions = _dumps(inp.extensions)

    with write_tx(node.db):
        ids = _take_ids(node, inp.received_on, len(tracks))
        changes = []
        for i, ((kind, target), deadlines) in enumerate(zip(tracks, clocks, strict=True)):
            case_id = ids[i]
            linked = ids[1 - i] if len(ids) == 2 else None
            row = {
                "case_id": case_id, "kind": kind, "report_target": target, "channel": inp.channel,
                "urgency": urgency, "status": "registered", "category": inp.category,
                "summary": inp.summary, "description": inp.description or "",
                "complainant": complainant, "respondent": respondent,
                "respondent_name": resp_name, "respondent_region": inp.region_code,
                "respondent_uscc": inp.respondent.uscc if inp.respondent else None,
                "amount": inp.amount, "amount_recovered": inp.amount_recovered,
                "extensions": extensions, "received_at": received_at,
                "received_date": inp.received_on, "accepting_node": node.code,
                "handling_node": node.code, "department": _department(kind, target),
                "rule_set": rule_set.id, "deadlines": _dumps(deadlines),
                "next_due": _next_due(deadlines, "registered"), "overdue": False, "outcome": None,
                "linked_case": linked, "route": "[]", "held_as": "handler", "holders": "[]",
                "attention": None, "version": 1,
                "search_text": search_text, "created_at": at, "updated_at": at,
            }
            note = ""
            if linked:
                note = (f"双轨受理：同时登记{'举报' if kind == 'complaint' else '投诉'} {linked}"
                        f"（《市场监督管理投诉举报处理暂行办法》第八条）/ two-track intake: linked "
                        f"{'report' if kind == 'complaint' else 'complaint'} {linked} (Order 20 Art. 8)")
            events = [_event(case_id, node, actor, "register", None, "registered", note, at,
                             {"rule_set": rule_set.id})]
            if urgency != inp.urgency:
                events.append(_event(case_id, node, actor, "triage", "registered", "registered",
                                     "；".join(reasons), at, {"from": inp.urgency, "to": urgency}))
            changes.append(CaseChange(row=row, events=events))
        _commit_change(node, changes)
    return to_api(changes[0].row, changes[0].events)


# -- reading ------------------------------------------------------------------------------------
def _load(case_id: str, actor: Any) -> dict[str, Any]:
    if not isinstance(case_id, str) or standard.CASE_ID_RE.match(case_id) is None:
        raise _not_found(str(case_id)[:40])
    row = Case.row(case_id)
    if row is None or not _visible(row, actor):
        raise _not_found(case_id)  # the same answer: a hidden case's existence is not leaked
    return row


def _history(case_id: str) -> list[dict[str, Any]]:
    return list(CaseEvent.for_case(case_id).dicts())


def get_case(node: Node, case_id: str, actor: Any) -> dict[str, Any]:
    """One case (404 also when the actor may not see it)."""
    _require_role(actor, READ_ROLES)
    row = _load(case_id, actor)
    return to_api(row, _history(case_id))


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(_dumps({"pk": pk}).encode()).decode().rstrip("=")


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
    _require_role(actor, READ_ROLES)
    for key in filters:
        if key not in LIST_FILTERS:
            raise NodeError(422, "unknown_field", f"未知查询参数 {key} / unknown query parameter {key}",
                            str(key))
    n = _parse_limit(limit)
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
        until = intake_context(node).calendar.add_working_days(_today(node), days) if days else _today(node)
        query = query.where(Case.next_due.is_null(False) & (Case.next_due <= until)
                            & Case.status.not_in(tuple(DONE_STATUSES)))
    if "q" in f:
        q = standard.check_text(f["q"], "q", max_length=200)
        if q:
            query = query.where(_search_clause(node, q))
    if cursor:
        query = query.where(Case.pk < _decode_cursor(cursor))
    rows = list(query.order_by(Case.pk.desc()).limit(n + 1).dicts())
    more = len(rows) > n
    rows = rows[:n]
    return {"items": _with_history(rows),
            "next_cursor": _encode_cursor(rows[-1]["pk"]) if more else None}


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
    _require_role(actor, LEADERSHIP_ROLES)
    rows = list(Case.open_urgent(DONE_STATUSES, DISCIPLINE, limit))
    counts = {"critical": 0, "urgent": 0}
    for r in rows:
        counts[r["urgency"]] += 1
    return {"items": _with_history(rows), "counts": counts, "as_of": _show_time(node.now())}


# -- actions ------------------------------------------------------------------------------------
def _opt_text(payload: Mapping[str, Any], name: str, max_length: int = NOTE_MAX) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    return standard.check_text(value, name, max_length=max_length)


def _req_text(payload: Mapping[str, Any], name: str, max_length: int = NOTE_MAX) -> str:
    text = _opt_text(payload, name, max_length)
    if not text:
        raise NodeError(422, "required", f"{name} 为必填项 / {name} is required", name)
    return text


def _req_code(payload: Mapping[str, Any], name: str, allowed: Mapping[str, Any] | tuple[str, ...],
              required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise NodeError(422, "required", f"{name} 为必填项，可选值：{'、'.join(allowed)}"
                                             f" / {name} is required: one of {', '.join(allowed)}", name)
        return None
    if not isinstance(value, str) or value not in allowed:
        shown = value if isinstance(value, str) else json.dumps(value)
        raise NodeError(422, "invalid_enum", f"{name} 取值无效：{shown[:40]}，可选值：{'、'.join(allowed)}"
                                             f" / {name} must be one of {', '.join(allowed)}", name)
    return value


def _allowed_actions(kind: str, status: str) -> list[str]:
    return [a for a, by_kind in TRANSITIONS.items() if status in by_kind.get(kind, {})]


def _illegal(row: Mapping[str, Any], action: str) -> NodeError:
    status, kind = row["status"], row["kind"]
    allowed = _allowed_actions(kind, status)
    shown = "、".join(allowed) if allowed else "无"
    return conflict(
        f"案件当前状态为「{STATUS_NAMES_ZH.get(status, status)}」（{status}），不能执行「"
        f"{ACTION_NAMES_ZH.get(action, action)}」（{action}）；可执行：{shown}"
        f" / action {action} is not allowed for a {kind} in status {status}; allowed: "
        f"{', '.join(allowed) or 'none'}", code="illegal_transition", field="action")


def _has_clock(d: Mapping[str, Any], key: str) -> bool:
    return key in d.get("clocks", {}) and d.get(key) is not None


def _met(d: Mapping[str, Any], key: str, now: datetime) -> Mapping[str, Any]:
    return dl.mark_met(d, key, now) if _has_clock(d, key) and key not in d.get("met", {}) else d


def _not_handler(node: Node, row: Mapping[str, Any], action: str) -> NodeError:
    handler = row["handling_node"]
    proposals = "、".join(ACTION_NAMES_ZH[a] for a in PROPOSAL_ACTIONS)
    return NodeError(403, "not_handler",
                     f"案件 {row['case_id']} 由 {handler} 承办，本节点 {node.code} 仅持有只读副本，不能"
                     f"{ACTION_NAMES_ZH.get(action, action)}；可向承办单位提出：{proposals} / case "
                     f"{row['case_id']} is handled by {handler}; this node ({node.code}) holds a read copy and may "
                     f"only propose {', '.join(PROPOSAL_ACTIONS)}", "action")


def _no_link(action: str) -> NodeError:
    return conflict(f"本节点尚未建立链路，无法{ACTION_NAMES_ZH[action]} / no linked node to route to "
                    f"({action} needs a linked parent or child)", code="no_link", field="action")


def act(node: Node, case_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """Apply one action (``payload["action"]``) and return the updated case.

    Order of checks: body shape → action known → role (403) → case visible (404) → fields
    (422) → transition legal (409) → domain rules (422/409). Nothing is written on any error.
    """
    if not isinstance(payload, dict):
        raise bad_request("请求体须为 JSON 对象 / the body must be a JSON object", code="malformed")
    action = payload.get("action")
    if action is None:
        raise NodeError(422, "required", f"action 为必填项，可选值：{'、'.join(ACTIONS)} / action is "
                                         f"required: one of {', '.join(ACTIONS)}", "action")
    _req_code(payload, "action", ACTIONS)
    _require_role(actor, ACTION_ROLES.get(action, ACT_ROLES))
    for key in payload:
        if key != "action" and key not in _ACTION_FIELDS[action]:
            raise NodeError(422, "unknown_field", f"未知字段 {key}（{action} 可用字段："
                                                  f"{'、'.join(sorted(_ACTION_FIELDS[action])) or '无'}）"
                                                  f" / unknown field {key} for action {action}", str(key))
    note = _opt_text(payload, "note")
    ctx = intake_context(node)
    now = node.now()
    with write_tx(node.db):
        row = _load(case_id, actor)
        if getattr(actor, "role", None) == DISCIPLINE and row["department"] != DISCIPLINE:
            raise forbidden("纪检监察角色仅办理针对执法人员的举报 / the discipline role acts on reports "
                            "against staff only")
        if (row.get("held_as") or "handler") != "handler":
            # Only the handling node changes a case (ownership): elsewhere an action is a
            # proposal sent to it, or refused naming it.
            if action in PROPOSAL_ACTIONS and PROPOSAL_HOOK:
                return PROPOSAL_HOOK[0](node, row, dict(payload), actor, now)
            raise _not_handler(node, row, action)
        status, kind = row["status"], row["kind"]
        to_status = TRANSITIONS[action].get(kind, {}).get(status)
        if to_status is None:
            if action in ROUTING_ACTIONS and action in ACTION_HANDLERS:
                pass  # the routing module decides what is legal
            else:
                raise _illegal(row, action)
        deadlines = json.loads(row["deadlines"])
        outcome = json.loads(row["outcome"]) if row["outcome"] else {}
        changed: dict[str, Any] = {}
        extra_events: list[dict[str, Any]] = []
        data: dict[str, Any] = {}
        cal = ctx.calendar

        def rule_set() -> dl.RuleSet:  # looked up only by the actions that start a clock
            return ctx.rule_book.get(row["rule_set"])

        if action in ROUTING_ACTIONS or action in ACTION_HANDLERS:
            handler = ACTION_HANDLERS.get(action)
            if handler is None:
                if action not in ROUTING_ACTIONS:
                    raise invalid("action", f"未实现的操作 {action} / action {action} not implemented")
                raise _no_link(action)
            to_status, changed, handler_note, extra_events = handler(node, row, payload, actor, now)
            note = handler_note or note
        elif action == "accept":
            mode = _req_code(payload, "mode", dl.ACCEPT_MODES, required=False) or "mediation"
            deadlines = dl.on_accept(deadlines, now, rule_set(), cal, mode=mode)
            data["mode"] = mode
            note = note or f"受理（{'调解' if mode == 'mediation' else '调查'}）/ accepted ({mode})"
        elif action == "decline":
            reason = _req_code(payload, "reason", standard.DECLINE_GROUNDS)
            deadlines = _met(deadlines, "accept_by", now)
            outcome = {"outcome": "declined", "reason": reason, "note": note or None}
            data["reason"] = reason
            note = f"{standard.DECLINE_GROUND_BASIS[reason]}：{standard.DECLINE_GROUNDS[reason][0]}" + (
                f"；{note}" if note else "")
        elif action == "refer":
            body = _req_text(payload, "body", 200)
            reason = _req_text(payload, "reason")
            deadlines = _met(_met(deadlines, "accept_by", now), "verify_by", now)
            outcome = {"outcome": "referred", "body": body, "reason": reason, "note": note or None}
            known = next((hit for lookup in REFERRAL_DIRECTORY if (hit := lookup(node, body))), None)
            if known:  # a body of the directory (R2.5): its name, hotline and what to tell the consumer
                outcome.update({"body": known["name"], "body_code": known["code"],
                                "hotline": known.get("hotline") or None, "tell": known["tell"]})
                body = f"{known['name']}（{known['code']}）"
                data["body_code"] = known["code"]
            note = f"移送/告知：{body}；{reason}" + (f"；{note}" if note else "")
        elif action in ("mediate", "verify", "close"):
            pass  # a status change only; the clocks run on
        elif action == "conclude":
            if kind == "complaint":
                code = _req_code(payload, "outcome", COMPLAINT_OUTCOMES)
                reason = _req_code(payload, "reason", standard.MEDIATION_END_GROUNDS,
                                   required=(code == "not_mediated"))
                amount = payload.get("amount_recovered")
                recovered = None if amount is None else standard.parse_money(amount, "amount_recovered")
                if recovered is not None:
                    changed["amount_recovered"] = recovered
                deadlines = dl.on_terminate(deadlines, now, rule_set(), cal) \
                    if _has_clock(deadlines, "conclude_by") else deadlines
                outcome = {**outcome, "outcome": code, "amount_recovered": recovered,
                           "note": note or None}
                if reason:
                    outcome["reason"] = reason
                    note = (f"{standard.MEDIATION_END_GROUND_BASIS[reason]}："
                            f"{standard.MEDIATION_END_GROUNDS[reason][0]}" + (f"；{note}" if note else ""))
            else:
                code = _req_code(payload, "outcome", REPORT_OUTCOMES, required=False) or status
                if code != status:
                    raise invalid("outcome", f"举报已{STATUS_NAMES_ZH[status]}，办结结果应为 {status}"
                                             f" / the report is {status}: outcome must be {status}")
                for key in ("amount_recovered", "reason"):
                    if payload.get(key) is not None:
                        raise invalid(key, f"举报办结不适用 {key} / {key} does not apply to a report")
                outcome = {**outcome, "outcome": code, "note": note or None}
            data["outcome"] = code
        elif action in ("file", "not_file"):
            complainant = json.loads(row["complainant"]) or {}
            named = not complainant.get("anonymous", True)
            deadlines = dl.on_decision(deadlines, now, rule_set(), cal, notify_reporter=named)
            outcome = {"outcome": to_status, "note": note or None}
        elif action == "answer":
            text = _req_text(payload, "text", 20_000)
            outcome = {"outcome": "answered", "answer": text}
            data["answer"] = True
        elif action == "feedback":
            satisfaction = _req_code(payload, "satisfaction", standard.SATISFACTION)
            outcome = {**outcome, "satisfaction": satisfaction}
            note = f"回访：{standard.SATISFACTION[satisfaction][0]} / feedback: {satisfaction}" + (
                f"；{note}" if note else "")
        elif action == "notify":
            pending = [k for k in ("mediation_notice_by", "reporter_notice_by")
                       if _has_clock(deadlines, k) and k not in deadlines.get("met", {})]
            if not pending:
                raise conflict("没有待发出的告知 / no notice is pending for this case",
                               code="nothing_to_notify", field="action")
            for k in pending:
                deadlines = dl.mark_met(deadlines, k, now)
        elif action == "pause":
            reason = _opt_text(payload, "reason", 200) or "testing"
            deadlines = dl.on_pause(deadlines, now, cal, reason=reason)
        elif action == "resume":
            deadlines = dl.on_resume(deadlines, now, cal)
        elif action == "extend":
            clock = _req_code(payload, "clock", tuple(deadlines.get("clocks", {})), required=False) \
                or "verify_by"
            days = payload.get("days")
            if isinstance(days, bool) or not isinstance(days, int):
                raise invalid("days", "days 须为整数（工作日）/ days must be an integer (working days)")
            approved_by = _req_text(payload, "approved_by", 200)
            deadlines = dl.extend(deadlines, clock, days, approved_by, cal, approved_at=now)
            note = note or f"{clock} 延长 {days} 个工作日（{approved_by} 批准）/ extended by {days} working days"
        else:  # pragma: no cover - TRANSITIONS and this chain are kept in step
            raise invalid("action", f"未实现的操作 {action} / action {action} not implemented")

        history = _history(row["case_id"])
        changed = _changes(node, row, to_status, deadlines, outcome, changed, now)
        new_row = {**row, **changed}
        events = [_event(row["case_id"], node, actor, action, status, to_status, note, _db_time(now),
                         data), *extra_events]
        _commit_change(node, [CaseChange(row=new_row, events=events, previous_version=row["version"],
                                         changed=changed, action=action, payload=dict(payload))])
    return to_api(new_row, history + events)


def _changes(node: Node, row: Mapping[str, Any], to_status: str, deadlines: Mapping[str, Any],
             outcome: Mapping[str, Any], changed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a change writes: status, clocks, outcome, overdue flag, version, time."""
    overdue = bool(deadlines) and bool(dl.overdue_clocks(deadlines, to_status, _today(node)))
    return {**changed, "status": to_status, "deadlines": _dumps(deadlines),
            "next_due": _next_due(deadlines, to_status),
            "outcome": _dumps(outcome) if outcome else None, "overdue": overdue,
            "version": row["version"] + 1, "updated_at": _db_time(now)}


# -- the overdue job ----------------------------------------------------------------------------
def mark_overdue(node: Node) -> int:
    """Flag open cases whose running clock has passed (today in Asia/Shanghai from the node's
    clock); one ``overdue`` history event per case each time it becomes overdue."""
    today = _today(node)
    flagged = 0
    with node.activate():
        candidates = list(Case.overdue_candidates(today))
        for (case_id,) in candidates:
            now = node.now()
            with write_tx(node.db):
                row = Case.row(case_id)
                if row is None or row["overdue"]:
                    continue
                deadlines = json.loads(row["deadlines"])
                late = dl.overdue_clocks(deadlines, row["status"], today)
                if not late:
                    continue
                dues = "、".join(f"{k}（{deadlines[k]}）" for k in late)
                note = f"已超期：{dues} / overdue: " + ", ".join(f"{k} (due {deadlines[k]})" for k in late)
                changed = {"overdue": True, "version": row["version"] + 1, "updated_at": _db_time(now)}
                new = {**row, **changed}
                event = _event(case_id, node, SYSTEM, "overdue", row["status"], row["status"], note,
                               _db_time(now), {"clocks": late})
                _commit_change(node, [CaseChange(row=new, events=[event], previous_version=row["version"],
                                                 changed=changed, action="overdue")])
                flagged += 1
    return flagged


def urgency_label(urgency: str) -> str:
    return URGENCY_NAMES_ZH.get(urgency, urgency)


def job_specs(node: Node) -> list[jobs.JobSpec]:
    """The overdue check, every ``deadlines.overdue_check_interval_s`` (R2.6)."""
    return [("deadlines.mark_overdue", lambda n: float(n.config.deadlines.overdue_check_interval_s),
             mark_overdue)]
