"""What every part of the case lifecycle shares: who may do what, the per-node reference
data, the case as the API shows it, and the readers of action payloads.

Serves CONTRACT §4-§5 (roles; the case shape), R2.3 (reports against staff are seen and
handled by the ``discipline`` role only), R1.4 (urgency labels) and R4.1 (every record names
node, actor and time). Intake (``intake.py``), the state machine (``lifecycle.py``), search
(``search.py``) and the overdue job (``overdue.py``) build on these; nothing here writes.

Storage conventions: datetimes are stored naive in UTC (identical on SQLite and PostgreSQL)
and shown at +08:00; JSON columns hold canonical-ish JSON text; money is a decimal string.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from node import deadlines as dl
from node.cases import standard
from node.cases.category_table import CategoryTable, load_categories
from node.cases.checks import check_text
from node.cases.extensions import load_extension_schemas
from node.cases.models import Case, CaseEvent
from node.cases.triage import URGENCY_NAMES_ZH
from node.config import CONFIGS_DIR
from node.db import is_sqlite, stored_time
from node.divisions import HQ_CODE, load_divisions
from node.errors import NodeError, forbidden, not_found
from node.runtime import Node

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

NOTE_MAX = 2000


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
    """The reference data intake and the actions check against, read once per node."""
    ctx = node.cache.get("intake_context")
    if ctx is None:
        divisions = load_divisions()
        ctx = IntakeContext(
            divisions=divisions,
            categories=categories(node),
            extension_schemas=load_extension_schemas(CONFIGS_DIR / "extensions", divisions=divisions),
            accepting_province=None if node.code == HQ_CODE else divisions.province_of(node.code),
            rule_book=dl.rule_book(node),
            calendar=dl.work_calendar(node),
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


# -- conventions -------------------------------------------------------------------------------
def db_time(dt: datetime) -> datetime:
    """An aware time as stored: naive UTC, the same on SQLite and PostgreSQL."""
    return dt.astimezone(UTC).replace(tzinfo=None)


def show_time(value: Any) -> str | None:
    """A stored time as shown: ISO 8601 at +08:00."""
    at = stored_time(value)
    return at.astimezone(SHANGHAI).isoformat() if at else None


def shanghai_today(node: Node) -> date:
    return node.now().astimezone(SHANGHAI).date()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def require_role(actor: Any, roles: tuple[str, ...]) -> None:
    if getattr(actor, "role", None) not in roles:
        raise forbidden(f"角色 {getattr(actor, 'role', None)} 无权执行此操作（需要：{'/'.join(roles)}）"
                        f" / role {getattr(actor, 'role', None)} may not do this (needs {', '.join(roles)})")


def not_found_error(case_id: str) -> NodeError:
    return not_found(f"案件 {case_id} 不存在 / case {case_id} not found")


def visible(row: Mapping[str, Any], actor: Any) -> bool:
    """Reports against staff are seen by discipline inspection only (R2.3); everything else by
    every staff role."""
    if row["department"] == DISCIPLINE:
        return getattr(actor, "role", None) == DISCIPLINE
    return True


# -- the case as stored and as shown -----------------------------------------------------------
def event_api(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": show_time(e["at"]), "node": e["node"], "actor": e["actor"], "action": e["action"],
            "from_status": e["from_status"], "to_status": e["to_status"], "note": e["note"]}


def _day(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value)[:10] if value else None)


def to_api(row: Mapping[str, Any], events: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The case as the API returns it (CONTRACT §5 shape plus linked_case, department,
    overdue, version)."""
    return {
        "id": row["case_id"],
        "kind": row["kind"],
        "report_target": row["report_target"],
        "channel": row["channel"],
        "received_at": show_time(row["received_at"]),
        "urgency": row["urgency"],
        "complainant": json.loads(row["complainant"]),
        "respondent": json.loads(row["respondent"]),
        "category": row["category"],
        "summary": row["summary"],
        "description": row["description"] or None,
        "demand": row.get("demand") or None,
        "occurred_on": _day(row.get("occurred_on")),
        "amount": row["amount"],
        "amount_recovered": row["amount_recovered"],
        "extensions": json.loads(row["extensions"]),
        "status": row["status"],
        "accepting_node": row["accepting_node"],
        "handling_node": row["handling_node"],
        "rule_set": row["rule_set"],
        "deadlines": json.loads(row["deadlines"]),
        "outcome": json.loads(row["outcome"]) if row["outcome"] else None,
        "history": [event_api(e) for e in events],
        "linked_case": row["linked_case"],
        "department": row["department"],
        "overdue": bool(row["overdue"]),
        "version": row["version"],
        "held_as": row.get("held_as") or "handler",
        "attention": row.get("attention"),
        "custody": json.loads(row.get("route") or "[]"),
    }


def load_case(case_id: str, actor: Any) -> dict[str, Any]:
    """The stored row of a case the actor may see, else 404."""
    if not isinstance(case_id, str) or standard.CASE_ID_RE.match(case_id) is None:
        raise not_found_error(str(case_id)[:40])
    row = Case.row(case_id)
    if row is None or not visible(row, actor):
        raise not_found_error(case_id)  # the same answer: a hidden case's existence is not leaked
    return row


def load_history(case_id: str) -> list[dict[str, Any]]:
    return list(CaseEvent.for_case(case_id).dicts())


def superseded_history(case_id: str) -> list[dict[str, Any]]:
    """The events a copy kept when the handler's history contradicted them (issue 13 item 4:
    "keeps both"), each with ``superseded`` — when and from whom — for the API and the page."""
    return [dict(event_api(e), superseded=e["superseded"]) for e in CaseEvent.superseded_for(case_id).dicts()]


# -- reading action payloads (a note, a reason, a coded ground) --------------------------------
def optional_text(payload: Mapping[str, Any], name: str, max_length: int = NOTE_MAX) -> str:
    """A free-text field of an action (note, reason): stripped, ``""`` when absent."""
    value = payload.get(name)
    if value is None:
        return ""
    return check_text(value, name, max_length=max_length)


def required_text(payload: Mapping[str, Any], name: str, max_length: int = NOTE_MAX) -> str:
    text = optional_text(payload, name, max_length)
    if not text:
        raise NodeError(422, "required", f"{name} 为必填项 / {name} is required", name)
    return text


def required_code(payload: Mapping[str, Any], name: str, allowed: Mapping[str, Any] | tuple[str, ...],
                  required: bool = True) -> str | None:
    """A coded value of ``allowed`` (422 naming the codes when missing or unknown); with
    ``required=False`` an absent value is ``None``."""
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


def urgency_label(urgency: str) -> str:
    """The Chinese name of an urgency grade (一般 / 紧急 / 特别紧急)."""
    return URGENCY_NAMES_ZH.get(urgency, urgency)

