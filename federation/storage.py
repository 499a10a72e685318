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


def write_tx(db: Database) -> Any:
    """A write transaction. SQLite takes the write lock up front (IMMEDIATE) so two writers
    never deadlock on a lock upgrade; PostgreSQL uses its default isolation."""
    if isinstance(db, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()
