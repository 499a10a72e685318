"""The rollup round and its state (R4.1 automatic aggregation, R8.2; RELIABILITY rules
17-18, F19): ``rollup`` runs, in order, the reconcile when due, the local rows, the pruning
of former children, the projections, the designations and the snapshots — as the scheduled
job ``stats.rollup`` and as ``n12315 stats push``. Also here: the handlers of the three
statistics documents, as ``node.domains`` installs them, and ``status``/``rejections``,
what the CLI and ``GET /api/v1/stats/status`` show of the rollup.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from node import jobs
from node.db import write_tx
from node.runtime import Node
from node.stats.common import (
    DOC_DESIGNATE,
    DOC_DIRECT,
    DOC_SNAPSHOT,
    STREAM_ROLLUP,
    as_date,
    check_params,
    db_time,
    is_designated,
    next_counter,
    show_time,
)
from node.stats.cube import mark_dirty, reconcile, reconcile_due, refresh_aggregates, refresh_local
from node.stats.direct import apply_designate, send_designations
from node.stats.forward import TICK_S, forward
from node.stats.forward import state as forward_state
from node.stats.models import (
    StatsDirty,
    StatsFirm,
    StatsMember,
    StatsOutbound,
    StatsRejection,
    StatsRow,
    StatsSnapshot,
    StatsState,
)
from node.stats.snapshots import apply_direct, apply_snapshot, send_snapshots
from node.web.paging import parse_limit
from replication import topology
from replication.registry import Registry

log = logging.getLogger(__name__)

REJECTION_KEEP_DAYS = 90


# -- the round -----------------------------------------------------------------------------------
def prune_unlinked(node: Node) -> list[str]:
    """Forget the figures of former children (revoked, or moved to another parent, F19): a
    subtree counts under its current parent only."""
    keep = set(topology.child_codes())
    origins = {r[0] for r in StatsSnapshot.select(StatsSnapshot.origin)
               .where(StatsSnapshot.stream == STREAM_ROLLUP).distinct().tuples()}
    gone = sorted(origins - keep)
    for code in gone:
        with write_tx(node.db):
            days = [as_date(r[0]) for r in StatsSnapshot.select(StatsSnapshot.day)
                    .where((StatsSnapshot.stream == STREAM_ROLLUP) & (StatsSnapshot.origin == code)).tuples()]
            StatsRow.delete().where(StatsRow.source == code).execute()
            StatsFirm.delete().where(StatsFirm.source == code).execute()
            StatsSnapshot.delete().where((StatsSnapshot.stream == STREAM_ROLLUP) & (StatsSnapshot.origin == code)).execute()
            StatsMember.delete().where(StatsMember.via == code).execute()
            next_counter(node, "members_gen")
            mark_dirty(node, days)
        log.warning("stats: %s is no longer a child; its figures were removed", code)
    return gone


def rollup(node: Node, *, full: bool = False) -> dict[str, Any]:
    """The scheduled rollup (and ``n12315 stats push``, and ``stats.forward``): local rows,
    projections, send — one round at a time per node."""
    with forward_state(node).lock:
        return _round(node, full)


def _round(node: Node, full: bool) -> dict[str, Any]:
    changed = reconcile(node) if full or reconcile_due(node) else []
    changed += refresh_local(node)
    pruned = prune_unlinked(node)
    days = refresh_aggregates(node)
    designations = send_designations(node)
    sent = send_snapshots(node)
    with write_tx(node.db):  # the record of ignored snapshots is kept for REJECTION_KEEP_DAYS
        StatsRejection.delete().where(StatsRejection.at < db_time(node.now() - timedelta(days=REJECTION_KEEP_DAYS))).execute()
    return {"local_days": len(set(changed)), "pruned": pruned, "rebuilt_days": days,
            "designations": designations, "sent": sent["parent"], "sent_direct": sent["direct"]}


# -- how the domain plugs into the node (node.domains) ---------------------------------------------
def job_specs(node: Node) -> list[jobs.JobSpec]:
    """The rollup every ``stats.rollup_interval_s`` seconds, and ``stats.forward`` (issue 15
    P6), which runs it ``stats.forward_debounce_s`` after a case or a child's snapshot
    arrives, so figures reach HQ in seconds, not intervals (``node/stats/forward.py``)."""
    return [("stats.rollup", lambda n: float(n.config.stats.rollup_interval_s), rollup),
            ("stats.forward", lambda n: TICK_S, forward)]


def register_handlers(node: Node, registry: Registry) -> None:
    """The statistics documents this node applies (``node.domains`` installs it)."""
    registry.register(DOC_SNAPSHOT, lambda d: apply_snapshot(node, d))
    registry.register(DOC_DIRECT, lambda d: apply_direct(node, d))
    registry.register(DOC_DESIGNATE, lambda d: apply_designate(node, d))


# -- state of the rollup -------------------------------------------------------------------------
def status(node: Node) -> dict[str, Any]:
    """What ``n12315 stats status`` shows: versions, backlog, designation, rejections."""
    rejections = [{"at": show_time(r.at), "kind": r.kind, "sender": r.sender, "origin": r.origin, "day": r.day,
                   "version": int(r.version), "code": r.code, "reason": r.reason}
                  for r in StatsRejection.select().order_by(StatsRejection.id.desc()).limit(50)]
    return {
        "code": node.code,
        "version": int(StatsState.get_value("version", "0") or 0),
        "last_sent_at": show_time(StatsState.get_value("last_sent_at")),
        "refreshed_at": show_time(StatsState.get_value("refreshed_at")),
        "reconciled_at": show_time(StatsState.get_value("reconciled_at")),
        "direct_report_point": is_designated(),
        "pending_days": {t: StatsOutbound.select().where(StatsOutbound.target == t).count()
                         for t in ("parent", "direct")},
        "dirty_days": StatsDirty.select().count(),
        "children_reported": sorted({r[0] for r in StatsSnapshot.select(StatsSnapshot.origin)
                                     .where(StatsSnapshot.stream == STREAM_ROLLUP).distinct().tuples()}),
        "rejections_total": StatsRejection.select().count(),
        "rejections": rejections,
    }


def rejections(params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats/rejections``: the newest snapshots ignored, each with its reason."""
    check_params(params, ("limit",))
    limit = parse_limit(params.get("limit"), maximum=500)
    items = [{"id": r.id, "at": show_time(r.at), "kind": r.kind, "sender": r.sender, "origin": r.origin,
              "day": r.day, "version": int(r.version), "doc_id": r.doc_id, "code": r.code, "reason": r.reason}
             for r in StatsRejection.select().order_by(StatsRejection.id.desc()).limit(limit)]
    return {"items": items}
