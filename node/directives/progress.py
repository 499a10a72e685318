"""Progress of a directive over this node's subtree: snapshots that roll up (R3.1, R3.4).

Serves R3.1 (tracking and supervision), R3.4 (the leadership sees who has acted) and
RELIABILITY rule 18 and F22. Each node keeps one snapshot per child it sent the directive to,
replaced only by a higher version, and adds its own state; the counts are therefore exact at
the issuer however many duplicates or late arrivals there were. Nothing travels up but one
snapshot per change burst: while the last one still waits in the outbox, the next is only
marked owed and ``flush_progress`` (the ``directives.progress`` job) sends it.

* ``subtree(node, row)`` — counts and per-node entries for this node's subtree
* ``progress_changed(node, id, now)`` — called inside the transaction of every change
* ``flush_progress(node)`` — send the owed snapshots
* ``progress_view(node, row, now=None)`` — ``progress`` as the API shows it, with the overdue
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from federation.storage import write_tx
from node.directives.common import CHANNEL, aware, db_time, divisions, dumps, is_within, show
from node.directives.models import Directive, DirectiveProgress, DirectiveRelay
from node.directives.targets import area_name, expected_codes, target_root
from node.network import replicator
from node.runtime import Node
from replication import documents, outbox
from replication.models import SendCounter

NODE_STATUS_NAMES = {"pending": "未送达", "delivered": "已送达", "acknowledged": "已签收",
                     "no_route": "无可达链路"}
#: per-node entries carried in one progress snapshot; counts are always exact, and when a
#: subtree has more entries the unacknowledged ones are kept first (they make the overdue list)
DETAIL_LIMIT = 1000


def _own_entry(node: Node, row: Directive) -> dict[str, Any]:
    status = "acknowledged" if row.acknowledged_at else ("delivered" if row.delivered_at else "pending")
    return {"target": True, "status": status, "name": node.config.name, "level": node.level,
            "delivered_at": show(row.delivered_at), "acknowledged_at": show(row.acknowledged_at),
            "acknowledged_by": row.acknowledged_by, "note": row.ack_note or None, "reports": row.report_count,
            "last_report_at": show(row.last_report_at), "report_totals": json.loads(row.report_totals or "{}")}


def _count_entry(counts: Counter, entry: Mapping[str, Any]) -> None:
    counts["targets"] += 1
    if entry["status"] in ("delivered", "acknowledged"):
        counts["delivered"] += 1
    if entry["status"] == "acknowledged":
        counts["acknowledged"] += 1
    if entry.get("reports"):
        counts["reported"] += 1


def subtree(node: Node, row: Directive) -> dict[str, Any]:
    """This node's view of its subtree for one directive: exact counts and per-node entries.

    Own state, plus for every child the directive went to either the child's latest
    snapshot (replaced only by a higher version) or, until it reports, what this node
    knows of it: the child itself and the codes named inside it, not yet delivered.
    """
    me = node.code
    specs = json.loads(row.targets)
    local: dict[str, dict[str, Any]] = {}
    counts: Counter = Counter()
    totals: Counter = Counter()
    entries: dict[str, dict[str, Any]] = {}
    truncated = False
    if row.is_target:
        own = _own_entry(node, row)
        local[me] = own
        totals.update(own["report_totals"])
    relays = list(DirectiveRelay.children_of(row.directive_id))
    snaps = {p.node: p for p in DirectiveProgress.select()
             .where((DirectiveProgress.directive_id == row.directive_id) & (DirectiveProgress.node != me))}
    for relay in relays:
        snap = snaps.get(relay.child)
        if snap is not None and snap.version > 0:
            data = json.loads(snap.payload)
            for key in ("targets", "delivered", "acknowledged", "reported"):
                counts[key] += int(data.get(key, 0))
            totals.update({k: int(v) for k, v in (data.get("report_totals") or {}).items()})
            entries.update(data.get("nodes") or {})
            truncated = truncated or bool(data.get("truncated"))
            continue
        for code in expected_codes(specs, relay.child, row.issuer, is_within):
            local[code] = {"target": True, "status": "pending",
                           "name": relay.child_name if code == relay.child else "",
                           "level": relay.child_level if code == relay.child else (divisions().level_of(code) or "")}
    covered = [r.child for r in relays]
    for spec in specs:
        root = target_root(spec)
        if root is None or root == me or not is_within(root, me) or root in local:
            continue
        if any(is_within(root, c) for c in covered):
            continue
        local[root] = {"target": True, "status": "no_route", "name": "",
                       "level": divisions().level_of(root) or ""}
    for code, entry in local.items():
        if not entry.get("name"):
            entry["name"] = area_name(node, code)
        _count_entry(counts, entry)
    entries.update(local)
    return {"targets": counts["targets"], "delivered": counts["delivered"], "acknowledged": counts["acknowledged"],
            "reported": counts["reported"], "report_totals": dict(sorted(totals.items())), "nodes": entries,
            "truncated": truncated}


def _trim(nodes: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], bool]:
    if len(nodes) <= DETAIL_LIMIT:
        return nodes, False
    order = sorted(nodes, key=lambda c: (nodes[c]["status"] == "acknowledged", c))
    return {c: nodes[c] for c in order[:DETAIL_LIMIT]}, True


def _pending(own: DirectiveProgress) -> bool:
    """Is the last snapshot we sent still unacknowledged in the outbox?"""
    if own.sent_seq is None or own.sent_to is None:
        return False
    counter = (SendCounter.select()
               .where((SendCounter.dest == own.sent_to) & (SendCounter.channel == CHANNEL))
               .first())
    return counter is not None and counter.epoch == own.sent_epoch and counter.acked_seq < own.sent_seq


def _own_progress_row(node: Node, directive_id: str, now: datetime) -> DirectiveProgress:
    own = DirectiveProgress.get_or_none((DirectiveProgress.directive_id == directive_id)
                                        & (DirectiveProgress.node == node.code))
    if own is None:
        DirectiveProgress.insert(directive_id=directive_id, node=node.code, version=0, payload="{}",
                                 updated_at=db_time(now)).execute()
        own = DirectiveProgress.get((DirectiveProgress.directive_id == directive_id)
                                    & (DirectiveProgress.node == node.code))
    return own


def progress_changed(node: Node, directive_id: str, now: datetime) -> None:
    """Something in this node's subtree changed: send a new snapshot up now, or — while the
    previous one still waits in the outbox — mark it owed (``flush_progress`` sends it), so
    a burst of changes becomes one snapshot instead of one message per change (rule 18)."""
    row = Directive.by_id(directive_id)
    if row is None or row.role == "issuer" or not row.received_from:
        return
    own = _own_progress_row(node, directive_id, now)
    if _pending(own):
        if not own.dirty:
            (DirectiveProgress.update(dirty=True)
             .where(DirectiveProgress.id == own.id)
             .execute())
        return
    _emit(node, row, own, now)


def _emit(node: Node, row: Directive, own: DirectiveProgress, now: datetime) -> None:
    view = subtree(node, row)
    nodes, cut = _trim(view["nodes"])
    version = int(own.version) + 1
    body = {**view, "nodes": nodes, "truncated": view["truncated"] or cut, "directive_id": row.directive_id,
            "node": node.code, "version": version, "as_of": show(now)}
    rep = replicator(node)
    doc = documents.create("directive.progress", channel=CHANNEL, origin=node.code, dest=row.received_from,
                           body=body, keypair=node.keypair, now=now)
    seq = outbox.enqueue(rep, row.received_from, CHANNEL, doc, [node.code], now)
    (DirectiveProgress.update(version=version, payload=dumps(body), updated_at=db_time(now), dirty=False,
                              sent_epoch=rep.epoch(), sent_seq=seq, sent_to=row.received_from)
     .where(DirectiveProgress.id == own.id)
     .execute())


def flush_progress(node: Node) -> int:
    """Send the snapshots that are owed (the ``directives.progress`` job); return how many."""
    rows = list(DirectiveProgress.select()
                .where(DirectiveProgress.dirty & (DirectiveProgress.node == node.code)))
    sent = 0
    for own in rows:
        now = node.now()
        with write_tx(node.db):
            row = Directive.by_id(own.directive_id)
            fresh = DirectiveProgress.get_or_none(DirectiveProgress.id == own.id)
            if row is None or fresh is None or not fresh.dirty or not row.received_from:
                continue
            _emit(node, row, fresh, now)
            sent += 1
    return sent


def progress_view(node: Node, row: Directive, now: datetime | None = None) -> dict[str, Any]:
    """``progress`` as the API shows it: counts, the overdue nodes, per-node entries."""
    now = now or node.now()
    view = subtree(node, row)
    active = row.status == "active"
    ack_late = active and now > aware(row.ack_due_at)
    report_late = active and row.report_due_at is not None and now > aware(row.report_due_at)
    nodes = dict(sorted(view["nodes"].items()))
    overdue = sorted(c for c, e in nodes.items() if ack_late and e["status"] != "acknowledged")
    reports_overdue = sorted(c for c, e in nodes.items() if report_late and not e.get("reports"))
    for code, entry in nodes.items():
        entry["overdue"] = code in overdue
        entry["status_name"] = NODE_STATUS_NAMES.get(entry["status"], entry["status"])
    return {"scope": node.code, "as_of": show(now), "targets": view["targets"], "delivered": view["delivered"],
            "acknowledged": view["acknowledged"], "reported": view["reported"],
            "complete": view["targets"] > 0 and view["acknowledged"] == view["targets"],
            "overdue": overdue,
            "overdue_count": (view["targets"] - view["acknowledged"]) if ack_late else 0,
            "reports_overdue": reports_overdue, "report_totals": view["report_totals"],
            "truncated": view["truncated"], "nodes": nodes}
