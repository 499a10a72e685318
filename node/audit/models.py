"""The audit log's tables (issue 13 item 4; docs/audit.md).

``audit_entry`` is append-only: each row carries the hash of the one before (``prev_hash``) and
its own ``hash`` over a canonical JSON of its fields, so an edited, removed or inserted row
breaks the chain. ``audit_head`` is one row (id 1) moved in the same transaction as every
append: on PostgreSQL it is the row two writers lock, so they never fork the chain, and it tells
``verify`` where the chain should end. ``audit_seal`` keeps the heads signed with the node key.

Times are kept as the exact ISO text that was hashed (``2026-09-30T01:00:00.000000Z``), not as a
database timestamp: a round trip through a driver must not change a hashed byte.
"""
from __future__ import annotations

from peewee import AutoField, BigIntegerField, CharField, IntegerField, TextField

from federation.storage import BaseModel

GENESIS = "0" * 64


class AuditEntry(BaseModel):
    seq = BigIntegerField(primary_key=True)       # 1, 2, 3 … with no gap
    at = CharField()                               # UTC, ISO text as hashed
    actor = CharField()                            # a login, "cli" or "system"
    action = CharField(index=True)                 # user.add, token.issue, desk.sign_in, export …
    target = CharField(default="")                 # a login, a node code, a case id — never a person's data
    detail = TextField(default="{}")               # canonical JSON, as hashed
    prev_hash = CharField()
    hash = CharField()

    class Meta:
        table_name = "audit_entry"


class AuditHead(BaseModel):
    id = IntegerField(primary_key=True)            # always 1
    seq = BigIntegerField(default=0)
    hash = CharField(default=GENESIS)

    class Meta:
        table_name = "audit_head"


class AuditSeal(BaseModel):
    """A head signed with the node's Ed25519 key: entries up to ``seq`` ended in ``hash``."""
    id = AutoField()
    seq = BigIntegerField(index=True)
    hash = CharField()
    signed_at = CharField()
    key_id = CharField()
    signature = CharField()

    class Meta:
        table_name = "audit_seal"


MODELS: list[type[BaseModel]] = [AuditEntry, AuditHead, AuditSeal]


def migrate_tables(db) -> None:
    """Create the tables and the head row (idempotent: a store made at 0001 has the tables)."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
        if AuditHead.get_or_none(AuditHead.id == 1) is None:
            AuditHead.insert(id=1, seq=0, hash=GENESIS).execute()
