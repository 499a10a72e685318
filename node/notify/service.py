"""Queue, send, retry and list messages to people (issue 12 item 4; R2.7; docs/notifications.md).

A message is queued inside the transaction of the change that causes it (``queue``: insert or
ignore on its key, so the same change arriving twice queues one message), and sent outside any
transaction: by the ``notify.flush`` job, or at once by ``send_now`` for a one-time code, which
must not wait for the job. A try first claims the message (pushes ``next_attempt_at`` past the
try's longest duration), so the job and ``send_now`` never send the same message twice at once,
and a process that dies mid-try leaves it to be retried.

A failed try waits ``backoff_base_s * 2**(tries before it)`` (at most ``backoff_cap_s``); after
``max_attempts`` tries, or an answer that retrying cannot change, the message is ``failed``. A
channel with no sender configured keeps its messages pending without spending their tries.

The application log gets message ids, case ids, events, channels and error classes; never a
name, an address or a text (R2.7 privacy; a test holds it).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from node.db import is_sqlite, stored_time, write_tx
from node.notify.models import DeliveryAttempt, Notification
from node.notify.senders import CHANNELS, SENDERS, DeliveryError, Outgoing
from node.notify.templates import EVENT_STATUS
from node.privacy import mask_address_for
from node.runtime import Node

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
_DIGITS6 = re.compile(r"(?<!\d)\d{6}(?!\d)")
STREAK = 3   # transient failures in a row after which a channel rests until the next run


def _db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


# -- queueing (inside the caller's transaction) ---------------------------------------------------
_QUEUE_FIELDS = tuple(Notification._meta.fields[n] for n in (
    "key", "case_id", "version", "status", "recipient", "address", "message", "state", "sender", "attempts",
    "last_error", "created_at", "channel", "event", "subject", "next_attempt_at"))
_QUEUE_SQL: dict[tuple[bool, str], str] = {}


def _queue_sql(db: Any) -> str:
    """The insert-or-ignore ``queue`` runs, as peewee would build it, built once per dialect.

    Why not peewee's builder: it cost a tenth of an intake's CPU (issue 15 item 1; the pattern of
    ``node.cases.lifecycle.insert_rows``). The values still pass through each field's
    ``db_value``, so the encrypted columns are encrypted exactly as before."""
    lite = is_sqlite(db)
    sql = _QUEUE_SQL.get((lite, db.param))
    if sql is None:
        cols = ", ".join(f'"{f.column_name}"' for f in _QUEUE_FIELDS)
        marks = ", ".join([db.param] * len(_QUEUE_FIELDS))
        table = Notification._meta.table_name
        # the rowcount tells whether it was queued: 0 when the key was already there
        sql = (f'INSERT OR IGNORE INTO "{table}" ({cols}) VALUES ({marks})' if lite else
               f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING')
        _QUEUE_SQL[(lite, db.param)] = sql
    return sql


def queue(node: Node, *, key: str, case_id: str, event: str, channel: str, to: str, text: str,
          subject: str = "", recipient: str = "", version: int = 0) -> bool:
    """Queue one message (R2.7); idempotent on ``key``. True when this call queued it.
    Call it inside the transaction of the change that causes the message."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not to or not text:
        raise ValueError("a message needs an address and a text")
    now = _db_time(node.now())
    values = (key[:255], case_id or "", int(version), EVENT_STATUS.get(event, event), recipient[:255], to[:255],
              text, "pending", "", 0, "", now, channel, event, subject[:255], now)
    made = node.db.execute_sql(_queue_sql(node.db),
                               [f.db_value(v) for f, v in zip(_QUEUE_FIELDS, values, strict=True)]).rowcount
    if made == 1:
        # serve wakes the sender when the request that queued this ends (node.app), so a
        # complainant hears of a change in about a second, not at the next interval
        node.extras["notify_pending"] = True
    return made == 1


def queue_for_complainant(node: Node, *, key_base: str, case_id: str, event: str, complainant: Mapping[str, Any],
                          text: str, subject: str, version: int = 0) -> int:
    """One message per channel the complainant gave: SMS to ``phone``, e-mail to ``email``.
    Nothing for an anonymous complainant. Returns how many were queued now."""
    if complainant.get("anonymous"):
        return 0
    name = str(complainant.get("name") or "")
    made = 0
    for channel, field, suffix in (("sms", "phone", ""), ("email", "email", "|email")):
        to = str(complainant.get(field) or "").strip()
        if to:
            # SMS keeps the bare key routing's outbox used, so a change told before this
            # domain existed is not told again
            made += queue(node, key=key_base + suffix, case_id=case_id, event=event, channel=channel, to=to,
                          text=text, subject=subject, recipient=name, version=version)
    return made


# -- sending (outside any transaction) ------------------------------------------------------------
def send_now(node: Node, key_or_id: str | int) -> bool:
    """Try one message at once (a one-time code); True when it went. A failure leaves it to the
    retry job. Call after the transaction that queued it has committed."""
    if node.db.in_transaction():
        raise RuntimeError("send_now runs outside a transaction: commit the queued message first")
    n = Notification.by_key_or_id(key_or_id)
    if n is None:
        return False
    if n.state != "pending":
        return n.state == "sent"
    return _attempt(node, n, node.now()) == "sent"


def flush(node: Node, limit: int = 200, budget_s: float = 20.0) -> int:
    """The ``notify.flush`` job: send what is due, batch after batch while batches come back
    full and ``budget_s`` lasts (a burst of filings is told in one run, not one batch per
    interval); returns how many went."""
    started = time.monotonic()
    total = 0
    while True:
        sent, full = _flush_batch(node, limit)
        total += sent
        if not full or not sent or time.monotonic() - started > budget_s:
            return total


def _flush_batch(node: Node, limit: int) -> tuple[int, bool]:
    """One batch: ``(sent, the batch was full)``. A channel whose
    sender fails ``STREAK`` times in a row is left for the next run, so a gateway that is down
    costs a few timeouts per run, not one per waiting message."""
    settings = node.config.notify
    now = node.now()
    open_channels = []
    for channel, sender in SENDERS.items():
        reason = sender.unavailable(settings)
        if reason is None:
            open_channels.append(channel)
            continue
        waiting = (Notification.select()
                   .where((Notification.state == "pending") & (Notification.channel == channel))
                   .count())
        if waiting:
            with write_tx(node.db):
                (Notification.update(last_error=reason)
                 .where((Notification.state == "pending") & (Notification.channel == channel)
                        & (Notification.last_error != reason))
                 .execute())
            log.warning("notify: %d %s message(s) wait: no %s sender configured", waiting, channel, channel)
    if not open_channels:
        return 0, False
    due = list(Notification.due(_db_time(now), limit).where(Notification.channel.in_(open_channels)))
    sent, streak = 0, dict.fromkeys(open_channels, 0)
    for n in due:
        if streak[n.channel] >= STREAK:
            continue
        result = _attempt(node, n, now)
        if result == "sent":
            sent += 1
            streak[n.channel] = 0
        elif result == "retry":
            streak[n.channel] += 1
            if streak[n.channel] == STREAK:
                log.warning("notify: %s failed %d times in a row; the rest wait for the next run", n.channel, STREAK)
    return sent, len(due) >= limit


def _attempt(node: Node, n: Notification, now: datetime) -> str:
    """One try: ``sent``, ``retry``, ``failed``, ``waiting`` (no sender) or ``busy`` (claimed
    by another try)."""
    settings = node.config.notify
    sender = SENDERS[n.channel]
    reason = sender.unavailable(settings)
    if reason:
        if n.last_error != reason:
            with write_tx(node.db):
                Notification.update(last_error=reason).where(Notification.id == n.id).execute()
        return "waiting"
    at = _db_time(now)
    lease = at + timedelta(seconds=2 * float(settings.timeout_s) + 60)
    with write_tx(node.db):
        claimed = (Notification.update(next_attempt_at=lease)
                   .where((Notification.id == n.id) & (Notification.state == "pending")
                          & (Notification.next_attempt_at.is_null() | (Notification.next_attempt_at <= at)))
                   .execute())
    if not claimed:
        return "busy"
    msg = Outgoing(id=n.id, key=n.key, channel=n.channel, to=n.address, subject=n.subject, text=n.message,
                   case_id=n.case_id)
    started = time.monotonic()
    error, permanent = "", False
    try:
        sender.send(settings, msg, now)
    except DeliveryError as exc:
        error, permanent = str(exc), exc.permanent
    except Exception as exc:  # noqa: BLE001 - a broken sender must not stop the job; the message waits
        error = f"发送出错 / sender error ({type(exc).__name__})"
        log.exception("notify: message %s (%s): sender %s raised %s", n.id, n.channel, sender.name,
                      type(exc).__name__)
    ms = int((time.monotonic() - started) * 1000)
    tries = n.attempts + 1
    if not error:
        state, next_at = "sent", None
    elif permanent or tries >= settings.max_attempts:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", at + timedelta(seconds=backoff_s(settings, tries))
    update: dict[Any, Any] = {Notification.attempts: tries, Notification.state: state,
                              Notification.next_attempt_at: next_at, Notification.last_error: error[:500]}
    if state == "sent":
        update.update({Notification.sender: sender.name, Notification.sent_at: at})
    if state != "pending" and n.event == "code":
        # a spent code has no business staying readable in the outbox
        update[Notification.message] = _DIGITS6.sub("******", n.message)
    with write_tx(node.db):
        DeliveryAttempt.insert(notification_id=n.id, at=at, channel=n.channel, sender=sender.name, ok=not error,
                               error=error[:500], ms=ms).execute()
        Notification.update(update).where(Notification.id == n.id).execute()
    if state == "sent":
        log.info("notify: message %s (%s, case %s, %s) sent by %s in %d ms", n.id, n.channel, n.case_id or "-",
                 n.event, sender.name, ms)
    else:
        log.warning("notify: message %s (%s, case %s, %s) try %d failed (%s)%s", n.id, n.channel,
                    n.case_id or "-", n.event, tries, "permanent" if permanent else "transient",
                    "; gave up" if state == "failed" else f"; next try at {show_time(next_at)}")
    return "sent" if state == "sent" else ("failed" if state == "failed" else "retry")


def backoff_s(settings: Any, tries: int) -> float:
    """Seconds to wait after the ``tries``-th failed try: base × 2^(tries before it), capped."""
    return min(float(settings.backoff_cap_s), float(settings.backoff_base_s) * 2 ** (tries - 1))


# -- listing (the staff API) ----------------------------------------------------------------------
def mask_address(address: str) -> str:
    """139****0000 for a phone, z***@example.com for an e-mail address (node.privacy's rule)."""
    return mask_address_for(address)


def show_time(value: Any) -> str | None:
    """A stored time as shown: ISO 8601 at +08:00."""
    at = stored_time(value)
    return at.astimezone(SHANGHAI).isoformat() if at else None


def list_deliveries(node: Node, case_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The messages of this node, newest first, each with its delivery log
    (``GET /api/v1/notifications``); addresses masked, one-time codes never shown."""
    q = Notification.select().order_by(Notification.id.desc()).limit(limit)
    if case_id:
        q = q.where(Notification.case_id == case_id)
    rows = list(q)
    log_of: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for a in DeliveryAttempt.for_notifications([n.id for n in rows]):
            log_of.setdefault(a.notification_id, []).append(
                {"at": show_time(a.at), "ok": bool(a.ok), "sender": a.sender, "ms": a.ms, "error": a.error})
    return [{"id": n.id, "case_id": n.case_id, "status": n.status, "event": n.event or n.status,
             "channel": n.channel, "recipient": n.recipient, "address": mask_address(n.address),
             "subject": n.subject,
             "message": _DIGITS6.sub("******", n.message) if n.event == "code" else n.message,
             "state": n.state, "sender": n.sender, "attempts": n.attempts, "last_error": n.last_error,
             "created_at": show_time(n.created_at), "next_attempt_at": show_time(n.next_attempt_at),
             "sent_at": show_time(n.sent_at), "deliveries": log_of.get(n.id, [])} for n in rows]
