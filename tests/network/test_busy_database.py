"""Issue 14 "database is locked" in the demo's serve logs: the replication jobs wrote while
their own list of links was still being read, and failed at once when a request thread had
committed meanwhile (a stale WAL snapshot gets SQLITE_BUSY without the busy timeout).

The test commits from another thread between the job's read of its links and its first
write — what a waitress thread taking in a case does in ``serve`` — and the push must still
deliver. And a job that does meet a busy database logs one line naming it, no traceback.
"""
from __future__ import annotations

import logging
import threading

import pytest
from peewee import OperationalError

from federation.models import LocalState
from federation.storage import write_tx
from node import jobs
from node.network import sync_jobs
from replication import sender
from tests.network import notes
from tests.network.conftest import build
from tests.network.harness import Network

PREFECTURE, COUNTY, STATION = "440300", "440305", "440305001"


def commit_from_another_thread(node) -> None:
    """A write by another connection of the same node, as a request thread's would be."""
    def write() -> None:
        with node.activate(), write_tx(node.db):
            LocalState.put("busy-test", str(int(LocalState.get_value("busy-test", "0") or 0) + 1))
    t = threading.Thread(target=write)
    t.start()
    t.join(30)
    assert not t.is_alive()


def note_count(node, note_id: str) -> int:
    with node.activate():
        return int(LocalState.get_value(f"note:{note_id}", "0") or 0)


@pytest.fixture
def chain(tmp_path, seed, network_db_url):
    """Prefecture, county, station: the county has two links, its parent's first. The push
    to the parent then runs while the county's list of links still has a row to read (one
    row read to the end releases the snapshot before anything is written)."""
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    build(net, [("prefecture", PREFECTURE), ("county", COUNTY), ("station", STATION)],
          {COUNTY: PREFECTURE, STATION: COUNTY})
    yield net
    net.close()


def test_push_round_delivers_when_a_request_commits_between_its_read_and_its_write(chain, monkeypatch):
    county = chain.nodes[COUNTY]
    note = notes.send(county, PREFECTURE, 1)
    real_push = sender.push

    def push_after_a_commit(rep, code, channel, **kw):
        commit_from_another_thread(county)
        return real_push(rep, code, channel, **kw)

    monkeypatch.setattr(sender, "push", push_after_a_commit)
    with county.activate():
        sync_jobs.push_round(county)
    assert note_count(chain.nodes[PREFECTURE], note) == 1


@pytest.mark.parametrize("message", ["database is locked", "database table is locked"])
def test_a_job_meeting_a_busy_database_logs_one_line_naming_it(pair, caplog, message):
    county = pair.nodes[COUNTY]

    def busy(node):
        raise OperationalError(message)

    with caplog.at_level(logging.INFO, logger="node.jobs"):
        jobs._wrap(county, "test.busy", busy)()
    records = [r for r in caplog.records if r.name == "node.jobs"]
    assert [(r.levelname, r.exc_info) for r in records] == [("ERROR", None)], records
    assert "test.busy" in records[0].getMessage() and message in records[0].getMessage()
    assert jobs.job_runs(county)["test.busy"]["failures"] == 1


def test_any_other_job_failure_keeps_its_traceback(pair, caplog):
    county = pair.nodes[COUNTY]

    def broken(node):
        raise OperationalError("no such table: nothing")

    with caplog.at_level(logging.INFO, logger="node.jobs"):
        jobs._wrap(county, "test.broken", broken)()
    records = [r for r in caplog.records if r.name == "node.jobs"]
    assert len(records) == 1 and records[0].exc_info is not None
    assert "test.broken" in records[0].getMessage()
