"""The peewee base model every package's tables derive from.

It lives in the lowest package so that ``federation``, ``replication`` and ``node`` can
all declare tables without importing upward. Metadata is thread-safe so that several
nodes in one process (the test harness) and waitress's worker threads can each bind
their own database with ``Database.bind_ctx`` (STYLE.md "Database").
"""
from __future__ import annotations

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
    never deadlock on a lock upgrade; PostgreSQL uses its default isolation."""
    if isinstance(db, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()
