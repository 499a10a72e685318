"""What ``GET /metrics`` reports, in the Prometheus text format (issue 14 "Seen from outside";
docs/metrics.md).

An operator at a province watches thousands of nodes with the Prometheus they already run
instead of logging into each. Almost every figure is read from the database at scrape time
(custom collectors, not counters kept in memory), so several waitress threads agree, a
restart loses nothing, and a counter such as ``n12315_documents_applied_total`` is the count
the database holds. Only the job figures live in memory: jobs run in ``serve``'s one process
(``node.jobs.record_run``).

The ``*_figures`` functions are plain (a node or a time in, plain values out; called inside
``node.activate()``) and tested on their own; ``NodeCollector`` turns them into metric
families; ``registry_for`` gives each app its own ``CollectorRegistry`` so many nodes can live
in one process. Labels carry node codes, link roles, channels and job ids — never a person's
data. ``allowed_networks`` and ``may_scrape_without_token`` decide who may scrape without a
token (``metrics.allow``).
"""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from peewee import fn
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from federation.models import Link
from node import jobs
from node.audit import AuditHead
from node.cases import Case
from node.config import NodeConfig, config_error
from node.db import stored_time
from node.deadlines import work_calendar
from node.notify import Notification
from node.ops.doctor import calendar_years
from node.runtime import Node
from node.stats import status as stats_status
from replication.models import InboxMark, InboxPending, OutboxEntry, Quarantine, SendCounter

PREFIX = "n12315_"
FALLBACK_SOURCES = ("fallback", "operator-provisional")   # counted on weekends (plus unconfirmed days)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- access ------------------------------------------------------------------------------------
def allowed_networks(config: NodeConfig) -> tuple[Network, ...]:
    """The networks of ``metrics.allow``; a malformed one stops the node naming the key."""
    out = []
    for item in config.metrics.allow.split():
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise config_error(f"metrics.allow 中的网段无效：{item} / metrics.allow: not a network: {item}",
                               "metrics.allow") from None
    return tuple(out)


def may_scrape_without_token(remote_addr: str | None, networks: tuple[Network, ...]) -> bool:
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


# -- plain collection ----------------------------------------------------------------------------
def _ts(value: Any) -> float | None:
    """A stored time (naive UTC, aware, or SQLite text from an aggregate) as unix seconds."""
    at = stored_time(value)
    return at.timestamp() if at else None


def link_figures(now: datetime, held: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per link that is not revoked: backlog, oldest pending age, last success each way,
    failed attempts since the last success, documents held in quarantine, waiting after a gap."""
    backlog = dict(OutboxEntry.select(OutboxEntry.dest, fn.COUNT(OutboxEntry.id))
                   .group_by(OutboxEntry.dest).tuples())
    oldest = dict(OutboxEntry.select(OutboxEntry.dest, fn.MIN(OutboxEntry.created_at))
                  .group_by(OutboxEntry.dest).tuples())
    held = quarantine_figures() if held is None else held
    waiting = dict(InboxPending.select(InboxPending.peer, fn.COUNT(InboxPending.seq))
                   .group_by(InboxPending.peer).tuples())
    now_s = now.timestamp()
    out = []
    for link in (Link.select()
                 .where(Link.state != "revoked")
                 .order_by(Link.role, Link.code)):
        oldest_s = _ts(oldest.get(link.code))
        received = [t for t in (_ts(link.last_ok_pull_at), _ts(link.last_seen_at)) if t is not None]
        out.append({
            "peer": link.code, "role": link.role, "level": link.level, "state": link.state,
            "backlog": int(backlog.get(link.code, 0)),
            "oldest_pending_s": max(0.0, now_s - oldest_s) if oldest_s is not None else 0.0,
            "last_send_at": _ts(link.last_ok_push_at),
            "last_receive_at": max(received) if received else None,
            "attempts": int(link.attempts or 0),
            "clock_skew_s": link.clock_skew_s,
            "quarantined": held.get(link.code, 0),
            "waiting": int(waiting.get(link.code, 0)),
            "created_at": _ts(link.created_at),
        })
    return out


def quarantine_figures() -> dict[str, int]:
    """Documents held in quarantine per peer (rule 8), whether or not the link still exists."""
    return {peer: int(n) for peer, n in (Quarantine.select(Quarantine.peer, fn.COUNT(Quarantine.id))
                                         .where(Quarantine.state == "held")
                                         .group_by(Quarantine.peer).tuples())}


def unacked_figures() -> list[tuple[str, str, int]]:
    """(peer, channel, sequence numbers sent but not yet acknowledged) — lag in documents."""
    return [(dest, channel, max(0, int(next_seq) - 1 - int(acked)))
            for dest, channel, next_seq, acked in (SendCounter.select(SendCounter.dest, SendCounter.channel,
                                                                      SendCounter.next_seq, SendCounter.acked_seq)
                                                   .order_by(SendCounter.dest, SendCounter.channel).tuples())]


def applied_figures() -> list[tuple[str, str, int]]:
    """(peer, channel, documents applied from it): the sum of the inbox marks over every epoch.
    Marks are kept forever and only rise (rule 4), so this is a true counter."""
    return [(peer, channel, int(total or 0))
            for peer, channel, total in (InboxMark.select(InboxMark.peer, InboxMark.channel, fn.SUM(InboxMark.hwm))
                                         .group_by(InboxMark.peer, InboxMark.channel)
                                         .order_by(InboxMark.peer, InboxMark.channel).tuples())]


def intake_figures(node: Node) -> list[tuple[str, int]]:
    """(channel, cases taken in at this node): the cases it accepted, as stored."""
    return [(channel, int(n)) for channel, n in (Case.select(Case.channel, fn.COUNT(Case.pk))
                                                 .where(Case.accepting_node == node.code)
                                                 .group_by(Case.channel)
                                                 .order_by(Case.channel).tuples())]


def notify_figures() -> dict[tuple[str, str], int]:
    """(channel, state) → messages to people (sms, email) pending or given up."""
    return {(channel, state): int(n)
            for channel, state, n in (Notification.select(Notification.channel, Notification.state,
                                                          fn.COUNT(Notification.id))
                                      .where(Notification.state.in_(("pending", "failed")))
                                      .group_by(Notification.channel, Notification.state).tuples())}


def audit_head_seq() -> int:
    head = AuditHead.get_or_none(AuditHead.id == 1)
    return int(head.seq) if head is not None else 0


def calendar_figures(node: Node) -> list[tuple[int, str, bool]]:
    """(year, source, fallback in use) for the years ``doctor`` checks (``calendar_years``)."""
    cal = work_calendar(node)
    return [(year, cal.year_source(year), cal.year_source(year) in FALLBACK_SOURCES)
            for year in calendar_years(node)]


def stats_figures(node: Node) -> dict[str, Any]:
    """The rollup's state (``n12315 stats status``): when figures were last refreshed and sent up,
    days waiting to go up, days waiting to be recounted, snapshots refused."""
    st = stats_status(node)
    return {"last_sent_at": _ts(st["last_sent_at"]), "refreshed_at": _ts(st["refreshed_at"]),
            "pending_days": dict(st["pending_days"]), "dirty_days": int(st["dirty_days"]),
            "rejections": int(st["rejections_total"])}


# -- the collector -----------------------------------------------------------------------------
def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=labels)


class NodeCollector(Collector):
    """Reads the node's database at every scrape; one per app registry."""

    def __init__(self, node: Node):
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        started = time.monotonic()
        with node.activate():
            yield from self._node_info()
            yield from self._links(node.now())
            yield from self._documents()
            yield from self._domains()
        yield from self._jobs()
        scrape = _gauge("metrics_collect_seconds", "Time spent reading the figures of this scrape", [])
        scrape.add_metric([], time.monotonic() - started)
        yield scrape

    def _node_info(self) -> Iterator[Metric]:
        info = _gauge("node_info", "This node: its code and level (value 1)", ["code", "level"])
        info.add_metric([self.node.code, self.node.level], 1)
        yield info

    def _links(self, now: datetime) -> Iterator[Metric]:
        held = quarantine_figures()
        rows = link_figures(now, held)
        lab = ["peer", "role"]
        info = _gauge("link_info", "Each link not revoked: level and state (active | stopped), value 1",
                      ["peer", "role", "level", "state"])
        backlog = _gauge("link_backlog", "Outbox rows waiting for the peer (not yet acknowledged)", lab)
        oldest = _gauge("link_oldest_pending_seconds", "Age of the oldest outbox row waiting for the peer "
                        "(0 when none): the replication lag in time", lab)
        last = _gauge("link_last_success_timestamp_seconds", "Unix time of the last success: send = our push "
                      "accepted; receive = our pull answered or a signed request from the peer",
                      ["peer", "role", "direction"])
        attempts = _gauge("link_failed_attempts", "Failed attempts since the last success (the retries of "
                          "the backoff)", lab)
        waiting = _gauge("link_inbox_waiting", "Documents from the peer buffered ahead of a gap", lab)
        skew = _gauge("link_clock_skew_seconds", "The peer's clock minus ours, at the last answer", lab)
        created = _gauge("link_created_timestamp_seconds", "Unix time the link was made", lab)
        for r in rows:
            key = [r["peer"], r["role"]]
            info.add_metric([r["peer"], r["role"], r["level"], r["state"]], 1)
            backlog.add_metric(key, r["backlog"])
            oldest.add_metric(key, r["oldest_pending_s"])
            for direction, at in (("send", r["last_send_at"]), ("receive", r["last_receive_at"])):
                if at is not None:   # never yet: no sample (alert on link_created instead)
                    last.add_metric(key + [direction], at)
            attempts.add_metric(key, r["attempts"])
            waiting.add_metric(key, r["waiting"])
            if r["clock_skew_s"] is not None:
                skew.add_metric(key, r["clock_skew_s"])
            if r["created_at"] is not None:
                created.add_metric(key, r["created_at"])
        quarantine = _gauge("quarantine_documents", "Documents held in quarantine per peer (an admin must "
                            "retry or skip them)", ["peer"])
        for peer, n in sorted(held.items()):
            quarantine.add_metric([peer], n)
        yield from (info, backlog, oldest, last, attempts, waiting, skew, created, quarantine)

    def _documents(self) -> Iterator[Metric]:
        unacked = _gauge("replication_unacked_sequences", "Sequence numbers sent to the peer and not yet "
                         "acknowledged, per channel: the replication lag in documents", ["peer", "channel"])
        for peer, channel, n in unacked_figures():
            unacked.add_metric([peer, channel], n)
        applied = CounterMetricFamily(PREFIX + "documents_applied", "Documents from the peer applied here "
                                      "(read from the inbox marks)", labels=["peer", "channel"])
        for peer, channel, n in applied_figures():
            applied.add_metric([peer, channel], n)
        intake = CounterMetricFamily(PREFIX + "cases_taken_in", "Cases accepted at this node, by intake "
                                     "channel (read from the case table)", labels=["channel"])
        for channel, n in intake_figures(self.node):
            intake.add_metric([channel], n)
        yield from (unacked, applied, intake)

    def _domains(self) -> Iterator[Metric]:
        node = self.node
        notify = _gauge("notifications", "Messages to people by state: pending (waiting to be sent) and "
                        "failed (given up)", ["channel", "state"])
        figures = notify_figures()
        for channel in sorted({c for c, _ in figures} | {"sms"}):
            for state in ("pending", "failed"):
                notify.add_metric([channel, state], figures.get((channel, state), 0))
        audit = _gauge("audit_head_seq", "Sequence number of the newest audit log entry", [])
        audit.add_metric([], audit_head_seq())
        fallback = _gauge("calendar_fallback", "1 while the year's working days are counted without the "
                          "official holiday calendar (weekends only, or a provisional operator table)", ["year"])
        source = _gauge("calendar_source_info", "Where the year's calendar comes from (value 1)", ["year", "source"])
        for year, src, is_fallback in calendar_figures(node):
            fallback.add_metric([str(year)], int(is_fallback))
            source.add_metric([str(year), src], 1)
        st = stats_figures(node)
        sent = _gauge("stats_last_sent_timestamp_seconds", "Unix time statistics were last sent up "
                      "(absent: never, as at HQ)", [])
        if st["last_sent_at"] is not None:
            sent.add_metric([], st["last_sent_at"])
        refreshed = _gauge("stats_refreshed_timestamp_seconds", "Unix time the statistics projections were "
                           "last rebuilt after a change (absent: never)", [])
        if st["refreshed_at"] is not None:
            refreshed.add_metric([], st["refreshed_at"])
        pending = _gauge("stats_pending_days", "Days of statistics waiting to be sent, per target", ["target"])
        for target, n in sorted(st["pending_days"].items()):
            pending.add_metric([target], n)
        dirty = _gauge("stats_dirty_days", "Receipt days waiting to be recounted", [])
        dirty.add_metric([], st["dirty_days"])
        rejected = _gauge("stats_rejections", "Statistics snapshots refused and kept for review", [])
        rejected.add_metric([], st["rejections"])
        yield from (notify, audit, fallback, source, sent, refreshed, pending, dirty, rejected)

    def _jobs(self) -> Iterator[Metric]:
        runs = jobs.job_runs(self.node)
        duration = _gauge("job_last_duration_seconds", "How long the job's last run took", ["job"])
        success = _gauge("job_last_success_timestamp_seconds", "Unix time of the job's last successful run", ["job"])
        total = CounterMetricFamily(PREFIX + "job_runs", "Runs of the job since serve started", labels=["job"])
        failed = CounterMetricFamily(PREFIX + "job_failures", "Failed runs of the job since serve started",
                                     labels=["job"])
        for job_id, row in sorted(runs.items()):
            duration.add_metric([job_id], row["last_duration_s"])
            if row["last_success_at"] is not None:
                success.add_metric([job_id], row["last_success_at"])
            total.add_metric([job_id], row["runs"])
            failed.add_metric([job_id], row["failures"])
        yield from (duration, success, total, failed)


def registry_for(node: Node) -> CollectorRegistry:
    """A registry of this node's own (never the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    return registry
