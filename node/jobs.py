"""Background jobs of ``serve`` — wiring only (STYLE.md "node/jobs.py").

Plain functions are put on APScheduler 3.x with ``id=``, ``max_instances=1`` and
``coalesce=True``, each wrapped in ``node.activate()`` and ``logger.exception`` so a
failing job logs and runs again next time (a busy database: one line naming the job, no
traceback; a full disk: one line a minute, F20). Only ``serve`` starts the scheduler; tests call
the functions directly. ``node.domains.install`` adds each domain's jobs to ``JOB_FACTORIES``.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from peewee import OperationalError

from node.db import is_storage_full, note_storage_full
from node.runtime import Node

log = logging.getLogger(__name__)

# (job id, interval seconds from the node's config, function taking the node)
JobSpec = tuple[str, Callable[[Node], float], Callable[[Node], object]]
JOB_FACTORIES: list[Callable[[Node], list[JobSpec]]] = []


def _wrap(node: Node, job_id: str, fn: Callable[[Node], object]) -> Callable[[], None]:
    def run() -> None:
        started, ok = time.monotonic(), False
        try:
            with node.activate():
                fn(node)
            ok = True
        except Exception as exc:
            if is_storage_full(exc):   # F20: one line a minute, not a traceback per run
                note_storage_full(node.db, f"job {job_id}")
            elif isinstance(exc, OperationalError) and is_busy(exc):
                # issue 14: contention, not a bug in the job — one line naming it, no traceback;
                # the job runs again at its next interval
                log.error("job %s failed: database busy (%s); it runs again next time", job_id, exc)
            else:
                log.exception("job %s failed", job_id)
        finally:
            record_run(node, job_id, time.monotonic() - started, ok)
    return run


def is_busy(exc: OperationalError) -> bool:
    """SQLite's SQLITE_BUSY / SQLITE_LOCKED (``database is locked``, ``database table is
    locked``) after its busy timeout, or PostgreSQL's lock timeout."""
    text = str(exc)
    return "is locked" in text or "could not obtain lock" in text


_RUNS_LOCK = threading.Lock()


def record_run(node: Node, job_id: str, duration_s: float, ok: bool) -> None:
    """Keep the last run of each job in ``node.extras["job_runs"]`` for ``/metrics`` (issue 14
    "Seen from outside": job durations). In memory on purpose: jobs run only in ``serve``'s one
    process, and a restart starting from zero is what Prometheus expects of a counter."""
    at = node.now().timestamp()
    with _RUNS_LOCK:
        runs = node.extras.setdefault("job_runs", {})
        row = runs.setdefault(job_id, {"runs": 0, "failures": 0, "last_duration_s": 0.0,
                                       "last_success_at": None, "last_failure_at": None})
        row["runs"] += 1
        row["last_duration_s"] = duration_s
        if ok:
            row["last_success_at"] = at
        else:
            row["failures"] += 1
            row["last_failure_at"] = at


def job_runs(node: Node) -> dict[str, dict]:
    """A copy of what ``record_run`` kept: job id → runs, failures, last duration and times."""
    with _RUNS_LOCK:
        return {k: dict(v) for k, v in node.extras.get("job_runs", {}).items()}


def specs(node: Node) -> list[JobSpec]:
    from node.db import analyze, checkpoint
    out: list[JobSpec] = [("db.checkpoint", lambda n: 2.0, lambda n: checkpoint(n.db)),
                          ("db.analyze", lambda n: 6 * 3600.0, lambda n: analyze(n.db))]
    for factory in JOB_FACTORIES:
        out.extend(factory(node))
    return out


def start(node: Node) -> BackgroundScheduler:
    # "skipped: maximum number of running instances reached" is expected when a kick meets
    # a running push; it is not an operator's concern
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler = BackgroundScheduler(timezone="Asia/Shanghai", job_defaults={"misfire_grace_time": 30})
    for job_id, interval, fn in specs(node):
        scheduler.add_job(_wrap(node, job_id, fn), "interval", seconds=max(0.5, interval(node)), id=job_id,
                          max_instances=1, coalesce=True)
        # catch-up starts at boot (rule 1): run every job once right away
        scheduler.add_job(_wrap(node, job_id, fn), id=f"{job_id}-boot", max_instances=1)
    scheduler.start()
    node.extras["wake"] = lambda job_id: _kick(scheduler, job_id) if scheduler.get_job(job_id) else None
    if scheduler.get_job("replication.push") is not None:
        def kick() -> None:
            node.extras["push_dirty"] = True
            _kick(scheduler, "replication.push")
        node.extras["kick"] = kick
    return scheduler


def _kick(scheduler: BackgroundScheduler, job_id: str) -> None:
    """Run a job now instead of at its next interval: a committed change pushes at once
    (a case routed at the province reaches the county in milliseconds, not seconds)."""
    from datetime import datetime
    try:
        scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
    except Exception:  # the scheduler is shutting down: the next start catches up
        log.debug("kick of %s skipped", job_id, exc_info=True)


def stop(scheduler: BackgroundScheduler) -> None:
    scheduler.shutdown(wait=True)
