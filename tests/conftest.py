"""Shared fixtures: nodes built the way operators build them, on SQLite and on PostgreSQL.

* ``db_url`` — parametrized ``sqlite`` / ``postgresql``: every test that builds a node through
  ``make_node`` (or ``app_client``) runs on both databases. SQLite gives ``None`` (the node's
  default file in its home). PostgreSQL needs ``N12315_TEST_PG``
  (e.g. ``postgresql://postgres@127.0.0.1:5432/test``); each node gets its own
  ``?schema=t_<random>``, dropped (``DROP SCHEMA … CASCADE``) at teardown. Without the
  variable, or with the server unreachable, the PostgreSQL half is skipped with the reason.
* ``clock`` — a ``FakeClock`` (aware UTC datetimes), 2026-09-30 09:00 Asia/Shanghai unless a
  test moves it; inject it into nodes so time moves only when a test says so.
* ``make_node(tmp_path, level="county", code="440305", *, name=None, url=None, clock=None,
  db_url=<the parametrized one>) -> Node`` — ``node.home.init_home`` exactly as
  ``n12315 init`` calls it; closes every node (and drops its PostgreSQL schema) at teardown.
* ``app_client`` — an ``ApiClient`` over a county node 440305 (``.node``, ``.app``,
  ``.client``, ``.clock``, ``.token(role)``, ``.get/.post(path, role=…)``); users are added
  with the same service ``n12315 user add`` uses.
* ``count_rows(node, *models) -> dict`` — row counts, to prove "nothing stored on any error".
"""
from __future__ import annotations

import functools
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# The in-process harness names its nodes http://<code>.test (RFC 6761 names that resolve nowhere):
# a closed test network, which a node accepts as peers only when told so (node/network/peers.py;
# tests/node/network/test_peers.py turns it off again to see the refusal).
os.environ.setdefault("N12315_HTTP__ALLOW_HTTP_PEERS", "true")

PG_ENV = "N12315_TEST_PG"
DEFAULT_NOW = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class FakeClock:
    """A settable clock: ``clock()`` returns the current fake time (aware, UTC)."""

    def __init__(self, now: datetime = DEFAULT_NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.now = now.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


# -- PostgreSQL ------------------------------------------------------------------------------
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_base() -> str | None:
    """The test server: ``N12315_TEST_PG``, else the CI server at 127.0.0.1:5432 when it
    answers; ``N12315_TEST_PG=none`` runs SQLite only."""
    raw = os.environ.get(PG_ENV, DEFAULT_PG).strip()
    if not raw or raw.lower() == "none":
        return None
    parts = urlsplit(raw)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def in_ci() -> bool:
    """``CI=true`` (the CI runner sets it): nothing that CI must run may skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@functools.cache
def pg_unavailable_reason() -> str | None:
    """None when the test server answers; else why the PostgreSQL half is skipped."""
    base = _pg_base()
    if base is None:
        return f"PostgreSQL runs disabled ({PG_ENV}=none)"
    try:
        import psycopg2
        conn = psycopg2.connect(base, connect_timeout=3)
        conn.close()
    except Exception as exc:  # noqa: BLE001 - any failure means: skip with the reason
        return f"PostgreSQL not reachable at {base}: {str(exc).strip().splitlines()[0]}"
    return None


def new_pg_url(*, reuse: bool = True) -> str:
    """A schema on the test server for one node: an emptied one this worker used before
    (``reuse``), else a fresh name (created lazily by the node's migration).

    Why reuse: creating a node's ~80 tables and dropping them again cost about a second per
    PostgreSQL node and bloated the server's catalogue over a run (pg_attribute grew past
    250 MB); emptying the rows of a schema already at the latest migration costs a few
    milliseconds and leaves ``init`` the same work as on a fresh server whose tables exist
    (the path ``node.home`` documents for an external database)."""
    base = _pg_base()
    assert base is not None
    if reuse and _PG_POOL:
        return _PG_POOL.pop()
    return f"{base}?schema=t_{secrets.token_hex(6)}"


_PG_POOL: list[str] = []         # emptied schemas at the latest migration, this process's own
_PG_SHAPE: list[tuple] = []      # the shape (tables, columns, indexes) of a fully migrated schema


def _schema_of(url: str) -> str:
    return urlsplit(url).query.split("schema=", 1)[1].split("&", 1)[0]


def _pg_connect(url: str):
    import psycopg2
    parts = urlsplit(url)
    return psycopg2.connect(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), connect_timeout=5)


def _shape(cur, schema: str) -> tuple:
    """Tables, columns (with types) and indexes of ``schema``, from the catalogue."""
    cur.execute("SELECT c.relkind, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                "FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
                "AND NOT a.attisdropped WHERE c.relnamespace = %s::regnamespace "
                "ORDER BY 1, 2, 3", (schema,))
    return tuple(cur.fetchall())


def _latest_migration() -> int:
    from node.migrations import MIGRATIONS
    return max(number for number, _, _ in MIGRATIONS)


def _reference_shape(cur) -> tuple:
    """The shape of a schema made by the migrations alone (once per process)."""
    if not _PG_SHAPE:
        base = _pg_base()
        assert base is not None
        url = f"{base}?schema=t_{secrets.token_hex(6)}"
        from node import db as dbmod
        from node import domains, migrations
        from node.privacy import keys as data_keys
        domains.install()
        db = dbmod.open_database(url)
        # migration 13 wants a data key bound; the reference holds no row it would encrypt
        data_keys.bind_keyring(db, data_keys.load_keyring(Path(tempfile.mkdtemp(prefix="n12315-ref-")),
                                                          create=True))
        try:
            migrations.migrate(db)
        finally:
            db.close()
        _PG_SHAPE.append(_shape(cur, _schema_of(url)))
        cur.execute(f'DROP SCHEMA IF EXISTS "{_schema_of(url)}" CASCADE')
    return _PG_SHAPE[0]


def _empty_for_reuse(cur, schema: str) -> bool:
    """Empty ``schema`` for the next node when it is exactly what the migrations make; False
    (the caller drops it) when a test changed its shape or left it half migrated."""
    cur.execute("SELECT to_regclass(%s)", (f'"{schema}".schema_version',))
    if cur.fetchone()[0] is None:
        return False
    cur.execute(f'SELECT max(version) FROM "{schema}".schema_version')
    if cur.fetchone()[0] != _latest_migration():
        return False
    if _shape(cur, schema) != _reference_shape(cur):
        return False
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'schema_version'",
                (schema,))
    tables = [r[0] for r in cur.fetchall()]
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")   # no FK order needed
    for table in tables:
        cur.execute(f'DELETE FROM "{schema}"."{table}"')
    # pg_class, not the pg_sequences view: the view reads every sequence of the database
    # (0.25 s here, paid per node of every PostgreSQL test)
    cur.execute("SELECT setval(c.oid, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = %s::regnamespace", (schema,))
    cur.execute("COMMIT")
    return True


def drop_pg_schema(url: str) -> None:
    """Give a node's schema back: emptied into this worker's pool when it is intact, dropped
    otherwise (and every pooled schema is dropped when the session ends)."""
    schema = _schema_of(url)
    conn = _pg_connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # outside the try: a reference that cannot be built is a fault of this file, not a
            # reason to drop every schema (it once made the pool silently useless, ~5 s a test)
            _reference_shape(cur)
            try:
                reusable = _empty_for_reuse(cur, schema)
            except Exception:  # noqa: BLE001 - any doubt: drop it, a fresh one is always right
                cur.execute("ROLLBACK")
                reusable = False
            if reusable:
                if url not in _PG_POOL:
                    _PG_POOL.append(url)
            else:
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()


def pytest_sessionfinish(session, exitstatus):
    """Drop the schemas this worker kept for reuse."""
    while _PG_POOL:
        url = _PG_POOL.pop()
        conn = _pg_connect(url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{_schema_of(url)}" CASCADE')
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    """``"sqlite"`` or ``"postgresql"`` (skipped with the reason when the server is absent)."""
    if request.param == "postgresql":
        reason = pg_unavailable_reason()
        if reason:
            if in_ci():   # CI must run every database test: a missing server fails the run
                pytest.fail(f"CI=true and the PostgreSQL half cannot run: {reason}")
            pytest.skip(reason)
    return request.param


@pytest.fixture
def db_url(db_backend: str) -> Iterator[str | None]:
    """A database URL for one node: None (SQLite in the home) or a fresh PostgreSQL schema."""
    if db_backend == "sqlite":
        yield None
        return
    url = new_pg_url(reuse=False)    # tests given a bare URL may migrate it themselves
    yield url
    drop_pg_schema(url)


# -- nodes -----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


_UNSET: Any = object()


@pytest.fixture
def make_node(db_backend: str, clock: FakeClock) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_node(tmp_path, level="county", code="440305", *, name=None, url=None,
    clock=None, db_url=<backend default>)`` → an opened ``Node`` made by ``init_home``."""
    from tests.fastinit import init_node

    made: list[tuple[Any, str | None]] = []

    def factory(tmp_path: Path, level: str = "county", code: str = "440305", *,
                name: str | None = None, url: str | None = None, clock: Any = None,
                db_url: Any = _UNSET) -> Any:
        home = Path(tmp_path) / f"home-{code}"
        n = 1
        while home.exists():
            n += 1
            home = Path(tmp_path) / f"home-{code}-{n}"
        if db_url is _UNSET:
            db_url = new_pg_url() if db_backend == "postgresql" else None
        node = init_node(home, level=level, code=code, name=name or f"测试节点 {code}",
                         url=url or f"http://{code}.test", db_url=db_url,
                         clock=clock or default_clock)
        made.append((node, db_url))
        return node

    default_clock = clock
    yield factory
    for node, url in made:
        node.close()
        if url and url.startswith("postgres"):
            drop_pg_schema(url)


def count_rows(node: Any, *models: Any) -> dict[str, int]:
    """``{table name: rows}`` for each model (default: the case tables)."""
    if not models:
        from node.cases.models import Case, CaseEvent, DayCounter
        models = (Case, CaseEvent, DayCounter)
    out = {}
    with node.activate():
        for model in models:
            out[model._meta.table_name] = model.select().count()
        from node.db import is_sqlite
        if is_sqlite(node.db):
            out["case_search"] = node.db.execute_sql("SELECT count(*) FROM case_search").fetchone()[0]
    return out


class ApiClient:
    """A node's Flask test client with one user per role (tokens made on first use)."""

    def __init__(self, node: Any, clock: FakeClock):
        from node.app import create_app
        self.node = node
        self.clock = clock
        self.app = create_app(node)
        self.client = self.app.test_client()
        self._tokens: dict[str, str] = {}

    def token(self, role: str) -> str:
        if role not in self._tokens:
            from node.accounts import service as users
            with self.node.activate():
                self._tokens[role] = users.add_user(f"{role}1", role, self.node.now())
        return self._tokens[role]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.token(role)}"}

    def get(self, path: str, role: str | None = "handler", **kw: Any):
        return self.client.get(path, headers=self.headers(role), **kw)

    def post(self, path: str, json: Any = None, role: str | None = "intake", **kw: Any):
        headers = {**self.headers(role), **kw.pop("headers", {})}
        if json is not None:
            kw["json"] = json
        return self.client.post(path, headers=headers, **kw)

    def count_rows(self) -> dict[str, int]:
        return count_rows(self.node)


@pytest.fixture
def app_client(tmp_path: Path, make_node: Callable[..., Any], clock: FakeClock) -> ApiClient:
    """A county node (440305, 深圳市南山区) behind its Flask test client."""
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return ApiClient(node, clock)


def pytest_collection_modifyitems(session, config, items):
    """Longest files first. ``make test`` hands whole files to two workers in collection
    order (``--dist loadfile``); the real-process files (minutes each, mostly waiting on
    their servers) and the multi-node files then start at once and the many short files fill
    the gaps, instead of one long file running alone at the end. The order inside a file
    is unchanged (the real-process tests share one cluster and run in order)."""
    def weight(item) -> int:
        path = str(item.fspath)
        for i, name in enumerate(LONGEST_FILES):
            if path.endswith(name):
                return i
        if "/tests/network/" in path:
            return len(LONGEST_FILES)
        return len(LONGEST_FILES) + 1
    items.sort(key=weight)   # stable: files and tests keep their order within a weight


#: measured with ``--junitxml`` of a whole CI run (SQLite + PostgreSQL), longest first. ``make test``
#: passes ``--no-loadscope-reorder``: xdist otherwise re-sorts files by their number of tests,
#: which put the few-but-long real-process files at the very end of the run.
LONGEST_FILES = ("tests/network/test_case_routing.py", "tests/network/test_replication_faults.py",
                 "tests/process/test_real_cluster.py", "tests/network/test_sealing.py",
                 "tests/network/test_stats.py", "tests/network/test_directives.py",
                 "tests/test_contract_forms.py",
                 "tests/process/test_demo_logs.py",   # the whole `n12315 demo --check` (issue 13 item 6)
                 "tests/node/stats/test_freshness.py", "tests/node/test_hardening_outside.py",
                 "tests/process/test_case_routing_process.py", "tests/node/stats/test_pages.py",
                 "tests/process/test_public_path.py", "tests/browser/test_desk_flow.py",
                 # issue 12/13/16 files that start processes or build a wheel: early, not in the tail
                 "tests/ops/test_package.py", "tests/ops/test_operations_manual.py",
                 "tests/ops/test_backup_restore.py", "tests/ops/test_service_doctor_migrate.py",
                 "tests/test_cli_audit.py", "tests/browser/test_public_portal.py",
                 "tests/node/open311/test_clients.py", "tests/node/open311/test_cli.py",
                 "tests/process/test_full_disk.py")
