"""What staff read of the directives held here (R3.1, R3.4; CONTRACT §6).

A directive as this node sees it: its content, its status, this node's own part (``mine``),
``progress`` over this node's subtree (the whole target set at the issuer), reports,
reminders and the history of its CAP messages. Roles: every staff role may read.

* ``get(node, id, actor)`` / ``list_directives(node, filters, actor)`` / ``reports(node, id, actor)``
* ``awaiting_acknowledgement(node)`` — the active directives this node must still sign for
  (the desk's tile; the caller has checked who is asking)
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.directives.common import (
    READ_ROLES,
    SEVERITIES,
    STATUS_NAMES,
    URGENCIES,
    as_actor,
    category_name,
    require_role,
    show,
)
from node.directives.models import Directive, DirectiveMessage, DirectiveReminder, DirectiveReport
from node.directives.progress import progress_view
from node.directives.reminders import REMINDER_LEVELS
from node.directives.store import report_api, signed_content
from node.errors import invalid, not_found
from node.runtime import Node
from node.web.paging import parse_limit


def _summary(node: Node, row: Directive) -> dict[str, Any]:
    doc = signed_content(row)
    doc.update({
        "id": row.directive_id, "status": row.status, "status_name": STATUS_NAMES.get(row.status, row.status),
        "severity_name": SEVERITIES.get(row.severity), "urgency_name": URGENCIES.get(row.urgency),
        "category_name": category_name(row.category), "role_here": row.role,
        "received_at": show(row.received_at), "received_from": row.received_from,
        "updated_at": show(row.updated_at), "cancelled_at": show(row.cancelled_at),
        "cancel_reason": row.cancel_reason,
        "mine": ({"target": True, "delivered_at": show(row.delivered_at),
                  "acknowledged_at": show(row.acknowledged_at), "acknowledged_by": row.acknowledged_by,
                  "note": row.ack_note, "reports": row.report_count} if row.is_target else {"target": False}),
        "cap_url": f"/cap/v1/directives/{row.directive_id}.xml",
    })
    return doc


def get(node: Node, directive_id: str, actor: Any) -> dict[str, Any]:
    actor = as_actor(actor)
    require_role(actor, READ_ROLES)
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    doc = _summary(node, row)
    doc["progress"] = progress_view(node, row)
    doc["reports"] = [report_api(r) for r in DirectiveReport.for_directive(directive_id)]
    doc["reminders"] = [{"node": r.late_node, "level": r.level, "level_name": REMINDER_LEVELS.get(r.level),
                         "about": r.about, "raised_at": show(r.raised_at), "message": r.message}
                        for r in DirectiveReminder.for_directive(directive_id)]
    doc["history"] = [{"version": m.version, "msg_type": m.msg_type, "sent_at": show(m.sent_at), "note": m.note,
                       "cap_url": f"/cap/v1/directives/{directive_id}/v{m.version}.xml"}
                      for m in DirectiveMessage.for_directive(directive_id)]
    return doc


def list_directives(node: Node, filters: Mapping[str, Any], actor: Any) -> dict[str, Any]:
    """Directives held here, newest first: ``status``, ``role`` (issuer|target|relay), ``case_id``."""
    actor = as_actor(actor)
    require_role(actor, READ_ROLES)
    q = Directive.select()
    status = filters.get("status")
    if status:
        if status not in STATUS_NAMES:
            raise invalid("status", f"status 可选：{', '.join(STATUS_NAMES)} / unknown status")
        q = q.where(Directive.status == status)
    role = filters.get("role")
    if role:
        if role not in ("issuer", "target", "relay"):
            raise invalid("role", "role 可选：issuer, target, relay / unknown role")
        q = q.where(Directive.role == role)
    if filters.get("case_id"):
        q = q.where(Directive.case_id == filters["case_id"])
    limit = parse_limit(filters.get("limit"))
    rows = list(q.order_by(Directive.issued_at.desc(), Directive.pk.desc()).limit(limit))
    now = node.now()
    items = []
    for row in rows:
        doc = _summary(node, row)
        view = progress_view(node, row, now)
        doc["progress"] = {k: view[k] for k in ("targets", "delivered", "acknowledged", "reported", "complete",
                                                "overdue_count")}
        items.append(doc)
    return {"items": items}


def reports(node: Node, directive_id: str, actor: Any) -> dict[str, Any]:
    actor = as_actor(actor)
    require_role(actor, READ_ROLES)
    if Directive.by_id(directive_id) is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    return {"items": [report_api(r) for r in DirectiveReport.for_directive(directive_id)]}


def awaiting_acknowledgement(node: Node) -> list[dict[str, Any]]:
    """Active directives for which this node is a target and nobody here has signed yet,
    newest first (no role check: the desk shows it to whoever it has let in)."""
    rows = (Directive.select()
            .where((Directive.status == "active") & Directive.is_target & Directive.acknowledged_at.is_null())
            .order_by(Directive.issued_at.desc(), Directive.pk.desc()))
    return [_summary(node, row) for row in rows]
