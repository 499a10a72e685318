"""Appending to the audit log, reading it, signing its head (issue 13 item 4; docs/audit.md).

``record`` is the one way in. The entry is written inside the caller's write transaction when
there is one (``write_tx`` nests as a savepoint), so a change and its audit entry commit or
roll back together. Appends are serialised: on SQLite the write lock (``write_tx`` takes it
up front) already orders writers; on PostgreSQL the head row is locked ``FOR UPDATE`` first, so
two writers never both read the same head and fork the chain.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from peewee import fn

from federation import keys as fkeys
from federation.canonical import canonical_bytes
from node.audit.models import GENESIS, AuditEntry, AuditHead, AuditSeal
from node.db import is_sqlite, write_tx
from node.runtime import Node

log = logging.getLogger(__name__)

# Keys that would carry a complainant's identity: the log names cases by id, never people
# (CONTRACT §11: no file under the home holds a complainant's phone or name in clear).
PERSONAL_KEYS = frozenset({"phone", "complainant", "address", "id_number", "email", "reporter", "contact"})
MAX_FIELD = 200


def stamp(now: datetime) -> str:
    """The one text form of an entry's time (what is hashed and stored)."""
    if now.tzinfo is None:
        raise ValueError("audit times must be aware datetimes")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(*, at: str, actor: str, action: str, target: str, detail: str, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the entry with the hash of the one before.

    ``seq`` is not hashed: the order is the ``prev_hash`` link, and ``verify`` checks the
    numbers for gaps separately. A row moved by renumbering therefore still verifies as
    itself, which is what lets ``verify`` tell an inserted entry from a changed one."""
    body = {"at": at, "actor": actor, "action": action, "target": target, "detail": detail,
            "prev_hash": prev_hash}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def hash_of(row: AuditEntry) -> str:
    return entry_hash(at=row.at, actor=row.actor, action=row.action, target=row.target, detail=row.detail,
                      prev_hash=row.prev_hash)


def _check_detail(value: Any, path: str = "detail") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() in PERSONAL_KEYS:
                raise ValueError(f"audit {path}.{key}: personal data is not logged; name the case id instead")
            _check_detail(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            _check_detail(item, f"{path}[{n}]")


def append(actor: str, action: str, target: str = "", detail: Mapping[str, Any] | None = None, *,
           now: datetime) -> dict:
    """Append one entry on the database the audit tables are bound to; return it."""
    detail = dict(detail or {})
    _check_detail(detail)
    text = canonical_bytes(detail).decode("utf-8")
    at = stamp(now)
    actor, action, target = (actor or "system")[:MAX_FIELD], action[:MAX_FIELD], (target or "")[:MAX_FIELD]
    db = AuditEntry._meta.database
    with write_tx(db):
        query = AuditHead.select().where(AuditHead.id == 1)
        if not is_sqlite(db):
            query = query.for_update()
        head = query.first()
        if head is None:         # a store whose head row went missing: start it (and verify says so)
            AuditHead.insert(id=1, seq=0, hash=GENESIS).execute()
            head = AuditHead.get(AuditHead.id == 1)
        seq = head.seq + 1
        digest = entry_hash(at=at, actor=actor, action=action, target=target, detail=text, prev_hash=head.hash)
        AuditEntry.insert(seq=seq, at=at, actor=actor, action=action, target=target, detail=text,
                          prev_hash=head.hash, hash=digest).execute()
        AuditHead.update(seq=seq, hash=digest).where(AuditHead.id == 1).execute()
    return {"seq": seq, "at": at, "actor": actor, "action": action, "target": target, "detail": detail,
            "hash": digest}


def record(node: Node, actor: str, action: str, target: str = "", detail: Mapping[str, Any] | None = None, *,
           now: datetime | None = None) -> dict:
    """Record one audited act of ``node`` (issue 13 item 4): who, what, on what, with details
    that name cases by id. Joins the caller's write transaction when there is one."""
    with node.activate():
        return append(actor, action, target, detail, now=now or node.now())


def _out(row: AuditEntry) -> dict:
    return {"seq": row.seq, "at": row.at, "actor": row.actor, "action": row.action, "target": row.target,
            "detail": json.loads(row.detail or "{}"), "hash": row.hash}


def list_entries(node: Node, *, limit: int = 50, before: int | None = None, action: str | None = None,
                 actor: str | None = None, target: str | None = None) -> list[dict]:
    """The newest entries first (``before``: only entries with a smaller ``seq``)."""
    limit = max(1, min(int(limit), 10_000))
    with node.activate():
        query = AuditEntry.select().order_by(AuditEntry.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(AuditEntry.seq < before)
        if action:
            query = query.where(AuditEntry.action == action)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if target:
            query = query.where(AuditEntry.target == target)
        return [_out(row) for row in query]


# -- signed heads ---------------------------------------------------------------------------
def seal_body(node_code: str, seq: int, digest: str, signed_at: str) -> bytes:
    return canonical_bytes({"kind": "audit.head", "node": node_code, "seq": seq, "hash": digest,
                            "signed_at": signed_at})


#: Run inside the seal's transaction, before the head is read (``add_seal_hook``): each may
#: append entries, which the signature then covers — ``node.cases`` puts the case history heads
#: there (``case.heads``, issue 13 item 4), so a case event cut from the end is found later.
SEAL_HOOKS: list[Callable[[Node, datetime], Any]] = []


def add_seal_hook(hook: Callable[[Node, datetime], Any]) -> None:
    """Register ``hook(node, now)`` to run in every seal's transaction (``node.domains``)."""
    if hook not in SEAL_HOOKS:
        SEAL_HOOKS.append(hook)


def next_seq() -> int:
    """The ``seq`` the next entry will get, with the head locked for this transaction (PostgreSQL
    ``FOR UPDATE``; SQLite's write lock is already held): call inside ``write_tx``. A seal hook
    uses it to key rows that its entry's digest covers before appending that entry."""
    query = AuditHead.select().where(AuditHead.id == 1)
    if not is_sqlite(AuditHead._meta.database):
        query = query.for_update()
    head = query.first()
    return (head.seq if head is not None else 0) + 1


def seal_head(node: Node, *, now: datetime | None = None) -> dict | None:
    """Sign the newest entry with the node key (the ``audit.seal`` job; ``n12315 audit seal``).

    The entries since the last signed head are checked first: a broken chain is never
    signed (the error is logged and ``verify`` names it). Then, in one transaction, the
    ``SEAL_HOOKS`` append what they have (the case heads) and the head is signed, so the
    signature covers their entries. Nothing new since the last seal: nothing is signed.
    Returns the seal, or None."""
    from node.audit.verify import check_since  # verify imports this module for the hash
    with node.activate():
        at = now or node.now()
        last_seal = AuditSeal.select().order_by(AuditSeal.seq.desc(), AuditSeal.id.desc()).first()
        finding = check_since(node, last_seal)
        if finding is not None:
            log.error("audit chain broken, head not signed: %s", finding.message)
            return None
        with write_tx(AuditSeal._meta.database):
            for hook in SEAL_HOOKS:
                hook(node, at)
            head = AuditEntry.select().order_by(AuditEntry.seq.desc()).first()
            signed = AuditSeal.select(fn.MAX(AuditSeal.seq)).scalar() or 0   # a seal that ran meanwhile
            if head is None or signed >= head.seq:
                return None
            signed_at = stamp(at)
            signature = fkeys.sign(node.keypair.private, seal_body(node.code, head.seq, head.hash, signed_at))
            AuditSeal.create(seq=head.seq, hash=head.hash, signed_at=signed_at, key_id=node.keypair.key_id,
                             signature=signature)
        return {"seq": head.seq, "hash": head.hash, "signed_at": signed_at, "key_id": node.keypair.key_id}
