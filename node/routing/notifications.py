"""Notices to named complainants (R2.7; docs/routing.md §6): the accepting node records one
notice per status change a complainant must hear of, wherever the case is handled, and sends
them through a pluggable sender.

A notice is recorded in the same transaction as the change that causes it (at the accepting
node: its own change, or the update that brings the handler's change back), so no status
change is told twice or missed; sending is a separate job, so a failing SMS gateway never
holds up a case.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from node.cases import DECLINE_GROUNDS, OUTCOMES
from node.db import write_tx
from node.routing.custody import unit_name
from node.routing.documents import from_json, show_time
from node.routing.models import Notification
from node.runtime import Node

log = logging.getLogger(__name__)

NOTIFY_STATUSES = ("transferred", "accepted", "declined", "referred", "concluded", "filed", "not_filed",
                   "answered")
STATUS_TELL = {
    "transferred": "已转至{handler}办理",
    "accepted": "已由{handler}受理",
    "declined": "{handler}决定不予受理",
    "referred": "不属于市场监管部门职责，已移送或告知主管部门",
    "concluded": "已由{handler}办结",
    "filed": "{handler}已立案调查",
    "not_filed": "{handler}决定不予立案",
    "answered": "已答复",
}
KIND_ZH = {"complaint": "投诉", "report": "举报", "consultation": "咨询"}


def notify(node: Node, row: Mapping[str, Any], events: list[Mapping[str, Any]]) -> int:
    """Queue one notice per status change a named complainant must hear of (R2.7)."""
    complainant = from_json(row.get("complainant"), {}) or {}
    if complainant.get("anonymous") or not complainant.get("phone") or not complainant.get("name"):
        return 0
    made = 0
    outcome = from_json(row.get("outcome"), {}) or {}
    for e in events:
        to, frm = e.get("to_status"), e.get("from_status")
        if to not in NOTIFY_STATUSES or to == frm:
            continue
        handler = unit_name(str(from_json(e.get("data"), {}).get("to") or e["node"])) if to == "transferred" \
            else unit_name(str(e["node"]))
        received = row.get("received_at")
        day = received[:10] if isinstance(received, str) else (received.date().isoformat() if received else "")
        text = (f"【12315】{complainant['name']}您好：您于{day}反映的{KIND_ZH.get(row['kind'], '诉求')}"
                f"（编号 {row['case_id']}）{STATUS_TELL[to].format(handler=handler)}。")
        if to == "referred" and outcome.get("tell"):
            text += outcome["tell"]
        elif to == "declined" and outcome.get("reason") in DECLINE_GROUNDS:
            text += f"理由：{DECLINE_GROUNDS[outcome['reason']][0]}。"
        elif to == "concluded" and outcome.get("outcome") in OUTCOMES:
            text += f"结果：{OUTCOMES[outcome['outcome']][0]}。"
        at = e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"])
        # the key makes a notice idempotent: the same change arriving twice records one notice
        key = f"{row['case_id']}|{to}|{at}"
        made += Notification.insert(key=key[:250], case_id=row["case_id"], version=int(row["version"]), status=to,
                                    recipient=complainant["name"], address=complainant["phone"], message=text,
                                    created_at=node.now()).on_conflict_ignore().execute() and 1 or 0
    return made


def _log_sender(node: Node, n: Notification) -> None:
    log.info("notification for %s (case %s): %s", n.recipient, n.case_id, n.message)


# name -> fn(node, notification); raise to leave it pending (retried next round)
SENDERS: dict[str, Callable[[Node, Notification], None]] = {"log": _log_sender}
DEFAULT_SENDER = "log"


def flush_notifications(node: Node, sender: str | None = None, limit: int = 200) -> int:
    """Send pending notices through the configured sender; returns how many went."""
    name = sender or DEFAULT_SENDER
    fn = SENDERS[name]
    sent = 0
    for n in list(Notification.due(limit)):
        try:
            fn(node, n)
        except Exception as exc:   # a failing gateway: keep it pending, say why
            with write_tx(node.db):
                (Notification.update(attempts=Notification.attempts + 1, last_error=str(exc)[:500],
                                     state="failed" if n.attempts >= 9 else "pending")
                    .where(Notification.id == n.id).execute())
            continue
        with write_tx(node.db):
            (Notification.update(state="sent", sender=name, sent_at=node.now(), attempts=Notification.attempts + 1)
                .where(Notification.id == n.id).execute())
        sent += 1
    return sent


def list_notifications(node: Node, case_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The notification outbox of this node, newest first (``GET /api/v1/notifications``)."""
    q = Notification.select().order_by(Notification.id.desc()).limit(limit)
    if case_id:
        q = q.where(Notification.case_id == case_id)
    return [{"case_id": n.case_id, "status": n.status, "recipient": n.recipient, "message": n.message,
             "state": n.state, "sender": n.sender, "created_at": show_time(n.created_at),
             "sent_at": show_time(n.sent_at)} for n in q]
