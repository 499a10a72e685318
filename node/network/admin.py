"""系统管理 — what the administration pages show and do (issue 11 item 9; RELIABILITY rules 8, 19).

The same functions as the CLI: the node status is ``collect`` (``n12315 status``), the links
and their health are ``replication.status.link_report`` (``status`` / ``link list``), and a
held document is retried or skipped with ``replication.quarantine`` (``n12315 quarantine
retry|skip``), audited with the acting administrator's login. Plain functions, no Flask:
``pages.py`` only reads the form and renders.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from node.accounts import login_events, user_summaries
from node.errors import NodeError
from node.network.status import collect
from node.network.transport import replicator
from node.runtime import Node
from replication import quarantine
from replication.models import Quarantine
from replication.status import link_report

RECENT_SIGN_INS = 30
SIGN_IN_PROBLEMS = ("bad_password", "locked", "unknown_login", "disabled", "no_password")


def _when(value: Any) -> datetime | None:
    """An ISO string or a (possibly naive, UTC) datetime → an aware datetime, for display."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _silent(row: dict[str, Any], now: datetime, hours: int) -> bool:
    """An active link with no success and no word from the peer for ``hours`` (rule 19; the same
    test as the warning in ``n12315 status``)."""
    last = _when(row["last_ok"] or row["last_seen"])
    return row["state"] == "active" and last is not None and now - last > timedelta(hours=hours)


def links_health(node: Node, links: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each link as ``link_report`` gives it, with its mode, its times as datetimes and whether
    it has gone silent."""
    now = node.now()
    hours = node.config.replication.silent_after_hours
    rows = link_report(now) if links is None else links
    out = []
    for row in rows:
        out.append({**row, "mode": "pull" if row.get("pull_only") else "push",
                    "silent": _silent(row, now, hours),
                    "last_ok_push_at": _when(row["last_ok_push"]), "last_ok_pull_at": _when(row["last_ok_pull"]),
                    "last_seen_at": _when(row["last_seen"]), "last_error_at": _when(row["last_error_at"]),
                    "next_try_at": _when(row["next_try_at"])})
    return out


def overview(node: Node) -> dict[str, Any]:
    """The node status of ``n12315 status``, a summary of the links, the quarantine count and
    the recent sign-in records (lockouts among them), with the logins locked now."""
    status = collect(node)
    links = links_health(node, status["links"])
    now = node.now()
    return {
        "node": status["node"],
        "warnings": status["warnings"],
        "links": {"total": len(links),
                  "active": sum(1 for r in links if r["state"] == "active"),
                  "stopped": sum(1 for r in links if r["state"] == "stopped"),
                  "revoked": sum(1 for r in links if r["state"] == "revoked"),
                  "silent": sum(1 for r in links if r["silent"]),
                  "backlog": sum(r["backlog"] for r in links),
                  "failing": sum(1 for r in links if r["last_error"])},
        "quarantined": Quarantine.select().where(Quarantine.state == "held").count(),
        "sign_ins": [{**e, "at": _when(e["at"])} for e in login_events(limit=RECENT_SIGN_INS)],
        "locked": [u for u in user_summaries(now) if u["locked_until"] is not None],
    }


def held_documents(include_done: bool = False) -> list[dict[str, Any]]:
    """The quarantine list of ``n12315 quarantine list`` (``--all`` with ``include_done``)."""
    return [{**r, "since": _when(r["created_at"])} for r in quarantine.list_held(include_done)]


def held_document(qid: int) -> dict[str, Any]:
    row = next((r for r in held_documents(include_done=True) if r["id"] == qid), None)
    if row is None:
        raise NodeError(404, "not_found", f"没有编号为 {qid} 的隔离文档 / no quarantined document {qid}")
    return row


def _q(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except quarantine.QuarantineError as exc:
        raise NodeError(exc.status, "quarantine", exc.message, "reason" if exc.status == 422 else None) from None


def retry_held(node: Node, qid: int, actor: str) -> dict[str, Any]:
    """Apply a held document again (``n12315 quarantine retry``): ``state`` is ``retried``, or
    ``held`` with the ``error`` it still fails with. Audited as ``actor``."""
    return _q(quarantine.retry, replicator(node), qid, actor)


def skip_held(node: Node, qid: int, actor: str, reason: str) -> dict[str, Any]:
    """Pass over a held document (``n12315 quarantine skip --reason``); the reason is required
    and kept in the replication audit with ``actor``."""
    if not (reason or "").strip():
        raise NodeError(422, "invalid", "跳过须说明理由 / a reason is required to skip", "reason")
    return _q(quarantine.skip, replicator(node), qid, actor, reason.strip())
