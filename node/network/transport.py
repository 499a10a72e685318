"""Wires a node to its ``Replicator``: settings, clock, transport, the division check,
and the registry of document handlers that node services fill (STYLE.md: ``node/``
registers the handlers, the transport never knows what a case is)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from node.runtime import Node
from replication.engine import Delivery, Replicator
from replication.registry import Registry

# ``node.domains.install`` adds each domain's handler registration; a factory gets the node.
HANDLER_FACTORIES: list[Callable[[Node, Registry], None]] = []


_CREATE_LOCK = threading.Lock()


def replicator(node: Node) -> Replicator:
    """The node's replicator, created once. It is published only after the restore check:
    at boot every job starts at once, and a job that enqueued before a restored store had
    begun its new epoch would re-use a sequence number peers already hold (F8)."""
    rep = node.extras.get("replicator")
    if rep is not None:
        return rep
    with _CREATE_LOCK:
        rep = node.extras.get("replicator")
        if rep is not None:
            return rep
        from node.divisions import load_divisions
        divisions = load_divisions()
        rep = Replicator(code=node.code, keypair_ref=lambda: node.keypair, db=node.db, clock=node.clock,
                         session_ref=node.session, settings=node.config.replication,
                         is_within=divisions.is_within, state_dir=node.config.home_path)
        for factory in HANDLER_FACTORIES:
            factory(node, rep.registry)
        from replication import epochs
        with node.activate():
            epochs.check_restored(rep)  # F8: a store restored from a backup starts a new epoch
        node.extras["replicator"] = rep
    return rep


def add_handlers(*factories: Callable[[Node, Registry], None]) -> None:
    """Add document-handler registrations (``node.domains.install``; idempotent)."""
    HANDLER_FACTORIES.extend(f for f in factories if f not in HANDLER_FACTORIES)


def handler(node: Node, fn: Callable[[Node, Delivery], None]) -> Callable[[Delivery], None]:
    """Adapt a node-level handler ``fn(node, delivery)`` to the registry's signature."""
    def run(delivery: Delivery) -> None:
        fn(node, delivery)
    return run
