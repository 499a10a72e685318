"""Tables of store-and-forward replication (RELIABILITY rules 1-8).

- ``SendCounter``: dense per-(link, channel) sequence numbers taken in the same
  transaction as the outbox row (rule 2) — never a clock or a shared database sequence.
- ``OutboxEntry``: what waits for a peer; deleted only when acknowledged (rule 6).
- ``InboxMark``: the receiver's high-water mark per (peer, epoch, channel), written in the
  same transaction as the effect and kept forever (rule 4).
- ``InboxReceipt``: digest of each applied sequence, so the same key with different
  content is an alarm, not a cached OK (rule 5).
- ``InboxPending``: entries that arrived ahead of a gap, buffered until the gap fills.
- ``Quarantine``: documents that could not be applied; the channel waits for an admin to
  retry or skip (rule 8), and every decision is audited in ``ReplicationAudit``.
"""
from __future__ import annotations

from peewee import AutoField, BigIntegerField, CharField, DateTimeField, IntegerField, TextField

from federation.storage import BaseModel


class SendCounter(BaseModel):
    dest = CharField()
    channel = CharField()
    epoch = CharField()
    next_seq = BigIntegerField(default=1)
    acked_seq = BigIntegerField(default=0)

    class Meta:
        primary_key = False
        indexes = ((("dest", "channel"), True),)


class OutboxEntry(BaseModel):
    id = AutoField()
    dest = CharField()
    channel = CharField()
    epoch = CharField()
    seq = BigIntegerField()
    doc_kind = CharField()
    doc_id = CharField()
    body = TextField()            # canonical JSON of the origin-signed document
    route = TextField()           # JSON list of node codes the document has passed
    created_at = DateTimeField()

    class Meta:
        indexes = ((("dest", "channel", "epoch", "seq"), True),)


class InboxMark(BaseModel):
    peer = CharField()
    epoch = CharField()
    channel = CharField()
    hwm = BigIntegerField(default=0)
    updated_at = DateTimeField()

    class Meta:
        primary_key = False
        indexes = ((("peer", "epoch", "channel"), True),)


class InboxReceipt(BaseModel):
    peer = CharField()
    epoch = CharField()
    channel = CharField()
    seq = BigIntegerField()
    digest = CharField()
    applied_at = DateTimeField(index=True)

    class Meta:
        primary_key = False
        indexes = ((("peer", "epoch", "channel", "seq"), True),)


class InboxPending(BaseModel):
    peer = CharField()
    epoch = CharField()
    channel = CharField()
    seq = BigIntegerField()
    digest = CharField()
    body = TextField()
    route = TextField()
    received_at = DateTimeField()

    class Meta:
        primary_key = False
        indexes = ((("peer", "epoch", "channel", "seq"), True),)


class Quarantine(BaseModel):
    id = AutoField()
    peer = CharField()
    epoch = CharField()
    channel = CharField()
    seq = BigIntegerField()
    doc_kind = CharField()
    doc_id = CharField()
    digest = CharField()
    body = TextField()
    route = TextField()
    error = TextField()
    state = CharField(default="held")        # held | retried | skipped | superseded (restore gap)
    created_at = DateTimeField()
    attempts = IntegerField(default=1)

    class Meta:
        indexes = ((("peer", "epoch", "channel", "seq"), True),)


class ReplicationAudit(BaseModel):
    id = AutoField()
    at = DateTimeField(index=True)
    actor = CharField()
    action = CharField()        # quarantine | retry | skip | conflict | epoch | refused | restore_gap
    peer = CharField(null=True)
    detail = TextField()


MODELS = [SendCounter, OutboxEntry, InboxMark, InboxReceipt, InboxPending, Quarantine,
          ReplicationAudit]
