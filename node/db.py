"""The database behind one layer: open SQLite or PostgreSQL, migrate, write transactions.

SQLite is the embedded default (WAL, ``synchronous=FULL`` so an acknowledged document is on
disk — RELIABILITY rule 6, F7); PostgreSQL runs the same code. A ``?schema=NAME`` query
parameter on a PostgreSQL URL puts the node in its own schema, which lets many nodes share
one server (the test suite, small deployments).

Migrations are numbered, recorded in ``schema_version`` from the first release, and run
at ``init`` and at every start (idempotent).
"""
from __future__ import annotations

import errno
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
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


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database)."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    path = unquote(parsed.path)
    if url.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    return Path(path) if path else None


def checkpoint(db: Database) -> None:
    """Move the WAL into the database file without blocking writers (SQLite only)."""
    if is_sqlite(db):
        db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")


SQLITE_FULL = 13              # "database or disk is full": the disk, or ``max_page_count``
PG_DISK_FULL = "53100"        # PostgreSQL's disk_full
STORAGE_FULL_NOTICE_S = 60.0  # the log says "disk full" once a minute, not once per refusal


def is_storage_full(exc: BaseException | None) -> bool:
    """Did a write fail because the disk or the database cannot grow (RELIABILITY F20)? SQLite's
    SQLITE_FULL, PostgreSQL's disk_full, or ``ENOSPC``/``EDQUOT`` from a file of the home (the
    replication sidecar is written before a batch leaves). The whole chain is looked at: a
    COMMIT that fails with SQLITE_FULL leaves SQLite's transaction rolled back, so peewee's own
    rollback then raises "no transaction is active" over the real cause."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "sqlite_errorcode", None)
        if (isinstance(code, int) and code & 0xFF == SQLITE_FULL) or getattr(exc, "pgcode", None) == PG_DISK_FULL:
            return True
        if "database or disk is full" in str(exc):   # peewee's wrapper of the same error
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_NOTICE_LOCK = threading.Lock()


def note_storage_full(db: Database, what: str) -> None:
    """Log that ``what`` was refused for a full disk: one line without a traceback, at most once
    a minute per database with the number of refusals since (a full disk refuses every write;
    a traceback per request would bury the one line an operator needs)."""
    now = time.monotonic()
    with _NOTICE_LOCK:
        last, count = getattr(db, "_n12315_full_notice", (None, 0))
        count += 1
        if last is not None and now - last < STORAGE_FULL_NOTICE_S:
            db._n12315_full_notice = (last, count)  # type: ignore[attr-defined]
            return
        db._n12315_full_notice = (now, 0)  # type: ignore[attr-defined]
    log.error("存储空间已满，写入被拒绝，腾出空间后自动恢复 / storage full (database or disk is full): %s refused; "
              "%d refusal(s) since the last notice; writes resume by themselves once space returns", what, count)


def analyze(db: Database) -> None:
    """Give SQLite's planner table statistics (a full ``ANALYZE``: a sampled one left the home
    page's counts on the wrong index; at 100,000 cases it takes well under a second).

    Without them SQLite picks the index of the first equality it sees: at 100,000 cases the
    supervision page chose ``handling_node`` over ``next_due`` and scanned nearly every case
    (250–460 ms; 50–100 ms once analysed). PostgreSQL's autovacuum keeps its own statistics."""
    if is_sqlite(db):
        with write_tx(db):
            db.execute_sql("PRAGMA analysis_limit=0")
            db.execute_sql("ANALYZE")


def stored_time(value: object) -> datetime | None:
    """A time as the database hands it back — naive UTC from a column, SQLite text from an
    aggregate, or already aware — as an aware UTC datetime (None stays None). The one reader
    of stored times, so no domain carries its own copy of the same three cases."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_sqlite(db: Database) -> bool:
    return isinstance(db, SqliteDatabase)




def ensure_schema(db: Database) -> None:
    """Create the PostgreSQL schema named in the URL (no-op on SQLite)."""
    schema = getattr(db, "_n12315_schema", None)
    if schema:
        db.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


# Every table of a node, in creation order. Filled once by ``node.domains.install()``, the
# one module that names every domain: this layer knows tables, not what a case is.
_TABLES: list[type[BaseModel]] = []


def register_tables(*groups: list[type[BaseModel]]) -> None:
    """Add tables to the node's schema (idempotent; ``node.domains.install`` calls it)."""
    if not _TABLES:
        _TABLES.append(SchemaVersion)
    for group in groups:
        for model in group:
            if model not in _TABLES:
                _TABLES.append(model)


def all_models() -> list[type[BaseModel]]:
    """Every table of a node, in creation order (the list is bound per request)."""
    if len(_TABLES) < 2:
        raise RuntimeError("no tables registered: node.domains.install() was not called")
    return _TABLES


Migration = tuple[int, str, Callable[[Database], None]]


def migrate(db: Database, migrations: list[Migration]) -> int:
    """Apply pending ``migrations`` (``node.migrations.MIGRATIONS``); return the schema version
    now in force."""
    with db.bind_ctx([SchemaVersion]):
        ensure_schema(db)
        db.create_tables([SchemaVersion], safe=True)
        done = {row.version for row in SchemaVersion.select()}
        for number, name, fn in migrations:
            if number in done:
                continue
            with db.atomic():
                fn(db)
                SchemaVersion.create(version=number, name=name, applied_at=datetime.now(UTC))
            log.info("applied migration %04d %s", number, name)
        return max([n for n, _, _ in migrations] + list(done))


@contextmanager
def bound(db: Database) -> Iterator[Database]:
    with db.bind_ctx(all_models()):
        yield db
