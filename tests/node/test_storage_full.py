"""A full disk is a refusal a client can act on (RELIABILITY F20, issue 14): a write the
database cannot grow for is answered 503 ``storage_full`` with ``Retry-After`` in the one JSON
error shape, stores nothing, and logs one line without a traceback — once a minute, not once
per request. The real-process test (a full tmpfs under ``serve``) is
``tests/process/test_full_disk.py``; here SQLite's ``max_page_count`` fills the database.
"""
from __future__ import annotations

import errno
import logging
import sqlite3

import pytest
from peewee import OperationalError

from node import db as node_db
from node.db import is_storage_full, note_storage_full


def _real_sqlite_full() -> sqlite3.OperationalError:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    try:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("max_page_count did not stop the insert")


def test_sqlite_full_is_recognised_even_under_the_failed_rollback_that_hides_it():
    full = _real_sqlite_full()
    assert full.sqlite_errorcode == 13
    assert is_storage_full(full)
    # what peewee raises when SQLite already rolled the failed COMMIT back
    try:
        try:
            raise full
        except sqlite3.OperationalError:
            raise OperationalError("cannot rollback - no transaction is active") from None
    except OperationalError as outer:
        hidden = outer
    hidden.__context__ = full     # `from None` only hides it from the printout
    assert is_storage_full(hidden)


def test_other_database_errors_are_not_a_full_disk():
    assert not is_storage_full(OperationalError("database is locked"))
    assert not is_storage_full(OperationalError("cannot rollback - no transaction is active"))
    assert not is_storage_full(None)

    class PgError(Exception):
        pgcode = "53100"          # PostgreSQL's disk_full

    assert is_storage_full(PgError("could not extend file"))
    assert is_storage_full(OSError(errno.ENOSPC, "No space left on device"))   # the replication sidecar
    assert not is_storage_full(OSError(errno.EACCES, "Permission denied"))
    PgError.pgcode = "40001"
    assert not is_storage_full(PgError("serialization failure"))


def test_the_log_says_disk_full_once_a_minute_with_the_count(caplog):
    class Db:
        pass

    caplog.set_level(logging.ERROR, logger="node.db")
    db = Db()
    for _ in range(5):
        note_storage_full(db, "POST /api/v1/cases")
    last, quiet = db._n12315_full_notice
    assert quiet == 4
    db._n12315_full_notice = (last - node_db.STORAGE_FULL_NOTICE_S - 1, quiet)   # a minute later
    note_storage_full(db, "job db.checkpoint")
    lines = [r for r in caplog.records if r.name == "node.db"]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert "storage full" in lines[0].getMessage() and "存储空间已满" in lines[0].getMessage()
    assert "5 refusal(s) since the last notice" in lines[1].getMessage()   # four kept quiet, and this one
    assert "job db.checkpoint" in lines[1].getMessage()


# max_page_count is SQLite's; PostgreSQL's disk_full is recognised by its SQLSTATE above
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_intake_on_a_full_database_is_503_storage_full_stores_nothing_and_recovers(app_client, caplog):
    node = app_client.node
    body = {"kind": "complaint", "channel": "phone", "category": "S0304", "summary": "满盘 / full",
            "description": "说明" * 2000,
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": "某商户", "region_code": "440305", "address": ""}}
    app_client.token("intake")
    app_client.token("handler")
    before = app_client.count_rows()
    caplog.set_level(logging.INFO)
    with node.activate():
        pages = node.db.execute_sql("PRAGMA page_count").fetchone()[0]
        node.db.execute_sql(f"PRAGMA max_page_count = {pages}")
    try:
        resp = app_client.post("/api/v1/cases", json=body)
    finally:
        with node.activate():
            node.db.execute_sql("PRAGMA max_page_count = 1073741823")
    assert resp.status_code == 503, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == "storage_full"
    assert resp.get_json()["error"]["message"].startswith("存储空间（磁盘）已满")
    assert resp.headers["Retry-After"] == str(node.config.replication.retry_after_s)
    assert app_client.count_rows() == before, "nothing is stored on a refusal"
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log for a full disk"
    assert any("storage full" in r.getMessage() for r in caplog.records)
    # space returns: the same connection writes again (no wedged transaction or write lock)
    again = app_client.post("/api/v1/cases", json=body)
    assert again.status_code == 201, again.get_data(as_text=True)[:300]


def test_after_sqlite_rolled_the_transaction_back_no_later_savepoint_is_committed(tmp_path):
    """Intake's group commit runs each caller's write in a savepoint and catches its error. On
    ``SQLITE_FULL`` SQLite drops the whole transaction: the next caller's savepoint would open a
    transaction of its own and commit on ``RELEASE`` — stored, while its caller is told it
    failed. ``write_tx`` refuses it, and the outer transaction names the full disk."""
    from peewee import SqliteDatabase

    from federation.storage import TransactionLost, write_tx

    db = SqliteDatabase(str(tmp_path / "t.db"), pragmas={"journal_mode": "wal"})
    db.execute_sql("CREATE TABLE t (x BLOB)")
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    db.execute_sql(f"PRAGMA max_page_count = {pages}")
    errors: list[BaseException] = []
    with pytest.raises(TransactionLost) as outer, write_tx(db):
        for size in (100_000, 10):       # the first caller's write fills the database
            try:
                with write_tx(db):
                    db.execute_sql("INSERT INTO t VALUES (zeroblob(?))", (size,))
            except OperationalError as exc:
                errors.append(exc)
            db.execute_sql("PRAGMA max_page_count = 1073741823")   # space is back at once
    assert is_storage_full(outer.value)
    assert len(errors) == 2 and isinstance(errors[1], TransactionLost)
    assert db.execute_sql("SELECT count(*) FROM t").fetchone()[0] == 0, "nothing stored after a refusal"
    with write_tx(db):                       # and the next transaction works
        db.execute_sql("INSERT INTO t VALUES (zeroblob(10))")
    assert db.execute_sql("SELECT count(*) FROM t").fetchone()[0] == 1
    db.close()


def test_a_job_that_meets_a_full_disk_logs_one_line_and_no_traceback(tmp_path, make_node, caplog):
    from node import jobs

    node = make_node(tmp_path)

    def fills_up(_node):
        raise OperationalError("database or disk is full")

    caplog.set_level(logging.INFO)
    run = jobs._wrap(node, "replication.push", fills_up)
    run()
    run()                                      # the next run, seconds later: quiet
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "storage full" in m]) == 1 and "job replication.push" in lines[0]
    assert not any(r.exc_info for r in caplog.records)
    assert jobs.job_runs(node)["replication.push"]["failures"] == 2
