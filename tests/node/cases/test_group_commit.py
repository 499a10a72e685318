"""Intake's group commit (issue 15 item 1): concurrent intakes share one commit, yet each case
is stored whole or not at all and no caller hears of a case that was not stored.

Every test runs on SQLite and on PostgreSQL (the ``db_url`` parametrization in tests/conftest.py).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

import node.cases as svc
from node.cases import Actor, intake
from node.cases.models import Case, DayCounter
from node.db import write_tx
from node.errors import NodeError, invalid
from tests.conftest import count_rows
from tests.node.cases.examples import complaint

INTAKE = Actor("i1", "intake")


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path, "county", "440305")
    with n.activate():
        yield n


def in_threads(node, works):
    """Run each callable in its own thread (bound to ``node``); (results, errors) by index."""
    results, errors = {}, {}

    def run(i, work):
        with node.activate():
            try:
                results[i] = work()
            except Exception as exc:
                errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


def one_batch(node, works):
    """Queue every work before any runs: the group commit takes them all in one turn."""
    group = intake.group_of(node.db)
    group.turn.acquire()
    try:
        out = {}
        runner = threading.Thread(target=lambda: out.update(
            zip(("results", "errors"), in_threads(node, [lambda w=w: group.run(node.db, w) for w in works]),
                strict=True)))
        runner.start()
        deadline = time.monotonic() + 10
        while len(group.pending) < len(works) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(group.pending) == len(works)
    finally:
        group.turn.release()
    runner.join(30)
    return out["results"], out["errors"]


def counter(scope):
    def work():
        DayCounter.insert(scope=scope, day="20260930", value=1).execute()
        return scope
    return work


def test_concurrent_intakes_are_all_stored_with_distinct_ids(node):
    results, errors = in_threads(node, [lambda: svc.create_case(node, complaint(), INTAKE)] * 12)
    assert errors == {}
    ids = sorted(r["id"] for r in results.values())
    assert len(set(ids)) == 12
    day = ids[0].split("-")[1]
    assert ids == [f"440305-{day}-{n:06d}" for n in range(1, 13)]
    assert count_rows(node)["case"] == 12
    for case_id in ids:
        assert svc.read_case(node, case_id, Actor("h1", "handler"))["history"][0]["action"] == "register"


def test_a_failing_write_in_a_group_is_undone_alone(node):
    def failing():
        DayCounter.insert(scope="bad", day="20260930", value=1).execute()
        raise invalid("summary", "refused after writing")

    results, errors = one_batch(node, [counter("a"), failing, counter("b")])
    assert sorted(results.values()) == ["a", "b"]
    assert list(errors) == [1] and isinstance(errors[1], NodeError) and errors[1].field == "summary"
    assert sorted(r.scope for r in DayCounter.select()) == ["a", "b"]


def test_a_failed_commit_reaches_every_caller_and_stores_nothing(node, monkeypatch):
    real = intake.write_tx
    depth = [0]

    @contextmanager
    def commit_fails(db):
        outer = depth[0] == 0
        depth[0] += 1
        try:
            with real(db):
                yield
                if outer:
                    raise OSError("disk I/O error")   # as a failing fsync at COMMIT: rolled back
        finally:
            depth[0] -= 1

    monkeypatch.setattr(intake, "write_tx", commit_fails)
    results, errors = one_batch(node, [counter("a"), counter("b"), counter("c")])
    assert results == {}
    assert sorted(errors) == [0, 1, 2] and all(isinstance(e, OSError) for e in errors.values())
    assert DayCounter.select().count() == 0


def test_an_intake_inside_a_callers_transaction_commits_or_rolls_back_with_it(node):
    with pytest.raises(RuntimeError), write_tx(node.db):
        svc.create_case(node, complaint(), INTAKE)
        raise RuntimeError("the caller's later step fails")
    assert Case.select().count() == 0
    with write_tx(node.db):
        case = svc.create_case(node, complaint(), INTAKE)
    assert Case.get(Case.case_id == case["id"]).status == "registered"
