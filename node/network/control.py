"""Control-channel documents: node-record chains and revocation lists travel down the
tree, pings and pongs travel anywhere (CONTRACT §3; RELIABILITY rules 14-15, F12).

- ``federation.records``: a parent's chain, sent to each child when it changes (a
  province that later joins HQ: its whole subtree then chains to HQ). One hop; the child
  re-sends to its own children when its chain changed.
- ``federation.revocation``: a signed, versioned revocation list of some issuer, passed
  down one hop at a time (the list keeps its issuer's signature; no rollback, no freeze).
- ``federation.ping`` / ``federation.pong``: an operator's end-to-end probe
  (``n12315 link ping CODE``), routed like any multi-hop document.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

from peewee import fn

from federation import links, trust
from federation.models import Link, LocalState
from federation.storage import write_tx
from node import jobs
from node.errors import NodeError
from node.network.models import PingLog
from node.network.transport import replicator
from node.runtime import Node
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)
CHANNEL = "control"


def _send(node: Node, kind: str, dest: str, body: dict, hop: str | None = None) -> str:
    """Create a document here and queue it for its next hop (caller holds the transaction)."""
    rep = replicator(node)
    doc = documents.create(kind, channel=CHANNEL, origin=node.code, dest=dest, body=body,
                           keypair=node.keypair, now=node.now())
    hop = hop or topology.next_hop(rep, dest)
    if hop is None:
        raise NodeError(409, "no_route", f"没有通往 {dest} 的链路 / no linked route to {dest}")
    outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], node.now())
    return str(doc["id"])


# -- chains and revocations going down -------------------------------------------------------
def push_changes(node: Node) -> int:
    """Queue chain updates and newer revocation lists for the children (idempotent)."""
    sent = 0
    with write_tx(node.db):
        changed = LocalState.get_value("chain_changed_at")
        if changed and LocalState.get_value("chain_sent_at") != changed:
            for child, doc in links.records_changed_docs():
                _send(node, "federation.records", child, doc, hop=child)
                sent += 1
            LocalState.put("chain_sent_at", changed)
        children = [r.code for r in Link.select(Link.code).where((Link.role == "child") & (Link.state == "active"))]
        for lst in trust.revocation_lists():
            key = f"revocation_sent:{lst['issuer']}"
            if int(LocalState.get_value(key, "0") or 0) >= int(lst["version"]):
                continue
            for child in children:
                if trust.is_revoked(child):
                    continue
                _send(node, "federation.revocation", child, {"list": lst}, hop=child)
                sent += 1
            LocalState.put(key, str(lst["version"]))
    return sent


def _apply_records(node: Node, d: Delivery) -> None:
    if d.sender_role != "parent" or d.dest != node.code:
        raise ApplyError("节点记录只能由上级发来 / node records come from the parent only")
    try:
        onward = links.apply_records_update(d.body, d.sender, replicator(node).is_within, d.now)
    except trust.TrustError as exc:
        raise ApplyError(f"{exc.code}: {exc.message}") from None
    for child, doc in onward:
        _send(node, "federation.records", child, doc, hop=child)


def _apply_revocation(node: Node, d: Delivery) -> None:
    if d.sender_role != "parent" or d.dest != node.code:
        raise ApplyError("吊销列表只能由上级发来 / revocation lists come from the parent only")
    lst = d.body.get("list")
    if not isinstance(lst, dict):
        raise ApplyError("吊销列表格式错误 / malformed revocation list")
    try:
        trust.apply_revocation_list(lst, replicator(node).is_within, d.now)
    except trust.TrustError as exc:
        if exc.code in ("stale_list", "expired_list"):
            log.info("revocation list from %s not newer: %s", lst.get("issuer"), exc.message)
            return  # a replayed older list changes nothing (F12) and must not block the channel
        raise ApplyError(f"{exc.code}: {exc.message}") from None
    # pass it on, unchanged inside, at once
    key = f"revocation_sent:{lst['issuer']}"
    if int(LocalState.get_value(key, "0") or 0) < int(lst["version"]):
        for child in [r.code for r in Link.select(Link.code).where((Link.role == "child") & (Link.state == "active"))]:
            if not trust.is_revoked(child):
                _send(node, "federation.revocation", child, {"list": lst}, hop=child)
        LocalState.put(key, str(lst["version"]))


# -- pings -----------------------------------------------------------------------------------
def ping(node: Node, dest: str, seq: int = 0) -> str:
    """Send a ping to any node of the tree; its pong comes back the same way."""
    from node.divisions import load_divisions
    if dest == node.code:
        raise NodeError(422, "invalid", "不能 ping 本节点 / cannot ping this node itself", "code")
    if load_divisions().level_of(dest) is None:
        raise NodeError(422, "unknown_division", f"未知的节点代码 {dest} / unknown node code", "code")
    with write_tx(node.db):
        doc_id = _send(node, "federation.ping", dest, {"seq": seq})
        PingLog.create(doc_id=doc_id, direction="out", peer=dest, seq=seq, sent_at=node.now())
    return doc_id


def _forward_or_none(node: Node, d: Delivery) -> bool:
    if d.dest == node.code:
        return False
    hop = topology.next_hop(replicator(node), d.dest)
    if hop is None:
        raise ApplyError(f"没有通往 {d.dest} 的链路 / no linked route to {d.dest}")
    d.forward(hop)
    return True


def _apply_ping(node: Node, d: Delivery) -> None:
    if _forward_or_none(node, d):
        return
    row = PingLog.get_or_none(PingLog.doc_id == d.doc["id"])
    if row is not None:  # cannot happen while the inbox holds its promise; count it if it does
        PingLog.update(received=PingLog.received + 1).where(PingLog.doc_id == d.doc["id"]).execute()
        return
    # writes are serialised, and the index makes this one lookup, not a count of the log
    arrival = (PingLog.select(fn.MAX(PingLog.arrival)).scalar() or 0) + 1
    PingLog.create(doc_id=d.doc["id"], direction="in", peer=d.origin, seq=int(d.body.get("seq", 0)),
                   sent_at=datetime.fromisoformat(d.doc["created_at"]), received=1, arrival=arrival)
    _send(node, "federation.pong", d.origin, {"ping": d.doc["id"]})


def _apply_pong(node: Node, d: Delivery) -> None:
    if _forward_or_none(node, d):
        return
    (PingLog.update(answered_at=d.now)
        .where((PingLog.doc_id == d.body.get("ping")) & (PingLog.direction == "out"))
        .execute())


def ping_report(node: Node) -> dict:
    """Sent/answered here, and what arrived from each origin: an exactly-once oracle for
    real-process tests (every seq once, none twice, none missing)."""
    out = list(PingLog.select().where(PingLog.direction == "out"))
    inbound = list(PingLog.select().where(PingLog.direction == "in").order_by(PingLog.arrival))
    by_origin: dict[str, list[int]] = {}
    for r in inbound:
        by_origin.setdefault(r.peer, []).append(r.seq)
    return {
        "sent": len(out), "answered": sum(1 for r in out if r.answered_at),
        "sent_to": {peer: sum(1 for r in out if r.peer == peer) for peer in {r.peer for r in out}},
        "received": len(inbound), "applied_more_than_once": [r.doc_id for r in inbound if r.received != 1],
        # in_order: applied in the order they were sent (per origin; rule 7, F4)
        "from": {peer: {"count": len(seqs), "distinct": len(set(seqs)), "min": min(seqs), "max": max(seqs),
                        "in_order": seqs == sorted(seqs)}
                 for peer, seqs in by_origin.items()},
    }


def register_handlers(node: Node, registry: Registry) -> None:
    """The control documents this node applies (``node.domains`` installs it)."""
    registry.register("federation.records", lambda d: _apply_records(node, d))
    registry.register("federation.revocation", lambda d: _apply_revocation(node, d))
    registry.register("federation.ping", lambda d: _apply_ping(node, d))
    registry.register("federation.pong", lambda d: _apply_pong(node, d))



def job_specs(node: Node) -> list[jobs.JobSpec]:
    def refresh(n: Node) -> None:
        with write_tx(n.db):
            trust.refresh_revocation_list(n.keypair, n.now())
        push_changes(n)
    return [("federation.push_changes", lambda n: 30.0, push_changes),
            ("federation.refresh_revocations", lambda n: 86400.0, refresh)]



__all__ = ["ping", "ping_report", "push_changes", "json"]


def join_parent(node: Node, parent_url: str, token: str, pull_only: bool = False) -> dict:
    """``link join`` at a node: join the parent, and when this replaces an earlier parent
    (a county moved to another prefecture, F19), move what was queued for the old parent
    to the new one so nothing is lost across the switch."""
    from node.divisions import load_divisions
    from node.network.peers import check_peer_url
    from node.privacy import current_seal_public
    from replication import reroute
    check_peer_url(node, parent_url, "parent")
    with node.activate():
        old = Link.get_or_none((Link.role == "parent") & (Link.state == "active"))
        old_code = old.code if old else None
        result = links.join_parent(
            parent_url, token, identity=links.identity_of(node), keypair=node.keypair,
            session=node.session(), now=node.now(), is_within=load_divisions().is_within,
            timeout_s=node.config.replication.request_timeout_s, pull_only=pull_only,
            seal_key=current_seal_public(node.config.home_path))
        new_code = result["parent"]["code"]
        if old_code and old_code != new_code:
            with write_tx(node.db):
                moved = reroute.readdress(replicator(node), old_code, new_code)
            log.info("re-parented from %s to %s: %d queued documents re-addressed", old_code, new_code, moved)
            result["readdressed"] = moved
        push_changes(node)
    return result
