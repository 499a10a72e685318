"""Notices to named complainants (R2.7; docs/routing.md §6, docs/notifications.md): the
accepting node decides, per status change, what a complainant must hear of, wherever the case
is handled, and queues it through ``node.notify`` (SMS to the phone given, e-mail to the
address given).

A notice is queued in the same transaction as the change that causes it (at the accepting
node: its own change, or the update that brings the handler's change back), keyed on the case,
the status and the change's time, so no status change is told twice or missed; sending is
``node.notify``'s job, so a failing SMS gateway never holds up a case.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from node.cases import DECLINE_GROUNDS, OUTCOMES, SHANGHAI
from node.notify import queue_for_complainant, render
from node.routing.custody import unit_name
from node.routing.documents import from_json
from node.runtime import Node

NOTIFY_STATUSES = ("transferred", "accepted", "declined", "referred", "concluded", "filed", "not_filed",
                   "answered")


def notify(node: Node, row: Mapping[str, Any], events: list[Mapping[str, Any]]) -> int:
    """Queue the notices a named complainant must hear of for these events (R2.7): ``received``
    when the case is registered here (with where it went, when intake sent it on at once), and
    one per status change in ``NOTIFY_STATUSES``. Returns how many messages were queued."""
    complainant = from_json(row.get("complainant"), {}) or {}
    if complainant.get("masked") or complainant.get("anonymous") or not complainant.get("name") or not (
            complainant.get("phone") or complainant.get("email")):
        return 0
    outcome = from_json(row.get("outcome"), {}) or {}
    common = {"name": complainant["name"], "day": _day(row.get("received_at")),
              "kind": row["kind"], "case_id": row["case_id"]}
    registered = any(e.get("from_status") is None and e.get("to_status") == "registered" for e in events)
    made = 0
    for e in events:
        to, frm = e.get("to_status"), e.get("from_status")
        data = from_json(e.get("data"), {}) or {}
        if frm is None and to == "registered":
            if row["kind"] == "consultation":   # answered where taken: "answered" tells it all
                continue
            sent_on = next((x for x in events if x.get("to_status") == "transferred"), None)
            handler = unit_name(str(from_json(sent_on.get("data"), {}).get("to"))) if sent_on else ""
            event, key, fields = "received", f"{row['case_id']}|received", {"handler": handler}
        elif to in NOTIFY_STATUSES and to != frm:
            if to == "transferred" and registered:
                continue   # sent on at intake: the "received" notice already says where
            handler = unit_name(str(data.get("to") or e["node"])) if to == "transferred" else unit_name(str(e["node"]))
            at = e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"])
            # the key makes a notice idempotent: the same change arriving twice queues one notice
            event, key, fields = to, f"{row['case_id']}|{to}|{at}", {"handler": handler}
            if to == "referred":
                fields["tell"] = outcome.get("tell") or ""
            elif to == "declined" and outcome.get("reason") in DECLINE_GROUNDS:
                fields["ground"] = DECLINE_GROUNDS[outcome["reason"]][0]
            elif to == "concluded" and outcome.get("outcome") in OUTCOMES:
                fields["outcome"] = OUTCOMES[outcome["outcome"]][0]
        else:
            continue
        subject, text = render(event, **common, **fields)
        made += queue_for_complainant(node, key_base=key[:240], case_id=row["case_id"], event=event,
                                      complainant=complainant, text=text, subject=subject,
                                      version=int(row["version"]))
    return made


def _day(received: Any) -> str:
    """The Shanghai date a case was received (stored naive UTC; aware on the wire)."""
    if not received:
        return ""
    if isinstance(received, str):
        received = datetime.fromisoformat(received)
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return received.astimezone(SHANGHAI).date().isoformat()
