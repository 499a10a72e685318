"""Per-link health for ``n12315 status`` and ``link list`` (RELIABILITY rule 19)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import fn

from federation.models import KnownKey, Link
from replication.models import OutboxEntry, Quarantine, ReplicationAudit

GAP_ALARM_DAYS = 7  # a restore gap stays in the warnings this long; the audit keeps it forever


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def link_report(now: datetime) -> list[dict[str, Any]]:
    backlog: dict[str, int] = dict(OutboxEntry.select(OutboxEntry.dest, fn.COUNT(OutboxEntry.id))  # type: ignore[arg-type]
                                   .group_by(OutboxEntry.dest).tuples())
    oldest: dict[str, datetime] = dict(OutboxEntry.select(OutboxEntry.dest, fn.MIN(OutboxEntry.created_at))  # type: ignore[arg-type]
                                       .group_by(OutboxEntry.dest).tuples())
    held: dict[str, int] = dict(Quarantine.select(Quarantine.peer, fn.COUNT(Quarantine.id))  # type: ignore[arg-type]
                                .where(Quarantine.state == "held")
                                .group_by(Quarantine.peer).tuples())
    gaps: dict[str, ReplicationAudit] = {}
    for row in (ReplicationAudit.select()
                .where((ReplicationAudit.action == "restore_gap")
                       & (ReplicationAudit.at >= now - timedelta(days=GAP_ALARM_DAYS)))
                .order_by(ReplicationAudit.id)):
        gaps[row.peer] = row   # the latest per peer
    out = []
    for link in Link.select().order_by(Link.role, Link.code):
        key = (KnownKey.select(KnownKey.key_id)
               .where((KnownKey.node_code == link.code) & KnownKey.revoked_at.is_null())
               .order_by(KnownKey.valid_from.desc())
               .first())
        oldest_at = _aware(oldest.get(link.code)) if oldest.get(link.code) else None
        oks = [t for t in (_aware(link.last_ok_push_at), _aware(link.last_ok_pull_at)) if t]
        out.append({
            "code": link.code, "level": link.level, "role": link.role, "name": link.name, "url": link.url,
            "state": link.state, "state_reason": link.state_reason,
            "backlog": int(backlog.get(link.code, 0)),
            "oldest_pending_s": round((now - oldest_at).total_seconds(), 1) if oldest_at else None,
            "last_ok": _iso(max(oks)) if oks else None,
            "last_ok_push": _iso(link.last_ok_push_at), "last_ok_pull": _iso(link.last_ok_pull_at),
            "last_seen": _iso(link.last_seen_at),
            "last_error": link.last_error, "last_error_at": _iso(link.last_error_at),
            "attempts": link.attempts, "next_try_at": _iso(link.next_try_at),
            "quarantined": int(held.get(link.code, 0)),
            "key_id": key.key_id if key else None,
            "clock_skew_s": link.clock_skew_s,
            "pull_only": link.pull_only,
            "restore_gap": ({"at": _iso(gaps[link.code].at), "detail": gaps[link.code].detail}
                            if link.code in gaps else None),
        })
    return out


def warnings(now: datetime, silent_after_hours: int = 24) -> list[str]:
    out = []
    for row in link_report(now):
        if row["state"] == "stopped":
            out.append(f"链路 {row['code']} 已停止 / link stopped: {row['state_reason']}")
        if row["quarantined"]:
            out.append(f"链路 {row['code']} 有 {row['quarantined']} 份隔离文档 / quarantined documents: "
                       f"n12315 quarantine list")
        if row["restore_gap"]:
            out.append(f"链路 {row['code']} 恢复缺口 / restore gap: {row['restore_gap']['detail']}")
        last = row["last_ok"] or row["last_seen"]
        if row["state"] == "active" and last and now - datetime.fromisoformat(last) > timedelta(hours=silent_after_hours):
            out.append(f"链路 {row['code']} 已静默超过 {silent_after_hours} 小时 / silent for over {silent_after_hours} h")
    return out
