"""The directive documents this node applies as they arrive (R3.1; CONTRACT §6; RELIABILITY
rules 12 and 15-16 — relays never change a signed body, down only from the parent, up only
from the subtree — 18 and F22).

How they travel (``docs/replication.md``): ``directive.issue``, ``.update`` and ``.cancel``
are signed once by the issuer, addressed to the issuer's own code (the subtree they are for)
and registered as *fan-out* kinds, so each node's replication verifies the issuer's
signature and the hop policy before the handler here runs; the handler stores the directive
and forwards the same signed document only into child subtrees that contain a target.
Nothing travels up but ``directive.progress`` (one hop: a node's subtree snapshot,
versioned, to the parent it got the directive from) and ``directive.report`` (a situation
report, relayed up to the issuer). Every handler refuses what did not come the way it must
(``ApplyError``: down from the parent, or up from a child the directive was sent to).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from node.directives.common import CATEGORIES, GOODS_CODE_RE, SEVERITIES, URGENCIES, aware, db_time, dumps, is_within
from node.directives.models import Directive, DirectiveMessage, DirectiveProgress, DirectiveRelay
from node.directives.progress import progress_changed
from node.directives.store import ack_row, relay_again, relay_new, store_new, store_report
from node.directives.targets import is_target, leads_into, normalise_targets
from node.errors import NodeError
from node.network import handler
from node.runtime import Node
from replication.engine import Delivery
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)


# -- down from the issuer: issue, update, cancel ------------------------------------------------
def _check_from_above(node: Node, delivery: Delivery) -> Mapping[str, Any]:
    body = delivery.body
    if delivery.sender_role != "parent":
        raise ApplyError(f"指令只能自上而下传递，{delivery.sender} 是本节点的下级 / directives travel only down: "
                         f"{delivery.sender} is not this node's parent")
    issuer = delivery.origin
    if body.get("issuer") != issuer or delivery.dest != issuer:
        raise ApplyError("指令的下达机关与签名来源不符 / the directive's issuer differs from its signed origin")
    if issuer == node.code or not is_within(node.code, issuer):
        raise ApplyError(f"下达机关 {issuer} 不是本节点的上级 / issuer {issuer} is not above this node")
    if not isinstance(body.get("directive_id"), str) or not isinstance(body.get("version"), int):
        raise ApplyError("指令缺少编号或版本 / directive lacks id or version")
    return body


_CONTENT_KEYS = ("directive_id", "version", "issuer", "title", "body", "severity", "urgency", "category",
                 "targets", "ack_within_minutes", "issued_at", "ack_due_at", "sent_at")


def _check_content(body: Mapping[str, Any]) -> list[str]:
    for key in _CONTENT_KEYS:
        if body.get(key) in (None, ""):
            raise ApplyError(f"指令缺少字段 {key} / directive lacks {key}")
    category = body["category"]
    if body["severity"] not in SEVERITIES or body["urgency"] not in URGENCIES or not isinstance(category, str) \
            or (category not in CATEGORIES and not GOODS_CODE_RE.match(category)):
        raise ApplyError("指令的级别、紧急程度或类别无效 / invalid severity, urgency or category")
    try:
        return normalise_targets(list(body["targets"]), str(body["issuer"]))
    except NodeError as exc:
        raise ApplyError(f"指令对象无效 / invalid targets: {exc.message}") from None


def apply_issue(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    if body.get("msg_type", "Alert") != "Alert" or body["version"] != 1:
        raise ApplyError("directive.issue 须为第 1 版 Alert / directive.issue must be version 1")
    specs = _check_content(body)
    if Directive.by_id(body["directive_id"]) is not None:
        return  # already held (a relay path never delivers twice; be idempotent anyway)
    if not leads_into(specs, node.code, is_within):
        log.warning("directive %s reached %s, which holds no target: ignored", body["directive_id"], node.code)
        return
    role = "target" if is_target(specs, node.code, str(body["issuer"]), is_within) else "relay"
    now = delivery.now
    row = store_new(node, body, delivery.doc, role=role, now=now, received_from=delivery.sender)
    relay_new(node, row, delivery.doc, now, delivery)
    auto = node.extras.get("directives.auto_ack")
    if role == "target" and auto:
        ack_row(node, row, str(auto), "system", "自动签收（基准测试）/ automatic acknowledgement (benchmark)", now)
    progress_changed(node, row.directive_id, now)


def apply_update(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    row = Directive.by_id(body["directive_id"])
    if row is None:
        raise ApplyError(f"更新了未知指令 {body['directive_id']} / update for an unknown directive")
    if body["version"] <= row.version:
        return
    if row.status == "cancelled":
        raise ApplyError(f"指令 {row.directive_id} 已撤销，不能更新 / update for a cancelled directive")
    _check_content(body)
    if list(body["targets"]) != json.loads(row.targets):
        raise ApplyError("更新不能改变指令对象 / an update cannot change the targets")
    now = delivery.now
    (Directive.update(title=body["title"], body=body["body"], severity=body["severity"], urgency=body["urgency"],
                      certainty=body.get("certainty", "observed"), category=body["category"],
                      ack_within_minutes=body["ack_within_minutes"],
                      report_within_minutes=body.get("report_within_minutes"),
                      ack_due_at=db_time(aware(body["ack_due_at"])),
                      report_due_at=db_time(aware(body["report_due_at"])) if body.get("report_due_at") else None,
                      version=body["version"], updated_at=db_time(now))
     .where(Directive.directive_id == row.directive_id)
     .execute())
    _record_and_relay(node, row, body, delivery, "Update", str(body.get("note") or ""), now)


def apply_cancel(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    row = Directive.by_id(body["directive_id"])
    if row is None:
        raise ApplyError(f"撤销了未知指令 {body['directive_id']} / cancel for an unknown directive")
    if body["version"] <= row.version or row.status == "cancelled":
        return
    now = delivery.now
    (Directive.update(status="cancelled", cancelled_at=db_time(now), cancel_reason=str(body.get("reason") or ""),
                      version=body["version"], updated_at=db_time(now))
     .where(Directive.directive_id == row.directive_id)
     .execute())
    _record_and_relay(node, row, body, delivery, "Cancel", str(body.get("reason") or ""), now)


def _record_and_relay(node: Node, row: Directive, body: dict, delivery: Delivery, msg_type: str, note: str,
                      now: datetime) -> None:
    """Keep the CAP message of an update or cancel and pass the signed document on down."""
    DirectiveMessage.insert(directive_id=row.directive_id, version=body["version"], msg_type=msg_type,
                            sent_at=db_time(aware(body["sent_at"])), doc_id=str(delivery.doc["id"]),
                            doc=dumps(delivery.doc), note=note).execute()
    relay_again(node, row.directive_id, delivery.doc, now, delivery)


# -- up from a child: progress snapshots and reports ----------------------------------------------
def _check_from_below(node: Node, delivery: Delivery) -> Directive:
    if delivery.sender_role != "child":
        raise ApplyError(f"{delivery.kind} 只能由下级上报 / {delivery.kind} travels only up")
    did = delivery.body.get("directive_id")
    row = Directive.by_id(did) if isinstance(did, str) else None
    if row is None:
        raise ApplyError(f"未知指令 {did} / unknown directive {did}")
    if DirectiveRelay.get_or_none((DirectiveRelay.directive_id == row.directive_id)
                                  & (DirectiveRelay.child == delivery.sender)) is None:
        raise ApplyError(f"未向 {delivery.sender} 下发过指令 {did} / {did} was never sent to {delivery.sender}")
    return row


def apply_progress(node: Node, delivery: Delivery) -> None:
    row = _check_from_below(node, delivery)
    body = delivery.body
    if delivery.origin != delivery.sender or body.get("node") != delivery.sender or delivery.dest != node.code:
        raise ApplyError("进度快照只走一跳，须由该下级自己签发 / a progress snapshot travels one hop, from its node")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ApplyError("进度快照缺少版本 / snapshot lacks a version")
    for key in ("targets", "delivered", "acknowledged", "reported"):
        if not isinstance(body.get(key), int) or body[key] < 0:
            raise ApplyError(f"进度快照字段 {key} 无效 / invalid snapshot field {key}")
    if not isinstance(body.get("nodes"), dict):
        raise ApplyError("进度快照缺少 nodes / snapshot lacks nodes")
    if not body["acknowledged"] <= body["delivered"] <= body["targets"] or body["reported"] > body["targets"]:
        raise ApplyError("进度快照的计数自相矛盾 / snapshot counts contradict each other")
    outside = [code for code in body["nodes"] if not is_within(str(code), delivery.sender)]
    if outside:
        raise ApplyError(f"下级 {delivery.sender} 的快照含辖区外节点 {outside[0]} / a snapshot may only describe "
                         f"its own subtree")
    now = delivery.now
    current = DirectiveProgress.get_or_none((DirectiveProgress.directive_id == row.directive_id)
                                            & (DirectiveProgress.node == delivery.sender))
    if current is not None and current.version >= version:
        return  # a duplicate or a late, older snapshot: replaced only by a higher version (rule 18)
    if current is None:
        DirectiveProgress.insert(directive_id=row.directive_id, node=delivery.sender, version=version,
                                 payload=dumps(body), updated_at=db_time(now)).execute()
    else:
        (DirectiveProgress.update(version=version, payload=dumps(body), updated_at=db_time(now))
         .where(DirectiveProgress.id == current.id)
         .execute())
    progress_changed(node, row.directive_id, now)


def apply_report(node: Node, delivery: Delivery) -> None:
    row = _check_from_below(node, delivery)
    body = delivery.body
    if delivery.dest != row.issuer or body.get("node") != delivery.origin:
        raise ApplyError("处置反馈须发往下达机关并由反馈单位签发 / a report goes to the issuer, signed by its node")
    for key in ("report_id", "text", "reported_at"):
        if not isinstance(body.get(key), str):
            raise ApplyError(f"处置反馈缺少 {key} / report lacks {key}")
    store_report(body, delivery.now)
    if node.code != row.issuer and row.received_from:
        delivery.forward(row.received_from)


def register_handlers(node: Node, registry: Registry) -> None:
    """The directive documents this node applies (``node.domains`` installs it)."""
    registry.register("directive.issue", handler(node, apply_issue), fanout=True)
    registry.register("directive.update", handler(node, apply_update), fanout=True)
    registry.register("directive.cancel", handler(node, apply_cancel), fanout=True)
    registry.register("directive.progress", handler(node, apply_progress))
    registry.register("directive.report", handler(node, apply_report))
