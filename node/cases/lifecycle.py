"""The case lifecycle: the state machine, the actions, and the one write path.

Serves R1.1 and R1.3 (complaints mediated and concluded, reports verified and filed,
consultations answered), R2.3 (reports against staff are handled by the ``discipline`` role
only), R2.5 (``refer``), R2.6 (statutory clocks started, met, paused and extended by the
actions) and R4.1 (every change is a history event naming node, actor and time); CONTRACT §5
"Actions".

``act(node, case_id, payload, actor)`` applies one action of ``ACTIONS`` (``TRANSITIONS``:
action → kind → from status → to status). Every write — a new case (``intake.py``), a state
change here, the overdue flag (``overdue.py``) — goes through ``commit_change``: the single
place where routing (``node/routing``, R1.5, R2; docs/routing.md) adds its replication
documents in the same transaction, through the hooks that ``install_extension`` fills.
``route``, ``escalate``, ``return``, ``take_over``, ``urge``, ``comment`` and ``reopen`` are
implemented by routing (``ACTION_HANDLERS``); a node without links answers the routing
actions with 409 (no linked node). Only the handling node changes a case: at a node holding a
read copy (``held_as = "copy"``) an action is refused with 403 naming the handler, or — for
``PROPOSAL_ACTIONS`` — sent to the handler as a proposal (``PROPOSAL_HOOK``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from node import deadlines as dl
from node.cases import standard
from node.cases.chain import chain_events
from node.cases.checks import parse_money
from node.cases.common import (
    ACT_ROLES,
    ACTION_ROLES,
    DEPARTMENTS,
    DISCIPLINE,
    STATUS_NAMES_ZH,
    db_time,
    dumps,
    intake_context,
    load_case,
    load_history,
    optional_text,
    require_role,
    required_code,
    required_text,
    shanghai_today,
    to_api,
)
from node.cases.models import Case, CaseEvent
from node.db import is_sqlite, write_tx
from node.errors import NodeError, bad_request, conflict, forbidden, invalid
from node.runtime import Node

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
    # supervision and follow-up (R2.6-R2.7; node/routing/actions.py): at a node that holds
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
    # 交办: the lead department inside this node, with departments copied (issue 11 item 5)
    "assign": {"complaint": {s: s for s in ("registered", "accepted", "in_mediation")},
               "report": {s: s for s in ("registered", "verifying", "filed", "not_filed")},
               "consultation": {"registered": "registered"}},
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
ACTION_FIELDS: dict[str, frozenset[str]] = {
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
    "assign": frozenset({"department", "copy_departments", "note"}),
}
COMPLAINT_OUTCOMES = ("mediated", "not_mediated", "settled", "withdrawn")
REPORT_OUTCOMES = ("filed", "not_filed")


# -- extension points (routing fills them through install_extension) ----------------------------
@dataclass
class CaseChange:
    """One case written by ``commit_change``.

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
# Called inside the write transaction after another node's read copy of a case was stored here
# (routing's arrivals): fn(node, row as stored, previous row or None). Domains that keep
# something per case (complaint publicity) follow copies with it.
COPY_HOOKS: list[Callable[[Node, dict[str, Any], dict[str, Any] | None], None]] = []
# Called for an action at a node that holds only a copy (the action is one of
# PROPOSAL_ACTIONS): fn(node, row, payload, actor, now) -> the response (routing sends it on).
PROPOSAL_HOOK: list[Callable[..., dict[str, Any]]] = []
# Referral bodies from a directory: fn(node, body) -> {"code", "name", "tell", ...} or None.
REFERRAL_DIRECTORY: list[Callable[[Node, str], Mapping[str, Any] | None]] = []
# Handlers a routing module registers for route / escalate / return:
# fn(node, row, payload, actor, now) -> (to_status, changed columns, note, extra events).
ACTION_HANDLERS: dict[str, Callable[..., Any]] = {}


def install_extension(*, prepare: Callable[[Node, list[CaseChange]], None] | None = None,
                      after_change: Callable[[Node, list[CaseChange]], None] | None = None,
                      after_copy: Callable[[Node, dict[str, Any], dict[str, Any] | None], None] | None = None,
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
    if after_copy is not None and after_copy not in COPY_HOOKS:
        COPY_HOOKS.append(after_copy)
    if propose is not None and not PROPOSAL_HOOK:
        PROPOSAL_HOOK.append(propose)
    if referral is not None and referral not in REFERRAL_DIRECTORY:
        REFERRAL_DIRECTORY.append(referral)
    ACTION_HANDLERS.update(actions or {})
    for code, name in (departments or {}).items():
        DEPARTMENTS.setdefault(code, name)


# -- the one write path --------------------------------------------------------------------------
def next_due(deadlines: Mapping[str, Any], status: str) -> date | None:
    """The earliest due date among the clocks still running (for the overdue query)."""
    if not deadlines:
        return None
    live = dl.overdue_clocks(deadlines, status, date.max)
    dues = [deadlines[k] for k in live if deadlines.get(k)]
    return date.fromisoformat(min(dues)) if dues else None


def new_event(case_id: str, node: Node, actor: Any, action: str, from_status: str | None,
              to_status: str | None, note: str, at: datetime, data: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """One history event as ``commit_change`` writes it (``at`` as stored: naive UTC)."""
    return {"case_id": case_id, "at": at, "node": node.code, "actor": getattr(actor, "login", str(actor)),
            "action": action, "from_status": from_status, "to_status": to_status, "note": note,
            "data": dumps(dict(data or {}))}


def commit_change(node: Node, changes: list[CaseChange]) -> None:
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
        insert_rows(node.db, Case, new_rows)
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
        # after the case rows are written (an update holds its row): no one appends in between
        chain_events(node.db, events, new_rows and {r["case_id"] for r in new_rows})
        insert_rows(node.db, CaseEvent, events)
    for hook in CHANGE_HOOKS:
        hook(node, changes)


_INSERT_SQL: dict[tuple[Any, ...], str] = {}


def insert_rows(db: Any, model: Any, rows: list[dict[str, Any]]) -> None:
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


# -- actions ------------------------------------------------------------------------------------
def allowed_actions(kind: str, status: str) -> list[str]:
    """The actions ``TRANSITIONS`` allows for a case of ``kind`` in ``status``."""
    return [a for a, by_kind in TRANSITIONS.items() if status in by_kind.get(kind, {})]


def illegal_action(row: Mapping[str, Any], action: str) -> NodeError:
    """409 naming the case's status and the actions it allows."""
    status, kind = row["status"], row["kind"]
    allowed = allowed_actions(kind, status)
    shown = "、".join(allowed) if allowed else "无"
    return conflict(
        f"案件当前状态为「{STATUS_NAMES_ZH.get(status, status)}」（{status}），不能执行「"
        f"{ACTION_NAMES_ZH.get(action, action)}」（{action}）；可执行：{shown}"
        f" / action {action} is not allowed for a {kind} in status {status}; allowed: "
        f"{', '.join(allowed) or 'none'}", code="illegal_transition", field="action")


def _decline_ground(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    """The coded ground of a decline, and the reason as stated when it came as text.

    CONTRACT §5 lists ``decline (reason)`` without saying the reason is coded, so a text is
    taken too: it is recorded under the one ground whose wording it quotes, else under
    ``standard.DEFAULT_DECLINE_GROUND`` (Art. 15(6), the catch-all), with the text kept.
    """
    value = payload.get("reason")
    if not isinstance(value, str) or value in standard.DECLINE_GROUNDS:
        return required_code(payload, "reason", standard.DECLINE_GROUNDS), None
    text = required_text(payload, "reason")
    if text in standard.DECLINE_GROUNDS:
        return text, None
    quoted = [code for code, (zh, en) in standard.DECLINE_GROUNDS.items()
              if text in zh or text.lower() in en.lower()]
    return (quoted[0] if len(quoted) == 1 else standard.DEFAULT_DECLINE_GROUND), text


def _has_clock(d: Mapping[str, Any], key: str) -> bool:
    return key in d.get("clocks", {}) and d.get(key) is not None


def _met(d: Mapping[str, Any], key: str, now: datetime) -> Mapping[str, Any]:
    return dl.mark_met(d, key, now) if _has_clock(d, key) and key not in d.get("met", {}) else d


def not_handler_error(node: Node, row: Mapping[str, Any], action: str) -> NodeError:
    """403 at a node holding a read copy, naming the handler and what may be proposed to it."""
    handler = row["handling_node"]
    proposals = "、".join(ACTION_NAMES_ZH[a] for a in PROPOSAL_ACTIONS)
    return NodeError(403, "not_handler",
                     f"案件 {row['case_id']} 由 {handler} 承办，本节点 {node.code} 仅持有只读副本，不能"
                     f"{ACTION_NAMES_ZH.get(action, action)}；可向承办单位提出：{proposals} / case "
                     f"{row['case_id']} is handled by {handler}; this node ({node.code}) holds a read copy and may "
                     f"only propose {', '.join(PROPOSAL_ACTIONS)}", "action")


def no_link_error(action: str) -> NodeError:
    """409: a routing action at a node with no parent or child to send the case to."""
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
    required_code(payload, "action", ACTIONS)
    require_role(actor, ACTION_ROLES.get(action, ACT_ROLES))
    for key in payload:
        if key != "action" and key not in ACTION_FIELDS[action]:
            raise NodeError(422, "unknown_field", f"未知字段 {key}（{action} 可用字段："
                                                  f"{'、'.join(sorted(ACTION_FIELDS[action])) or '无'}）"
                                                  f" / unknown field {key} for action {action}", str(key))
    note = optional_text(payload, "note")
    ctx = intake_context(node)
    now = node.now()
    with write_tx(node.db):
        row = load_case(case_id, actor)
        if getattr(actor, "role", None) == DISCIPLINE and row["department"] != DISCIPLINE:
            raise forbidden("纪检监察角色仅办理针对执法人员的举报 / the discipline role acts on reports "
                            "against staff only")
        if (row.get("held_as") or "handler") != "handler":
            # Only the handling node changes a case (ownership): elsewhere an action is a
            # proposal sent to it, or refused naming it.
            if action in PROPOSAL_ACTIONS and PROPOSAL_HOOK:
                return PROPOSAL_HOOK[0](node, row, dict(payload), actor, now)
            raise not_handler_error(node, row, action)
        status, kind = row["status"], row["kind"]
        to_status = TRANSITIONS[action].get(kind, {}).get(status)
        if to_status is None:
            if action in ROUTING_ACTIONS and action in ACTION_HANDLERS:
                pass  # the routing module decides what is legal
            else:
                raise illegal_action(row, action)
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
                raise no_link_error(action)
            to_status, changed, handler_note, extra_events = handler(node, row, payload, actor, now)
            note = handler_note or note
        elif action == "accept":
            mode = required_code(payload, "mode", dl.ACCEPT_MODES, required=False) or "mediation"
            deadlines = dl.on_accept(deadlines, now, rule_set(), cal, mode=mode)
            data["mode"] = mode
            note = note or f"受理（{'调解' if mode == 'mediation' else '调查'}）/ accepted ({mode})"
        elif action == "decline":
            reason, stated = _decline_ground(payload)
            deadlines = _met(deadlines, "accept_by", now)
            outcome = {"outcome": "declined", "reason": reason, "note": note or None}
            data["reason"] = reason
            ground = f"{standard.DECLINE_GROUND_BASIS[reason]}：{standard.DECLINE_GROUNDS[reason][0]}"
            if stated is not None:
                outcome["reason_text"] = data["reason_text"] = stated
                if reason == standard.DEFAULT_DECLINE_GROUND:
                    data["reason_defaulted"] = True
                    ground = (f"所述理由「{stated}」未对应第十五条所列情形，按其他情形记录（{ground}）"
                              f" / the stated reason names no listed ground; recorded as {reason}")
                else:
                    ground = f"{ground}（所述理由：{stated}）"
            note = ground + (f"；{note}" if note else "")
        elif action == "refer":
            body = required_text(payload, "body", 200)
            reason = required_text(payload, "reason")
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
                code = required_code(payload, "outcome", COMPLAINT_OUTCOMES)
                reason = required_code(payload, "reason", standard.MEDIATION_END_GROUNDS, required=False)
                # CONTRACT §5 lists conclude without a ground, yet Order 20 Art. 21 wants one on
                # record for a mediation that failed: the commonest is taken, and said so.
                defaulted = code == "not_mediated" and reason is None
                if defaulted:
                    reason = standard.DEFAULT_MEDIATION_END_GROUND
                amount = payload.get("amount_recovered")
                recovered = None if amount is None else parse_money(amount, "amount_recovered")
                if recovered is not None:
                    changed["amount_recovered"] = recovered
                deadlines = dl.on_terminate(deadlines, now, rule_set(), cal) \
                    if _has_clock(deadlines, "conclude_by") else deadlines
                outcome = {**outcome, "outcome": code, "amount_recovered": recovered,
                           "note": note or None}
                if reason:
                    outcome["reason"] = reason
                    ground = (f"{standard.MEDIATION_END_GROUND_BASIS[reason]}："
                              f"{standard.MEDIATION_END_GROUNDS[reason][0]}")
                    if defaulted:
                        data.update(reason=reason, reason_defaulted=True)
                        ground = (f"未说明终止调解理由，按「双方不能达成一致」记录（{ground}）"
                                  f" / no ground given; recorded as {reason} "
                                  f"({standard.MEDIATION_END_GROUND_BASIS[reason]})")
                    note = ground + (f"；{note}" if note else "")
            else:
                code = required_code(payload, "outcome", REPORT_OUTCOMES, required=False) or status
                if code != status:
                    raise invalid("outcome", f"举报已{STATUS_NAMES_ZH[status]}，办结结果应为 {status}"
                                             f" / the report is {status}: outcome must be {status}")
                if payload.get("reason") is not None:
                    raise invalid("reason", "举报办结不适用 reason / reason does not apply to a report")
                # CONTRACT §5 lists amount_recovered for conclude whatever the kind: an
                # enforcement case can recover a consumer's loss too.
                amount = payload.get("amount_recovered")
                recovered = None if amount is None else parse_money(amount, "amount_recovered")
                outcome = {**outcome, "outcome": code, "note": note or None}
                if recovered is not None:
                    changed["amount_recovered"] = outcome["amount_recovered"] = recovered
            data["outcome"] = code
        elif action in ("file", "not_file"):
            complainant = json.loads(row["complainant"]) or {}
            named = not complainant.get("anonymous", True)
            deadlines = dl.on_decision(deadlines, now, rule_set(), cal, notify_reporter=named)
            outcome = {"outcome": to_status, "note": note or None}
        elif action == "assign":
            lead, copies = _assignment(row, payload)
            changed["department"] = lead
            data.update(department=lead, copy_departments=copies, previous_department=row["department"])
            names = "、".join(DEPARTMENTS.get(c, c) for c in copies)
            note = note or (f"交办：主办 {DEPARTMENTS.get(lead, lead)}" + (f"，协办 {names}" if copies else "")
                            + f" / assigned: lead {lead}" + (f"; copied {', '.join(copies)}" if copies else ""))
        elif action == "answer":
            text = required_text(payload, "text", 20_000)
            outcome = {"outcome": "answered", "answer": text}
            data["answer"] = True
        elif action == "feedback":
            satisfaction = required_code(payload, "satisfaction", standard.SATISFACTION)
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
            reason = optional_text(payload, "reason", 200) or "testing"
            deadlines = dl.on_pause(deadlines, now, cal, reason=reason)
        elif action == "resume":
            deadlines = dl.on_resume(deadlines, now, cal)
        elif action == "extend":
            clock = required_code(payload, "clock", tuple(deadlines.get("clocks", {})), required=False) \
                or "verify_by"
            days = payload.get("days")
            if isinstance(days, bool) or not isinstance(days, int):
                raise invalid("days", "days 须为整数（工作日）/ days must be an integer (working days)")
            approved_by = required_text(payload, "approved_by", 200)
            deadlines = dl.extend(deadlines, clock, days, approved_by, cal, approved_at=now)
            note = note or f"{clock} 延长 {days} 个工作日（{approved_by} 批准）/ extended by {days} working days"
        else:  # pragma: no cover - TRANSITIONS and this chain are kept in step
            raise invalid("action", f"未实现的操作 {action} / action {action} not implemented")

        history = load_history(row["case_id"])
        changed = _changes(node, row, to_status, deadlines, outcome, changed, now)
        new_row = {**row, **changed}
        events = [new_event(row["case_id"], node, actor, action, status, to_status, note, db_time(now),
                            data), *extra_events]
        commit_change(node, [CaseChange(row=new_row, events=events, previous_version=row["version"],
                                        changed=changed, action=action, payload=dict(payload))])
    return to_api(new_row, history + events)


MAX_COPIED_DEPARTMENTS = 10


def _assignment(row: Mapping[str, Any], payload: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The lead department and the copied ones of an ``assign``. A report against staff stays
    with discipline inspection, and only such a report goes there (R2.3: the accused unit's
    other departments never see it)."""
    lead = required_code(payload, "department", DEPARTMENTS)
    raw = payload.get("copy_departments") or []
    if isinstance(raw, str):
        raw = [c.strip() for c in raw.split(",") if c.strip()]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise invalid("copy_departments", "copy_departments 须为机构代码列表 / copy_departments must be a list of "
                                          "department codes")
    copies = list(dict.fromkeys(raw))
    unknown = [c for c in copies if c not in DEPARTMENTS]
    if unknown:
        raise invalid("copy_departments", f"未知机构 {unknown[0][:40]} / unknown department")
    if lead in copies:
        raise invalid("copy_departments", "主办机构不能同时为协办 / the lead department cannot also be copied")
    if len(copies) > MAX_COPIED_DEPARTMENTS:
        raise invalid("copy_departments", f"协办机构最多 {MAX_COPIED_DEPARTMENTS} 个 / at most "
                                          f"{MAX_COPIED_DEPARTMENTS} copied departments")
    staff = row.get("report_target") == "staff"
    if staff and (lead != DISCIPLINE or copies):
        raise forbidden("针对执法人员的举报只由纪检监察机构办理 / a report against staff stays with discipline "
                        "inspection alone")
    if not staff and (lead == DISCIPLINE or DISCIPLINE in copies):
        raise invalid("department", "纪检监察机构只办理针对执法人员的举报 / discipline inspection handles reports "
                                    "against staff only")
    return lead, copies


def _changes(node: Node, row: Mapping[str, Any], to_status: str, deadlines: Mapping[str, Any],
             outcome: Mapping[str, Any], changed: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a change writes: status, clocks, outcome, overdue flag, version, time."""
    overdue = bool(deadlines) and bool(dl.overdue_clocks(deadlines, to_status, shanghai_today(node)))
    return {**changed, "status": to_status, "deadlines": dumps(deadlines),
            "next_due": next_due(deadlines, to_status),
            "outcome": dumps(outcome) if outcome else None, "overdue": overdue,
            "version": row["version"] + 1, "updated_at": db_time(now)}

