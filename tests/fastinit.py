"""``init_node``: ``node.home.init_home`` for the test fixtures, with a migrated template.

Every node a test builds used to run all the migrations on an empty database: about 0.2 s per
SQLite node, paid thousands of times a run (a seven-node network per harness test). Here the
migrations run once per worker process into a template file; a new SQLite node's empty database
receives the template's pages through SQLite's backup API, and ``init_home`` then finds every
migration applied and goes on exactly as it does for an operator (keys, identity, config).
PostgreSQL nodes get the same saving from the schema pool in ``tests/conftest.py``.

The migrations themselves keep their own tests (tests/node/test_migrations.py and the per-domain
migration tests), which call ``node.migrations.migrate`` directly and never go through here;
``init``'s own tests (tests/ops/test_init_atomic.py, the CLI tests) call the real thing too.
"""
from __future__ import annotations

import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_TEMPLATE: list[Path] = []
_ACTIVE = [0]


def _template() -> Path:
    if not _TEMPLATE:
        from node import db as dbmod
        from node import domains
        domains.install()
        path = Path(tempfile.mkdtemp(prefix="n12315-template-")) / "template.db"
        from node.privacy import keys as data_keys
        db = dbmod.open_database(f"sqlite:///{path}")
        # migration 13 wants a data key bound; the template holds no row it would encrypt
        data_keys.bind_keyring(db, data_keys.load_keyring(path.parent, create=True))
        try:
            _real_migrate(db)
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def _real_migrate(db: Any) -> int:
    return _ORIGINAL[0](db)     # installed before any template is made


_ORIGINAL: list[Any] = []


def _fast_migrate(db: Any) -> int:
    from node.db import is_sqlite
    if _ACTIVE[0] and is_sqlite(db):
        empty = db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        if empty:
            src = sqlite3.connect(str(_template()))
            try:
                src.backup(db.connection())
            finally:
                src.close()
    return _ORIGINAL[0](db)


def _install() -> None:
    if not _ORIGINAL:
        from node import migrations
        _ORIGINAL.append(migrations.migrate)
        migrations.migrate = _fast_migrate   # node.home calls it as ``migrations.migrate``


@contextmanager
def _active():
    _install()
    _ACTIVE[0] += 1
    try:
        yield
    finally:
        _ACTIVE[0] -= 1


def init_node(home: Path, **kw: Any):
    """``init_home(home, **kw)`` with the migrated template (SQLite) — same result, less time."""
    from node.home import init_home
    with _active():
        return init_home(home, **kw)
