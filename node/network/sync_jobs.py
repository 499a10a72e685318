"""Replication jobs for ``serve``: push and pull on every link, housekeeping (rules 1, 9-10)."""
from __future__ import annotations

from node import jobs
from node.network.transport import replicator
from node.runtime import Node
from replication import inbox, sender
from replication.engine import DbNonceCache


def push_round(node: Node) -> None:
    """Push every link with something pending. A kick that arrives while this runs (a
    request committed more documents) makes it go round again instead of being dropped, so
    a routed case never waits for the next interval."""
    rep = replicator(node)
    from federation.models import Link
    from replication.models import OutboxEntry
    for _ in range(20):
        node.extras["push_dirty"] = False
        pending = {r.dest for r in OutboxEntry.select(OutboxEntry.dest).distinct()}
        # read to the end before pushing (issue 14 "database is locked"): a SELECT with rows
        # still to step keeps this connection's read snapshot open, and once a request thread
        # has committed, the BEGIN IMMEDIATE of ``sender.push`` on that stale snapshot gets
        # SQLITE_BUSY at once — SQLite does not wait out the busy timeout for it
        links = list(Link.select().where(Link.state == "active"))
        for link in links:
            if link.code in pending and not link.pull_only:
                for channel in sender.documents.CHANNELS:
                    sender.push(rep, link.code, channel)
        if not node.extras.get("push_dirty"):
            return


def pull_round(node: Node) -> None:
    rep = replicator(node)
    from federation.models import Link
    pulled = 0
    for link in Link.select().where((Link.state == "active") & (Link.role == "parent")):
        for channel in sender.documents.CHANNELS:
            pulled += sender.pull(rep, link.code, channel).pulled
    kick = node.extras.get("kick")
    if pulled and kick is not None:
        kick()  # what we pulled may be on its way further down: forward it now


def housekeeping(node: Node) -> None:
    rep = replicator(node)
    from federation.storage import write_tx
    with write_tx(node.db):
        DbNonceCache(node.now).prune()
        inbox.prune_receipts(rep)


def job_specs(node: Node) -> list[jobs.JobSpec]:
    return [
        ("replication.push", lambda n: n.config.replication.push_interval_s, push_round),
        ("replication.pull", lambda n: n.config.replication.pull_interval_s, pull_round),
        ("replication.housekeeping", lambda n: 3600.0, housekeeping),
    ]

