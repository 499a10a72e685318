"""Consumer warnings, tips and public information published down the tree (R4.4, R6.4).

A bureau at any level publishes a consumer warning (消费警示), a tip (消费提示), a typical
case (典型案例), a complaint hot spot (投诉热点) or a notice (公告); it travels down to every
node of the publisher's subtree and appears on each node's public feed (JSON, Atom, CAP
and a plain HTML page, ``public_api.py``) until it expires or the publisher withdraws
it — the withdrawal travels the same way and takes it off every feed.

Public API (no Flask):

* ``publish(node, payload, actor) -> dict`` (roles leader, admin)
* ``withdraw(node, warning_id, payload, actor) -> dict`` (at the publisher only)
* ``public_feed(node, kind=None, limit=50) -> list[dict]`` — what the public sees here
* ``list_all(node, actor) -> dict`` / ``get(node, warning_id) -> dict`` — staff view, withdrawn too

Documents: ``warning.publish`` and ``warning.withdraw``, signed by the publisher, addressed
to its own code and registered as fan-out kinds (like directives: ``docs/directives.md``).
The vocabularies, roles and body checks it shares with directives are in ``common``; the
package's ``register_handlers`` registers both, so neither module imports the other.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from federation.storage import write_tx
from node.directives import cap
from node.directives.common import (
    CATEGORIES,
    CHANNEL,
    CST,
    READ_ROLES,
    SEVERITIES,
    as_actor,
    aware,
    child_links,
    db_time,
    dumps,
    is_within,
    json_object,
    require_role,
    show,
    text_field,
)
from node.directives.models import PublicWarning
from node.errors import conflict, forbidden, invalid, not_found
from node.network import handler, replicator
from node.runtime import Node
from replication import documents, outbox
from replication.engine import Delivery
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)

KINDS = {"warning": "消费警示", "tip": "消费提示", "typical_case": "典型案例", "hotspot": "投诉热点",
         "notice": "公告"}
PUBLISH_ROLES = ("leader", "admin")
FIELDS = ("title", "body", "kind", "category", "severity", "expires_at")


def _children() -> list[str]:
    """Every live child: a warning is for the whole subtree, unlike a directive's targets."""
    return [link.code for link in child_links()]


def _api(w: PublicWarning) -> dict[str, Any]:
    return {"id": w.warning_id, "issuer": w.issuer, "issuer_name": w.issuer_name, "kind": w.kind,
            "kind_name": KINDS.get(w.kind, w.kind), "title": w.title, "body": w.body, "category": w.category,
            "category_name": CATEGORIES.get(w.category, w.category), "severity": w.severity,
            "region": w.region, "published_at": show(w.published_at), "expires_at": show(w.expires_at),
            "status": w.status, "withdrawn_at": show(w.withdrawn_at), "withdraw_reason": w.withdraw_reason,
            "cap_url": f"/cap/v1/warnings/{w.warning_id}.xml"}


def _parse_time(value: Any, name: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, f"{name} 须为带时区的 ISO 8601 时间 / {name} must be an ISO 8601 time with offset")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(name, f"{name} 不是合法时间 / {name} is not a valid time") from None
    if dt.tzinfo is None:
        raise invalid(name, f"{name} 须带时区（如 +08:00）/ {name} needs an offset such as +08:00")
    if dt <= now:
        raise invalid(name, f"{name} 须晚于当前时间 / {name} must lie in the future")
    return dt


def publish(node: Node, payload: Any, actor: Any) -> dict[str, Any]:
    """Publish a warning or tip here and down to every node below."""
    actor = as_actor(actor)
    require_role(actor, PUBLISH_ROLES)
    payload = json_object(payload, FIELDS)
    title = text_field(payload, "title", required=True, max_len=200, label="标题")
    body = text_field(payload, "body", required=True, max_len=20_000, label="正文")
    kind = payload.get("kind", "warning")
    if kind not in KINDS:
        raise invalid("kind", f"kind 可选：{', '.join(KINDS)} / unknown kind")
    category = payload.get("category", "consumer_safety")
    if category not in CATEGORIES:
        raise invalid("category", f"category 可选：{', '.join(CATEGORIES)} / unknown category")
    severity = payload.get("severity", "minor")
    if severity not in SEVERITIES:
        raise invalid("severity", f"severity 可选：{', '.join(SEVERITIES)} / unknown severity")
    now = node.now()
    expires = _parse_time(payload.get("expires_at"), "expires_at", now)
    day = now.astimezone(CST).strftime("%Y%m%d")
    warning_id = f"{node.code}-W{day}-{uuid.uuid4().hex[:8]}"
    content = {"warning_id": warning_id, "issuer": node.code, "issuer_name": node.config.name, "kind": kind,
               "title": title, "body": body, "category": category, "severity": severity,
               "published_at": show(now), "expires_at": show(expires), "published_by": actor.display}
    rep = replicator(node)
    with write_tx(node.db):
        doc = documents.create("warning.publish", channel=CHANNEL, origin=node.code, dest=node.code, body=content,
                               keypair=node.keypair, now=now)
        _store(content, doc, now, received_from=None)
        for child in _children():
            outbox.enqueue(rep, child, CHANNEL, doc, [node.code], now)
    return get(node, warning_id)


def _store(content: Mapping[str, Any], doc: Mapping[str, Any], now: datetime, received_from: str | None) -> None:
    PublicWarning.insert(
        warning_id=content["warning_id"], issuer=content["issuer"], issuer_name=content.get("issuer_name", ""),
        kind=content["kind"], title=content["title"], body=content["body"], category=content["category"],
        severity=content["severity"], region=content["issuer"],
        published_at=db_time(aware(content["published_at"])),
        expires_at=db_time(aware(content["expires_at"])) if content.get("expires_at") else None,
        status="published", received_from=received_from, doc=dumps(doc)).execute()


def withdraw(node: Node, warning_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """Withdraw a warning at its publisher; every node below takes it off its feed."""
    actor = as_actor(actor)
    require_role(actor, PUBLISH_ROLES)
    payload = json_object(payload, ("reason",), optional=True)
    reason = text_field(payload, "reason", required=False, max_len=2000) or ""
    now = node.now()
    rep = replicator(node)
    with write_tx(node.db):
        w = PublicWarning.by_id(warning_id)
        if w is None:
            raise not_found(f"警示 {warning_id} 不存在 / no warning {warning_id}")
        if w.issuer != node.code:
            raise forbidden(f"只有发布机关 {w.issuer} 可以撤回 / only the publisher {w.issuer} may withdraw it",
                            code="not_publisher")
        if w.status == "withdrawn":
            raise conflict(f"警示 {warning_id} 已撤回 / already withdrawn", code="withdrawn")
        content = {"warning_id": warning_id, "issuer": node.code, "withdrawn_at": show(now), "reason": reason,
                   "withdrawn_by": actor.display}
        doc = documents.create("warning.withdraw", channel=CHANNEL, origin=node.code, dest=node.code, body=content,
                               keypair=node.keypair, now=now)
        _mark_withdrawn(warning_id, now, reason, doc)
        for child in _children():
            outbox.enqueue(rep, child, CHANNEL, doc, [node.code], now)
    return get(node, warning_id)


def _mark_withdrawn(warning_id: str, at: datetime, reason: str, doc: Mapping[str, Any]) -> None:
    (PublicWarning.update(status="withdrawn", withdrawn_at=db_time(at), withdraw_reason=reason,
                          withdraw_doc=dumps(doc))
     .where(PublicWarning.warning_id == warning_id)
     .execute())


def get(node: Node, warning_id: str) -> dict[str, Any]:
    w = PublicWarning.by_id(warning_id)
    if w is None:
        raise not_found(f"警示 {warning_id} 不存在 / no warning {warning_id}")
    return _api(w)


def get_public(node: Node, warning_id: str) -> dict[str, Any]:
    """One warning as the public may see it (withdrawn ones too, marked, for CAP Cancel)."""
    return get(node, warning_id)


def public_feed(node: Node, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Published, unexpired warnings held here (this node's and its ancestors'), newest first."""
    now = db_time(node.now())
    q = (PublicWarning.select()
         .where((PublicWarning.status == "published")
                & (PublicWarning.expires_at.is_null() | (PublicWarning.expires_at > now))))
    if kind:
        if kind not in KINDS:
            raise invalid("kind", f"kind 可选：{', '.join(KINDS)} / unknown kind")
        q = q.where(PublicWarning.kind == kind)
    rows = q.order_by(PublicWarning.published_at.desc(), PublicWarning.pk.desc()).limit(max(1, min(limit, 200)))
    return [_api(w) for w in rows]


def list_all(node: Node, actor: Any) -> dict[str, Any]:
    actor = as_actor(actor)
    require_role(actor, READ_ROLES)
    rows = PublicWarning.select().order_by(PublicWarning.published_at.desc(), PublicWarning.pk.desc()).limit(200)
    return {"items": [_api(w) for w in rows]}


# -- receiving ---------------------------------------------------------------------------------
def _from_above(node: Node, delivery: Delivery) -> Mapping[str, Any]:
    body = delivery.body
    if delivery.sender_role != "parent":
        raise ApplyError("消费警示只能自上而下传递 / warnings travel only down")
    if body.get("issuer") != delivery.origin or delivery.dest != delivery.origin:
        raise ApplyError("警示的发布机关与签名来源不符 / the publisher differs from the signed origin")
    if delivery.origin == node.code or not is_within(node.code, delivery.origin):
        raise ApplyError(f"发布机关 {delivery.origin} 不是本节点的上级 / publisher is not above this node")
    if not isinstance(body.get("warning_id"), str):
        raise ApplyError("警示缺少编号 / warning lacks an id")
    return body


def apply_publish(node: Node, delivery: Delivery) -> None:
    body = _from_above(node, delivery)
    for key in ("title", "body", "published_at"):
        if not isinstance(body.get(key), str):
            raise ApplyError(f"警示缺少 {key} / warning lacks {key}")
    if body.get("kind") not in KINDS or body.get("category") not in CATEGORIES \
            or body.get("severity") not in SEVERITIES:
        raise ApplyError("警示类型、类别或级别无效 / invalid kind, category or severity")
    if PublicWarning.by_id(body["warning_id"]) is None:
        _store(body, delivery.doc, delivery.now, received_from=delivery.sender)
    for child in _children():
        if child not in delivery.route:
            delivery.forward(child)


def apply_withdraw(node: Node, delivery: Delivery) -> None:
    body = _from_above(node, delivery)
    w = PublicWarning.by_id(body["warning_id"])
    if w is None:
        # a child linked after the publication never had it: nothing to take down here,
        # but its own children may have had it from an earlier parent — pass it on
        log.info("withdrawal of unknown warning %s at %s", body["warning_id"], node.code)
    elif w.status != "withdrawn":
        _mark_withdrawn(w.warning_id, aware(body.get("withdrawn_at")) or delivery.now,
                        str(body.get("reason") or ""), delivery.doc)
    for child in _children():
        if child not in delivery.route:
            delivery.forward(child)


def register_handlers(node: Node, registry: Registry) -> None:
    registry.register("warning.publish", handler(node, apply_publish), fanout=True)
    registry.register("warning.withdraw", handler(node, apply_withdraw), fanout=True)


def warning_doc(warning_id: str) -> dict[str, Any] | None:
    w = PublicWarning.by_id(warning_id)
    return json.loads(w.doc) if w else None


def cap_xml(node: Node, warning_id: str) -> bytes:
    """A warning as a CAP 1.2 alert (Public scope); a withdrawn one as its Cancel."""
    w = get(node, warning_id)
    area = {"desc": f"{w['issuer_name'] or w['issuer']}辖区 / the area of {w['issuer']}", "codes": [w["issuer"]]}
    return cap.warning_alert(w, [area])
