"""The peewee base model every package's tables derive from.

It lives in the lowest package so that ``federation``, ``replication`` and ``node`` can
all declare tables without importing upward. Metadata is thread-safe so that several
nodes in one process (the test harness) and waitress's worker threads can each bind
their own database with ``Database.bind_ctx`` (STYLE.md "Database").
"""
from __future__ import annotations

import threading
from typing import Any

from peewee import Database, Model, SqliteDatabase
from playhouse.shortcuts import ThreadSafeDatabaseMetadata


class BaseModel(Model):
    class Meta:
        model_metadata_class = ThreadSafeDatabaseMetadata
        legacy_table_names = False


class KeyValueMixin:
    """``get_value``/``put`` for a table of ``key`` (primary key) and ``value`` text."""

    @classmethod
    def get_value(cls, key: str, default: str | None = None) -> str | None:
        row = cls.get_or_none(cls.key == key)  # type: ignore[attr-defined]
        return row.value if row else default

    @classmethod
    def put(cls, key: str, value: str) -> None:
        (cls.insert(key=key, value=value)  # type: ignore[attr-defined]
            .on_conflict(conflict_target=[cls.key], update={cls.value: value})  # type: ignore[attr-defined]
            .execute())


def write_tx(db: Database) -> Any:
    """A write transaction. SQLite takes the write lock up front (IMMEDIATE) so two writers
    never deadlock on a lock upgrade; PostgreSQL uses its default isolation.

    On SQLite, writers of this process also queue on a lock of their own first: SQLite's
    busy handler makes a waiting writer sleep and poll (in steps up to 100 ms), which put
    intake's p99 at 230 ms with 8 waitress threads; a queue wakes the next writer the moment
    the previous one commits. Writers in other processes (a CLI ``sync`` beside ``serve``)
    still meet the busy timeout.
    """
    if isinstance(db, SqliteDatabase):
        return _QueuedWrite(db)
    return db.atomic()


class _QueuedWrite:
    def __init__(self, db: Database) -> None:
        self.db = db
        lock = getattr(db, "_n12315_write_lock", None)
        if lock is None:
            lock = threading.RLock()  # re-entrant: a write_tx nested in another is a savepoint
            db._n12315_write_lock = lock  # type: ignore[attr-defined]
        self.lock = lock
        self.tx: Any = None

    def __enter__(self) -> Any:
        self.lock.acquire()
        try:
            self.tx = self.db.atomic("IMMEDIATE")
            return self.tx.__enter__()
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.tx.__exit__(*exc)
        finally:
            self.lock.release()
