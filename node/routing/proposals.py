"""Proposals (R2.6-R2.7; docs/routing.md §3, §6): a node holding a copy of a case asks the
handling node to act on it — ``urge``, ``comment``, ``take_over``, ``feedback``, ``reopen``.

The proposer sends a ``case.proposal`` document and records it (``sent``); the handler
applies it as an action of the case, or records why not (``proposal_rejected``); the result
comes back with the next update and resolves the proposer's record (``applied`` /
``rejected``). Only the handler changes a case, so a proposal can never fork it: if the
handler's version has moved on, the handler's version wins and says so.
"""
from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.cases import (
    ACTION_NAMES_ZH,
    ACTIONS,
    DISCIPLINE,
    SATISFACTION,
    TRANSITIONS,
    Actor,
    Case,
    CaseChange,
    CaseEvent,
    act,
    commit_change,
    illegal_action,
    new_event,
    required_code,
    required_text,
    to_api,
)
from node.divisions import load_divisions
from node.errors import NodeError, conflict, forbidden
from node.network import replicator
from node.routing.custody import unit_name
from node.routing.documents import DOC_PROPOSAL, arrived, db_time, from_json, lock_case, send, show_time, to_json
from node.routing.models import CaseProposal
from node.runtime import Node
from replication import topology
from replication.engine import Delivery
from replication.registry import ApplyError

log = logging.getLogger(__name__)

# The proposal being applied at the handler (its id and proposer): the lifecycle hooks
# (``node.routing.hooks``) tag the resulting event with it and give the proposer a copy.
CURRENT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("proposal", default=None)


@dataclass(frozen=True)
class RemoteActor:
    """A user of another node, acting through a proposal (recorded as ``node/login``)."""
    login: str
    role: str
    node: str


# -- at the node holding a copy -------------------------------------------------------------------
def propose(node: Node, row: Mapping[str, Any], payload: dict[str, Any], actor: Any, now: datetime
            ) -> dict[str, Any]:
    """Send an action to the handling node (the case domain calls this for a copy)."""
    action = payload["action"]
    handler = row["handling_node"]
    div = load_divisions()
    if action == "take_over" and not (div.is_within(handler, node.code) and handler != node.code):
        raise forbidden(f"只有承办单位 {handler} 的上级可以提级办理 / only a superior of the handler {handler} may take "
                        f"the case over")
    if action in ("feedback", "reopen") and row["accepting_node"] != node.code:
        raise forbidden(f"回访和重新办理由受理单位 {row['accepting_node']} 提出 / follow-up calls and reopening are "
                        f"asked by the accepting node {row['accepting_node']}")
    # checked here as well as at the handler, so a bad proposal is refused to the person
    # who made it instead of coming back later as a rejection
    if action == "feedback":
        required_code(payload, "satisfaction", SATISFACTION)
    if action in ("comment",):
        required_text(payload, "note")
    if action == "reopen":
        required_text(payload, "reason")
    if row["status"] != "transferred" and row["status"] not in TRANSITIONS[action].get(row["kind"], {}):
        raise illegal_action(row, action)
    proposal_id = uuid.uuid4().hex
    body = {"case_id": row["case_id"], "proposal_id": proposal_id, "action": action,
            "payload": {k: v for k, v in payload.items() if k != "action"},
            "actor": getattr(actor, "login", "?"), "role": getattr(actor, "role", "?"), "proposer": node.code,
            "at": show_time(now)}
    if not send(node, DOC_PROPOSAL, handler, body):
        raise conflict(f"没有通往承办单位 {handler} 的链路，提议无法送达 / no linked route to the handler {handler}",
                       code="no_route", field="action")
    CaseProposal.insert(proposal_id=proposal_id, case_id=row["case_id"], action=action,
                        payload=to_json(body["payload"]), actor=body["actor"], to_node=handler, state="sent",
                        created_at=now).execute()
    case = to_api(row, list(CaseEvent.for_case(row["case_id"]).dicts()))
    case["proposal"] = {"id": proposal_id, "action": action, "to": handler, "state": "sent",
                        "message": f"已送承办单位 {unit_name(handler)} / sent to the handler {handler}"}
    return case


def resolve(node: Node, case_id: str, new_events: list[Mapping[str, Any]]) -> None:
    """An update brought the handler's answer to proposals of this node: mark them."""
    pending = ({p.proposal_id: p for p in CaseProposal.pending_for(case_id)}
               if any(from_json(e.get("data"), {}).get("proposal_id") for e in new_events) else {})
    if not pending:
        return
    for e in new_events:
        data = from_json(e.get("data"), {})
        p = pending.get(data.get("proposal_id"))
        if p is None:
            continue
        state = "rejected" if e["action"] == "proposal_rejected" else "applied"
        (CaseProposal.update(state=state, reason=e["note"] if state == "rejected" else "",
                             resolved_at=node.now())
            .where(CaseProposal.id == p.id)
            .execute())


def list_proposals(node: Node, case_id: str | None = None) -> list[dict[str, Any]]:
    """What this node proposed and what became of it (``GET /api/v1/proposals``)."""
    q = CaseProposal.select().order_by(CaseProposal.id)
    if case_id:
        q = q.where(CaseProposal.case_id == case_id)
    return [{"id": p.proposal_id, "case_id": p.case_id, "action": p.action, "actor": p.actor, "to": p.to_node,
             "state": p.state, "reason": p.reason, "created_at": show_time(p.created_at),
             "resolved_at": show_time(p.resolved_at)} for p in q]


# -- the ``case.proposal`` document, on the way and at the handler ----------------------------------
def apply_proposal(node: Node, d: Delivery) -> None:
    body = d.body
    case_id, proposal_id = body.get("case_id"), body.get("proposal_id")
    if not isinstance(case_id, str) or not isinstance(proposal_id, str) or body.get("action") not in ACTIONS:
        raise ApplyError("提议文档格式错误 / malformed proposal")
    if not arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
        else:
            _record_undeliverable(node, body, d.origin, f"没有通往 {d.dest} 的链路 / no linked route to {d.dest}")
        return
    lock_case(node, case_id)
    row = Case.row(case_id)
    if row is None:
        _record_undeliverable(node, body, d.origin, f"本节点没有案件 {case_id} / case not held here")
        return
    if row["held_as"] != "handler":
        # custody moved on since the proposer's copy was made: pass it to the handler we know
        if row["handling_node"] != node.code and send(node, DOC_PROPOSAL, row["handling_node"], dict(body)):
            return
        _record_undeliverable(node, body, d.origin, f"案件当前由 {row['handling_node']} 承办，无法转达 / cannot reach "
                                                    f"the handler {row['handling_node']}")
        return
    _apply_at_handler(node, row, body)


def _apply_at_handler(node: Node, row: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    proposer = str(body.get("proposer") or "?")
    payload = {"action": body["action"], **{k: v for k, v in (body.get("payload") or {}).items() if k != "action"}}
    role = "discipline" if row["department"] == DISCIPLINE else "admin"
    actor = RemoteActor(f"{proposer}/{body.get('actor') or '?'}", role, proposer)
    token = CURRENT.set({"proposal_id": body["proposal_id"], "proposer": proposer})
    try:
        for attempt in range(2):
            try:
                with node.db.atomic():     # a savepoint: a refusal leaves nothing behind
                    act(node, row["case_id"], payload, actor)
                return
            except NodeError as exc:
                if exc.code == "concurrent_change" and attempt == 0:
                    continue
                _reject(node, row["case_id"], body, exc.message)
                return
    finally:
        CURRENT.reset(token)


def _reject(node: Node, case_id: str, body: Mapping[str, Any], reason: str) -> None:
    """The handler cannot apply a proposal: it records why, and the update carries the
    reason back to the proposer (no fork: the handler's version wins)."""
    fresh = Case.row(case_id)
    assert fresh is not None
    action = str(body["action"])
    proposer = str(body.get("proposer") or "?")
    note = (f"未采纳 {unit_name(proposer)} 的{ACTION_NAMES_ZH.get(action, action)}提议：{reason} / proposal "
            f"{action} from {proposer} not applied")
    changed = {"version": int(fresh["version"]) + 1, "updated_at": db_time(node.now())}
    event = new_event(case_id, node, Actor(f"{proposer}/{body.get('actor') or '?'}", "remote"),
                      "proposal_rejected", fresh["status"], fresh["status"], note, db_time(node.now()),
                      {"proposal_id": body["proposal_id"], "action": action})
    token = CURRENT.set({"proposal_id": body["proposal_id"], "proposer": proposer})
    try:
        commit_change(node, [CaseChange(row={**fresh, **changed}, events=[event],
                                        previous_version=int(fresh["version"]), changed=changed,
                                        action="proposal_rejected")])
    finally:
        CURRENT.reset(token)


def _record_undeliverable(node: Node, body: Mapping[str, Any], origin: str, reason: str) -> None:
    log.warning("proposal %s for case %s from %s not deliverable: %s", body.get("proposal_id"),
                body.get("case_id"), origin, reason)
    CaseProposal.insert(proposal_id=f"{body.get('proposal_id')}@{node.code}", case_id=str(body.get("case_id")),
                        action=str(body.get("action")), payload=to_json(body.get("payload") or {}),
                        actor=f"{origin}/{body.get('actor')}", to_node=node.code, state="undeliverable",
                        reason=reason, created_at=node.now(), resolved_at=node.now()
                        ).on_conflict_ignore().execute()
