"""Re-addressing queued documents when a node changes parent (F19: "a county moves to
another prefecture — nothing lost across the switch").

Entries still waiting for the old parent are moved, in their original order, to the new
parent's queue under fresh sequence numbers. The documents themselves (origin-signed)
do not change; only the hop does. Entries the old parent already acknowledged are gone
from the outbox and were delivered there; that parent forwards them on as before.
"""
from __future__ import annotations

from replication import outbox
from replication.engine import Replicator
from replication.models import OutboxEntry


def readdress(rep: Replicator, old: str, new: str) -> int:
    """Move everything queued for ``old`` to ``new`` (caller holds the write transaction)."""
    rows = list(OutboxEntry.select()
                .where(OutboxEntry.dest == old)
                .order_by(OutboxEntry.id))
    for row in rows:
        epoch, seq = outbox.next_seq(rep, new, row.channel)
        OutboxEntry.update(dest=new, epoch=epoch, seq=seq).where(OutboxEntry.id == row.id).execute()
    return len(rows)
