"""The durable outbox (RELIABILITY rules 1-3).

``enqueue`` must run inside the caller's write transaction, next to the business change
that causes it: the dense sequence number comes from one upsert of the ``SendCounter``
row of (destination, channel), whose row lock also orders concurrent writers, so the
numbers are committed in order and never skipped (F9).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from federation.canonical import canonical_bytes
from replication.engine import Replicator
from replication.models import OutboxEntry, SendCounter


def next_seq(rep: Replicator, dest: str, channel: str) -> tuple[str, int]:
    """Take the next sequence number of (dest, channel) in the current epoch."""
    epoch = rep.epoch()
    db = rep.db
    # One statement: insert the counter at 2 (handing out 1) or bump it; RETURNING gives
    # the number this transaction owns. A counter left from an older epoch restarts at 1.
    cursor = db.execute_sql(  # type: ignore[no-untyped-call]
        'INSERT INTO send_counter (dest, channel, epoch, next_seq, acked_seq) VALUES (%s, %s, %s, 2, 0) '
        'ON CONFLICT (dest, channel) DO UPDATE SET '
        'next_seq = CASE WHEN send_counter.epoch = excluded.epoch THEN send_counter.next_seq + 1 ELSE 2 END, '
        'acked_seq = CASE WHEN send_counter.epoch = excluded.epoch THEN send_counter.acked_seq ELSE 0 END, '
        'epoch = excluded.epoch '
        'RETURNING next_seq - 1'.replace("%s", db.param), (dest, channel, epoch))
    (seq,) = cursor.fetchone()
    return epoch, int(seq)


def enqueue(rep: Replicator, dest: str, channel: str, doc: dict[str, Any], route: list[str],
            now: datetime) -> int:
    """Queue a signed document for the next hop ``dest``; return its sequence number."""
    epoch, seq = next_seq(rep, dest, channel)
    OutboxEntry.insert(dest=dest, channel=channel, epoch=epoch, seq=seq, doc_kind=str(doc["kind"]),
                       doc_id=str(doc["id"]), body=canonical_bytes(doc).decode("utf-8"),
                       route=json.dumps(route), created_at=now).execute()
    return seq


def backlog(dest: str | None = None) -> int:
    q = OutboxEntry.select()
    if dest is not None:
        q = q.where(OutboxEntry.dest == dest)
    return int(q.count())


def pending(dest: str, channel: str, limit: int, max_bytes: int = 0) -> list[OutboxEntry]:
    """The oldest pending entries of one link and channel: one epoch, contiguous seqs,
    at most ``limit`` of them and (when given) about ``max_bytes`` of documents."""
    first = (OutboxEntry.select(OutboxEntry.epoch)
             .where((OutboxEntry.dest == dest) & (OutboxEntry.channel == channel))
             .order_by(OutboxEntry.id)
             .first())
    if first is None:
        return []
    # the oldest epoch first; within it, sequence order (ids may interleave after a re-parent)
    rows = list(OutboxEntry.select()
                .where((OutboxEntry.dest == dest) & (OutboxEntry.channel == channel)
                       & (OutboxEntry.epoch == first.epoch))
                .order_by(OutboxEntry.seq)
                .limit(limit))
    epoch = rows[0].epoch
    out = [rows[0]]
    size = len(rows[0].body.encode("utf-8"))
    for row in rows[1:]:
        size += len(row.body.encode("utf-8")) + len(row.route) + 32
        if row.epoch != epoch or row.seq != out[-1].seq + 1 or (max_bytes and size > max_bytes):
            break
        out.append(row)
    return out


def acknowledge(dest: str, channel: str, epoch: str, acked: int) -> int:
    """Delete what the peer acknowledged (cumulative); return how many rows went."""
    deleted = (OutboxEntry.delete()
               .where((OutboxEntry.dest == dest)
                      & (OutboxEntry.channel == channel)
                      & (OutboxEntry.epoch == epoch)
                      & (OutboxEntry.seq <= acked))
               .execute())
    (SendCounter.update(acked_seq=acked)
        .where((SendCounter.dest == dest)
               & (SendCounter.channel == channel)
               & (SendCounter.epoch == epoch)
               & (SendCounter.acked_seq < acked))
        .execute())
    return int(deleted)
