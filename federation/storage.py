"""The peewee base model every package's tables derive from.

It lives in the lowest package so that ``federation``, ``replication`` and ``node`` can
all declare tables without importing upward. Metadata is thread-safe so that several
nodes in one process (the test harness) and waitress's worker threads can each bind
their own database with ``Database.bind_ctx`` (STYLE.md "Database").
"""
from __future__ import annotations

import threading
from typing import Any

from peewee import Database, Model, OperationalError, SqliteDatabase
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


class TransactionLost(OperationalError):
    """SQLite rolled the whole transaction back by itself (a full disk, ``SQLITE_FULL``, is the
    usual cause, RELIABILITY F20). Its ``__cause__`` is the error that did it."""


class _QueuedWrite:
    """SQLite's write transaction under this process's write lock.

    On ``SQLITE_FULL`` (and some I/O errors) SQLite rolls the *whole* transaction back, not
    only the failed statement or savepoint. A caller that caught the error inside the
    transaction (intake's group commit runs each write in its own savepoint) would then run
    the next savepoint outside any transaction — ``SAVEPOINT`` opens a new one, its
    ``RELEASE`` commits it — and a write could be stored while its caller is told it failed.
    So a nested write after the loss is refused, and the outer one raises ``TransactionLost``
    from the error that caused it, instead of peewee's "cannot commit - no transaction is
    active", which hides the cause (a full disk must be answered 503, not 500)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        lock = getattr(db, "_n12315_write_lock", None)
        if lock is None:
            lock = threading.RLock()  # re-entrant: a write_tx nested in another is a savepoint
            db._n12315_write_lock = lock  # type: ignore[attr-defined]
        self.lock = lock
        self.tx: Any = None
        self.outermost = True

    def _in_sqlite_tx(self) -> bool:
        return bool(self.db.connection().in_transaction)

    def __enter__(self) -> Any:
        self.lock.acquire()
        try:
            self.outermost = self.db.transaction_depth() == 0
            if not self.outermost and not self._in_sqlite_tx():
                raise TransactionLost("事务已被 SQLite 回滚 / the transaction was rolled back by SQLite"
                                      ) from getattr(self.db, "_n12315_tx_lost", None)
            self.tx = self.db.atomic("IMMEDIATE")
            return self.tx.__enter__()
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            try:
                return self.tx.__exit__(exc_type, exc, tb)
            finally:
                if (exc is not None and not self.outermost and not self._in_sqlite_tx()
                        and getattr(self.db, "_n12315_tx_lost", None) is None):
                    self.db._n12315_tx_lost = exc  # type: ignore[attr-defined]
        except OperationalError as err:
            lost = getattr(self.db, "_n12315_tx_lost", None)
            if self.outermost and lost is not None and err is not lost:
                raise TransactionLost("事务已被 SQLite 回滚 / the transaction was rolled back by SQLite") from lost
            raise
        finally:
            if self.outermost:
                self.db._n12315_tx_lost = None  # type: ignore[attr-defined]
            self.lock.release()
