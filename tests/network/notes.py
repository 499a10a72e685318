"""A test-only document kind, ``test.note``, for the replication property tests.

Its handler forwards the note one hop towards its destination and, at the destination,
records that it arrived (a counter per note id, so a second application shows as 2) and
the order of arrival per (origin, channel). Nothing here is production code: the
registry is filled by the test, exactly as ``node/`` fills it for real kinds.
"""
from __future__ import annotations

import json

from federation.models import LocalState
from federation.storage import write_tx
from node.network.transport import replicator
from node.runtime import Node
from replication import documents, outbox, topology
from replication.engine import Delivery


def install(node: Node) -> None:
    with node.activate():
        rep = replicator(node)
    if rep.registry.get("test.note") is None:
        rep.registry.register("test.note", lambda d: _apply(node, d))


def _apply(node: Node, delivery: Delivery) -> None:
    if delivery.body.get("poison"):
        from replication.registry import ApplyError
        raise ApplyError("毒文档 / poison document (test)")
    if delivery.dest != node.code:
        hop = topology.next_hop(replicator(node), delivery.dest)
        if hop is None:
            from replication.registry import ApplyError
            raise ApplyError(f"no route to {delivery.dest}")
        delivery.forward(hop)
        return
    key = f"note:{delivery.doc['id']}"
    LocalState.put(key, str(int(LocalState.get_value(key, "0") or 0) + 1))
    order_key = f"order:{delivery.origin}:{delivery.doc['channel']}"
    seen = json.loads(LocalState.get_value(order_key, "[]") or "[]")
    seen.append(delivery.body["n"])
    LocalState.put(order_key, json.dumps(seen))


def send(node: Node, dest: str, n: int, *, channel: str = "cases", poison: bool = False) -> str:
    """Commit a note at ``node`` for ``dest``: the document and its outbox row in one transaction."""
    with node.activate():
        rep = replicator(node)
        with write_tx(node.db):
            body = {"n": n}
            if poison:
                body["poison"] = True
            doc = documents.create("test.note", channel=channel, origin=node.code, dest=dest, body=body,
                                   keypair=node.keypair, now=node.now())
            hop = topology.next_hop(rep, dest)
            assert hop is not None, f"no route from {node.code} to {dest}"
            outbox.enqueue(rep, hop, channel, doc, [node.code], node.now())
    return doc["id"]


def applied(node: Node) -> dict[str, int]:
    with node.activate():
        return {row.key[5:]: int(row.value) for row in LocalState.select().where(LocalState.key.startswith("note:"))}


def order(node: Node, origin: str, channel: str = "cases") -> list[int]:
    with node.activate():
        return json.loads(LocalState.get_value(f"order:{origin}:{channel}", "[]") or "[]")
