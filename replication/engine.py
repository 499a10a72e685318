"""The ``Replicator``: one node's replication state holder, and ``Delivery``, the handle a
document handler receives (R7.1; RELIABILITY rules 1-19).

The replicator is a data holder (code, keys, database, clock, transport, settings, the
division check and the handler registry) plus the process-local locks that keep one
batch in flight per link and channel (rule 7). The work is done by plain functions in
``outbox``, ``inbox``, ``sender`` and ``status``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import requests
from peewee import Database, IntegrityError

from federation import keys
from federation.models import LocalState, SeenNonce
from replication.registry import Registry


class Settings(Protocol):
    batch_size: int
    max_batch_bytes: int
    backoff_base_s: float
    backoff_cap_s: float
    request_timeout_s: float
    clock_skew_s: int
    max_concurrent_syncs: int
    retry_after_s: int
    receipt_keep_days: int
    silent_after_hours: int


@dataclass
class Replicator:
    code: str
    keypair_ref: Callable[[], keys.KeyPair]
    db: Database
    clock: Callable[[], datetime]
    session_ref: Callable[[], requests.Session]
    settings: Settings
    is_within: Callable[[str, str], bool]
    registry: Registry = field(default_factory=Registry)
    state_dir: Path | None = None
    locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)
    sync_slots: threading.BoundedSemaphore | None = None

    def __post_init__(self) -> None:
        if self.sync_slots is None:
            self.sync_slots = threading.BoundedSemaphore(max(1, self.settings.max_concurrent_syncs))

    @property
    def keypair(self) -> keys.KeyPair:
        return self.keypair_ref()

    def now(self) -> datetime:
        return self.clock()

    def lock_for(self, peer: str, channel: str) -> threading.Lock:
        with self._locks_guard:
            lock = self.locks.get((peer, channel))
            if lock is None:
                lock = self.locks[(peer, channel)] = threading.Lock()
            return lock

    def epoch(self) -> str:
        value = LocalState.get_value("epoch")
        if not value:
            raise RuntimeError("store has no epoch")
        return value


@dataclass
class Delivery:
    """What a handler gets: the verified document, where it came from, and how to pass it on.

    Everything a handler does — its own effect and any ``forward`` — happens in the
    receiver's transaction for this document, so it commits or rolls back as one (rule 1).
    """
    rep: Replicator
    doc: dict[str, Any]
    sender: str
    sender_role: str
    route: list[str]
    now: datetime

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def body(self) -> dict[str, Any]:
        body = self.doc["body"]
        assert isinstance(body, dict)
        return body

    @property
    def origin(self) -> str:
        return str(self.doc["origin"])

    @property
    def dest(self) -> str:
        return str(self.doc["dest"])

    def forward(self, next_hop: str) -> None:
        """Pass the same signed document on to ``next_hop`` (never back where it came from)."""
        from replication import outbox
        if next_hop in self.route or next_hop == self.rep.code:
            raise ValueError(f"refusing to forward {self.doc['id']} back to {next_hop} (loop)")
        outbox.enqueue(self.rep, next_hop, str(self.doc["channel"]), self.doc,
                       self.route + [self.rep.code], self.now)


class DbNonceCache:
    """RFC 9421 nonces remembered in the database, so a replay is refused even across a
    restart (F23). Expired rows are pruned by ``prune``."""

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock

    def seen_or_add(self, key_id: str, nonce: str, expires_at: float) -> bool:
        try:
            SeenNonce.insert(key_id=key_id, nonce=nonce,
                             expires_at=datetime.fromtimestamp(expires_at, UTC)).execute()
        except IntegrityError:
            return True
        return False

    def prune(self) -> int:
        return int(SeenNonce.delete().where(SeenNonce.expires_at < self.clock() - timedelta(seconds=60)).execute())
