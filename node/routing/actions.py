"""The routing actions of a case at its handling node (R1.5, R2.3, R2.4, R2.6; docs/routing.md
§2-§4): ``route``, ``escalate``, ``return``, ``take_over``, ``urge``, ``comment``, ``reopen``.

Each is registered with the case lifecycle (``node.cases.install_extension``), which checks
the actor and the state machine, then calls it with the row; it answers ``(to_status,
changed columns, note, extra events)``. The ones that give custody away only write the
custody columns: the transfer document is queued by ``node.routing.hooks`` in the same
transaction, so custody and its document leave together or not at all.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from federation.models import Link
from node.cases import TRANSITIONS, CaseEvent, illegal_action, no_link_error, optional_text, required_text
from node.divisions import load_divisions
from node.errors import NodeError, conflict, forbidden, invalid
from node.network import replicator
from node.routing import rules, tables
from node.routing.custody import accused, custody_trail, returned_by, unit_name
from node.routing.documents import show_time, to_json
from node.runtime import Node
from replication import topology


def _require_links(action: str) -> None:
    """A standalone bureau (no parent, no child) has nowhere to send a case."""
    if not Link.select().where((Link.state == "active") & Link.role.in_(("parent", "child"))).exists():
        raise no_link_error(action)


def _leave(node: Node, row: Mapping[str, Any], target: str, actor: Any, action: str, reason: str, now: datetime,
           **extra: Any) -> dict[str, Any]:
    """The columns that give custody away to ``target`` (the transfer is sent by the hooks)."""
    if topology.next_hop(replicator(node), target) is None:
        raise conflict(f"没有通往 {target} 的链路：该节点不在本节点所在的网络中 / no linked route to {target}: "
                       f"it is outside this node's tree", code="not_in_tree", field="to")
    custody = custody_trail(row)
    for e in custody:
        if e.get("node") == node.code and e.get("until") is None:
            e["until"] = show_time(now)
            e.update({k: v for k, v in extra.items() if k == "returned"})
    custody.append({"node": target, "since": None, "until": None, "from": node.code,
                    "by": getattr(actor, "login", str(actor)), "action": action, "reason": reason,
                    "sent_at": show_time(now), "via": [], **{k: v for k, v in extra.items() if k != "returned"}})
    return {"handling_node": target, "held_as": "copy", "route": to_json(custody), "attention": None}


def _check_target(node: Node, row: Mapping[str, Any], to: Any) -> str:
    div = load_divisions()
    if not isinstance(to, str) or not to:
        raise invalid("to", "to 为必填项：节点代码或 \"auto\" / to is required: a node code or \"auto\"")
    if div.level_of(to) is None:
        raise NodeError(422, "unknown_node", f"未知的节点代码 {to[:20]}：不是总局、现行行政区划或基层所代码 / unknown "
                                             f"node code {to[:20]}", "to")
    if to == node.code:
        raise conflict(f"不能分流给本节点 {to} / cannot route a case to this node itself", code="route_to_self",
                       field="to")
    unit = accused(node, row)
    if rules.is_accused_unit(to, unit, div):
        raise conflict(f"针对执法人员的举报不得交被举报单位 {unit} 办理（R2.3）/ a report against staff may not "
                       f"go to the unit accused ({unit})", code="accused_unit", field="to")
    return to


def act_route(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("route")
    if row["status"] not in TRANSITIONS["route"].get(row["kind"], {}):
        raise illegal_action(row, "route")
    to = payload.get("to")
    note = optional_text(payload, "note")
    if to == "auto":
        decision = rules.decide(rules.CaseFacts.from_row(row), node.code, load_divisions(), tables.for_node(node),
                                exclude=returned_by(row))
        if decision.target == node.code:
            raise conflict(f"按管辖规则本节点即为承办单位，无需分流：{decision.note} / by the jurisdiction rules this "
                           f"node is the handler already", code="already_competent", field="to")
        target = _check_target(node, row, decision.target)
        reason = note or decision.note
        auto = True
    else:
        target = _check_target(node, row, to)
        reason = note or "人工分流 / routed by hand"
        auto = False
    changed = _leave(node, row, target, actor, "route", reason, now, auto=auto)
    return "transferred", changed, f"分流至 {unit_name(target)}：{reason}", []


def act_escalate(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("escalate")
    parent = topology.parent_code()
    if parent is None:
        raise no_link_error("escalate")
    reason = required_text(payload, "reason")
    changed = _leave(node, row, parent, actor, "escalate", reason, now)
    return "transferred", changed, (f"报请上级 {unit_name(parent)} 决定（第十二条第三款，R2.4）：{reason} / escalated "
                                    f"to {parent} (R2.4)"), []


def act_return(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("return")
    reason = required_text(payload, "reason")
    mine = [e for e in custody_trail(row) if e.get("node") == node.code and e.get("until") is None]
    sender = mine[-1].get("from") if mine else None
    if not sender:
        raise conflict("本单位是受理单位，没有可退回的单位；请分流（route）/ this unit took the case in: there is "
                       "nobody to return it to (use route)", code="nothing_to_return", field="action")
    if rules.is_accused_unit(sender, accused(node, row), load_divisions()):
        raise conflict("针对执法人员的举报不得退回被举报单位（R2.3）/ a report against staff may not go back to the "
                       "unit accused", code="accused_unit", field="action")
    changed = _leave(node, row, sender, actor, "return", reason, now, returned=True)
    return "transferred", changed, f"退回 {unit_name(sender)}：{reason}（本单位无管辖权）/ returned to {sender}", []


def act_take_over(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    requester = getattr(actor, "node", None)
    if requester is None or requester == node.code:
        raise conflict("提级办理由上级单位提出 / take_over is asked for by a superior unit", code="not_superior",
                       field="action")
    if not load_divisions().is_within(node.code, requester):
        raise forbidden(f"{requester} 不是本单位的上级，不能提级办理 / {requester} is not a superior of {node.code}")
    reason = optional_text(payload, "reason") or "上级提级办理 / taken over by the superior"
    changed = _leave(node, row, requester, actor, "take_over", reason, now)
    return "transferred", changed, (f"上级 {unit_name(requester)} 提级办理（第十二条第三款）：{reason} / taken over "
                                    f"by {requester} (Order 20 Art. 12(3))"), []


def act_urge(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    who = getattr(actor, "node", None) or node.code
    note = optional_text(payload, "note")
    due = row.get("next_due")
    return row["status"], {}, (f"督办（{unit_name(who)}）：{note or '请按时办结'}" + (f"；最近期限 {due}" if due else "")
                               + f" / urged by {who}"), []


def act_comment(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    who = getattr(actor, "node", None) or node.code
    return row["status"], {}, f"意见（{unit_name(who)}）：{required_text(payload, 'note')}", []


def act_reopen(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    reason = required_text(payload, "reason")
    concluded = [e for e in CaseEvent.for_case(row["case_id"]).dicts() if e["action"] == "conclude"]
    limit = tables.for_node(node).supervision.reopen_within_days
    if concluded:
        at = concluded[-1]["at"].replace(tzinfo=UTC)
        if now - at > timedelta(days=limit):
            raise conflict(f"办结已超过 {limit} 日，不能重新办理；可另行投诉 / concluded more than {limit} days ago: "
                           f"it can no longer be reopened (file a new complaint)", code="reopen_expired",
                           field="action")
    return "accepted", {"attention": f"重新办理：{reason}"}, f"重新办理（回访不满意）：{reason} / reopened", []


# what the case lifecycle dispatches to (``node.routing.wiring.install_case_hooks``)
HANDLERS = {"route": act_route, "escalate": act_escalate, "return": act_return, "take_over": act_take_over,
            "urge": act_urge, "comment": act_comment, "reopen": act_reopen}
