"""The database behind one layer: open SQLite or PostgreSQL, migrate, write transactions.

SQLite is the embedded default (WAL, ``synchronous=FULL`` so an acknowledged document is on
disk — RELIABILITY rule 6, F7); PostgreSQL runs the same code. A ``?schema=NAME`` query
parameter on a PostgreSQL URL puts the node in its own schema, which lets many nodes share
one server (the test suite, small deployments).

Migrations are numbered, recorded in ``schema_version`` from the first release, and run
at ``init`` and at every start (idempotent).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlparse

from peewee import CharField, Database, DateTimeField, IntegerField, PostgresqlDatabase, SqliteDatabase

from federation.storage import BaseModel, write_tx  # noqa: F401  (re-exported)
from node.errors import NodeError

log = logging.getLogger(__name__)


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    name = CharField()
    applied_at = DateTimeField()


def open_database(url: str, *, background_checkpoint: bool = False) -> Database:
    """Open (lazily connect) the database named by URL; refuse unknown schemes clearly.

    ``background_checkpoint`` (``serve``): SQLite does not checkpoint its WAL inside the
    commit that crosses 1,000 pages — a request would wait for the database file's fsync —
    and a job checkpoints passively instead (``checkpoint``)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        if not path:
            raise NodeError(400, "bad_db_url", "SQLite 地址缺少文件路径 / sqlite URL needs a file path", "db")
        return SqliteDatabase(path, pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": 2,        # FULL: nothing acknowledged that is not on disk (F7)
            "busy_timeout": 15000,   # waitress threads and the scheduler share one file
            "cache_size": -16000,
            "wal_autocheckpoint": 0 if background_checkpoint else 1000,
        }, check_same_thread=False)
    if parsed.scheme in ("postgres", "postgresql"):
        schema = parse_qs(parsed.query).get("schema", [None])[0]
        if schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise NodeError(400, "bad_db_url", "schema 名称无效 / invalid schema name", "db")
        kwargs: dict = {
            "host": parsed.hostname or "127.0.0.1",
            "port": parsed.port or 5432,
            "user": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
        }
        if schema:
            kwargs["options"] = f"-c search_path={schema}"
        db = PostgresqlDatabase(parsed.path.lstrip("/") or "postgres",
                                **{k: v for k, v in kwargs.items() if v is not None})
        db._n12315_schema = schema  # type: ignore[attr-defined]
        return db
    raise NodeError(400, "bad_db_url",
                    f"不支持的数据库地址：{url} / unsupported database URL (sqlite:/// or postgresql://)", "db")


def checkpoint(db: Database) -> None:
    """Move the WAL into the database file without blocking writers (SQLite only)."""
    if is_sqlite(db):
        db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")


def is_sqlite(db: Database) -> bool:
    return isinstance(db, SqliteDatabase)




def ensure_schema(db: Database) -> None:
    """Create the PostgreSQL schema named in the URL (no-op on SQLite)."""
    schema = getattr(db, "_n12315_schema", None)
    if schema:
        db.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


_ALL_MODELS: list[type[BaseModel]] | None = None


def all_models() -> list[type[BaseModel]]:
    """Every table of a node, in creation order (computed once: it is bound per request)."""
    global _ALL_MODELS
    if _ALL_MODELS is None:
        _ALL_MODELS = _collect_models()
    return _ALL_MODELS


def _collect_models() -> list[type[BaseModel]]:
    from federation import models as fed_models
    from node import models as node_models
    from replication import models as rep_models
    out = [SchemaVersion, *fed_models.MODELS, *rep_models.MODELS, *node_models.MODELS]
    # Each domain keeps its tables in its own module (cases in node.models; directives,
    # statistics and routing in theirs), so parallel work never edits one file.
    for name in DOMAIN_MODEL_MODULES:
        module = __import__(name, fromlist=["MODELS"])
        out.extend(module.MODELS)
    return out


DOMAIN_MODEL_MODULES: list[str] = ["node.ops_models", "node.directive_models", "node.stats_models",
                                   "node.routing_models"]


def _m0001_initial(db: Database) -> None:
    with db.bind_ctx(all_models()):
        db.create_tables(all_models(), safe=True)
    from node import models as node_models
    node_models.create_search_index(db)


def _m0002_ping_arrival(db: Database) -> None:
    """``ping_log.arrival``: the order pings were applied in, so ``pings`` can show that a
    link delivered them in the order sent (F4). A store created at version 1 by this code
    already has the column (0001 creates today's tables)."""
    if "arrival" not in {c.name for c in db.get_columns("ping_log")}:
        db.execute_sql("ALTER TABLE ping_log ADD COLUMN arrival BIGINT")
        db.execute_sql("CREATE INDEX IF NOT EXISTS ping_log_arrival ON ping_log (arrival)")


MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "initial schema", _m0001_initial),
    (2, "ping arrival order", _m0002_ping_arrival),
]


def migrate(db: Database) -> int:
    """Apply pending migrations; return the schema version now in force."""
    with db.bind_ctx([SchemaVersion]):
        ensure_schema(db)
        db.create_tables([SchemaVersion], safe=True)
        done = {row.version for row in SchemaVersion.select()}
        for number, name, fn in MIGRATIONS:
            if number in done:
                continue
            with db.atomic():
                fn(db)
                SchemaVersion.create(version=number, name=name, applied_at=datetime.now(UTC))
            log.info("applied migration %04d %s", number, name)
        return max([n for n, _, _ in MIGRATIONS] + list(done))


@contextmanager
def bound(db: Database) -> Iterator[Database]:
    with db.bind_ctx(all_models()):
        yield db
