"""The sending side: push batches to peers, pull from the parent (RELIABILITY rules 6-11).

One batch in flight per (peer, channel) in this process (rule 7); another process
running ``n12315 sync`` at the same time may send the same batch, which the receiver
answers from its high-water mark (F3). Errors decide retries: a 5xx, a timeout or a
refused connection is transient (exponential backoff with jitter, capped at
``backoff_cap_s``, about an hour); 429/503 follow ``Retry-After`` (F17); a 409 conflict
stops the link (rule 5); any other 4xx is not retried in a loop — it waits for the cap
or for ``n12315 sync`` (rule 8). Any signed contact from the peer resets the backoff.
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from federation import httpsig, trust
from federation.canonical import canonical_bytes
from federation.keys import KeyPair
from federation.models import Link
from federation.storage import write_tx
from replication import documents, epochs, outbox
from replication.documents import Batch, Entry
from replication.engine import Replicator
from replication.inbox import ReceiveError, audit, receive
from replication.models import InboxMark, OutboxEntry

log = logging.getLogger(__name__)

PUSH_PATH = "/federation/v1/push"
PULL_PATH = "/federation/v1/pull"


@dataclass
class SyncReport:
    sent: int = 0
    acked: int = 0
    pulled: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: SyncReport) -> None:
        self.sent += other.sent
        self.acked += other.acked
        self.pulled += other.pulled
        self.errors += other.errors


def hop_keypair(rep: Replicator) -> KeyPair:
    """The HTTP-hop signing identity: ``keyid`` is the node code (CONTRACT §3)."""
    kp = rep.keypair
    return KeyPair(key_id=rep.code, private=kp.private, public_b64=kp.public_b64)


def signed_post(rep: Replicator, url: str, payload: dict[str, Any] | bytes) -> requests.Response:
    body = payload if isinstance(payload, bytes) else canonical_bytes(payload)
    now = rep.now()
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, hop_keypair(rep), now.timestamp()))
    return rep.session_ref().post(url, data=body, headers=headers, timeout=rep.settings.request_timeout_s)


def _due(link: Link, now: datetime, force: bool) -> bool:
    if link.state != "active":
        return False
    return force or link.next_try_at is None or _aware(link.next_try_at) <= now


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backoff_s(rep: Replicator, attempts: int) -> float:
    base = rep.settings.backoff_base_s * (2 ** min(attempts, 20))
    capped = min(rep.settings.backoff_cap_s, base)
    return float(capped * (0.5 + random.random() / 2))  # full jitter would allow 0: keep half


def _record_failure(rep: Replicator, code: str, message: str, *, retry_after_s: float | None = None,
                    to_cap: bool = False) -> None:
    now = rep.now()
    with write_tx(rep.db):
        link = Link.get(Link.code == code)
        attempts = link.attempts + 1
        if retry_after_s is not None:
            delay = retry_after_s * (1 + random.random() / 4)  # children add jitter (rule 11)
        elif to_cap:
            delay = rep.settings.backoff_cap_s
        else:
            delay = backoff_s(rep, attempts)
        Link.update(attempts=attempts, last_error=message[:500], last_error_at=now,
                    next_try_at=now + timedelta(seconds=delay)).where(Link.code == code).execute()
    log.warning("link %s: %s (next try in %.0f s)", code, message, delay)


def _record_success(rep: Replicator, code: str, column: str, peer_time: str | None,
                    link: Link | None = None) -> None:
    """Note a good exchange on the link. Given the ``link`` row as read before the exchange, a
    link already healthy whose last good exchange of this kind is under
    ``SUCCESS_GRANULARITY_S`` old (and whose clock skew has not moved by a second) is left
    alone: an idle child polls its parent every few seconds, and a write (an fsync on SQLite)
    per poll to move a timestamp by seconds bought nothing."""
    now = rep.now()
    skew = None
    if peer_time:
        try:
            skew = (datetime.fromisoformat(peer_time) - now).total_seconds()
        except ValueError:
            skew = None
    if link is not None and _still_fresh(link, column, now, skew):
        return
    updates: dict[str, Any] = {column: now, "attempts": 0, "next_try_at": None, "last_error": None}
    if skew is not None:
        updates["clock_skew_s"] = round(skew, 3)
    with write_tx(rep.db):
        Link.update(**updates).where(Link.code == code).execute()


SUCCESS_GRANULARITY_S = 10.0


def _still_fresh(link: Link, column: str, now: datetime, skew: float | None) -> bool:
    last = getattr(link, column)
    if link.attempts or link.last_error or link.next_try_at is not None or last is None:
        return False
    if last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    age = (now - last).total_seconds()
    if not 0 <= age < SUCCESS_GRANULARITY_S:
        return False
    held = link.clock_skew_s
    return skew is None or (held is not None and abs(held - skew) < 1.0)


def _error_message(resp: requests.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"HTTP {resp.status_code} {err.get('code')}: {err.get('message')}"
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}: {resp.text[:200]!r}"


def _error_code(resp: requests.Response) -> str | None:
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


_UNKNOWN_CHANNEL_TOLD: set[str] = set()


def _unknown_channel(resp: requests.Response) -> bool:
    """The peer's answer says it does not know the channel (pull: ``bad_channel``; push: a
    ``bad_batch`` naming the field ``channel``)."""
    try:
        err = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(err, dict) and bool(err.get("code") == "bad_channel" or (
        err.get("code") == "bad_batch" and err.get("field") == "channel"))


def _handle_refusal(rep: Replicator, code: str, resp: requests.Response) -> None:
    message = _error_message(resp)
    if resp.status_code == 409:
        with write_tx(rep.db):
            Link.update(state="stopped", state_reason=message, last_error=message,
                        last_error_at=rep.now()).where(Link.code == code).execute()
            audit(rep, "conflict", code, message)
        return
    if resp.status_code in (429, 503):
        try:
            retry_after = float(resp.headers.get("Retry-After", rep.settings.retry_after_s))
        except ValueError:
            retry_after = float(rep.settings.retry_after_s)
        _record_failure(rep, code, message, retry_after_s=retry_after)
        return
    if resp.status_code == 400 and _unknown_channel(resp):
        # A peer of an older version that does not know this channel yet (a tree upgrades one
        # node at a time; ``evidence`` came with case attachments): only this channel waits for
        # it. Backing the whole link off would stall every other channel for an hour. Said once
        # per peer and process, so the operator sees why that channel's backlog stays.
        if code not in _UNKNOWN_CHANNEL_TOLD:
            _UNKNOWN_CHANNEL_TOLD.add(code)
            log.warning("%s does not know a channel yet (an older version?): %s; that channel waits, "
                        "the others flow", code, message)
        return
    if _error_code(resp) == "replayed":
        # Our own fresh nonce seen before: the network delivered this request twice and
        # the copy that answered was the second. Nothing is wrong with the link; retry soon.
        _record_failure(rep, code, message)
        return
    if 400 <= resp.status_code < 500 and resp.status_code != 408:
        _record_failure(rep, code, message, to_cap=True)
        return
    _record_failure(rep, code, message)


def push(rep: Replicator, code: str, channel: str, *, force: bool = False) -> SyncReport:
    """Push everything pending for one link and channel, batch by batch."""
    report = SyncReport()
    lock = rep.lock_for("push:" + code, channel)
    if not lock.acquire(blocking=False):
        return report  # a batch is already in flight on this link (rule 7)
    try:
        while True:
            link = Link.get_or_none(Link.code == code)
            if link is None or not _due(link, rep.now(), force) or link.pull_only:
                return report
            rows = outbox.pending(code, channel, rep.settings.batch_size, rep.settings.max_batch_bytes)
            if not rows:
                return report
            epoch = rows[0].epoch
            epochs.note_sent(rep, code, channel, epoch, rows[-1].seq)
            try:
                resp = signed_post(rep, link.url.rstrip("/") + PUSH_PATH, batch_bytes(rep, code, channel, rows))
            except requests.RequestException as exc:
                _record_failure(rep, code, f"{type(exc).__name__}: {exc}")
                report.errors.append(f"{code}: {exc}")
                return report
            report.sent += len(rows)
            if resp.status_code != 200:
                _handle_refusal(rep, code, resp)
                report.errors.append(f"{code}: {_error_message(resp)}")
                return report
            try:
                answer = resp.json()
                acked = int(answer["acked"])
            except (ValueError, KeyError, TypeError):
                _record_failure(rep, code, f"对端应答无法解析 / garbage answer from peer: {resp.text[:120]!r}")
                report.errors.append(f"{code}: garbage answer")
                return report
            with write_tx(rep.db):
                report.acked += outbox.acknowledge(code, channel, epoch, acked)
            _record_success(rep, code, "last_ok_push_at", answer.get("time"))
            if answer.get("blocked"):
                b = answer["blocked"]
                _record_failure(rep, code, f"对端隔离了 #{b.get('seq')} / peer quarantined #{b.get('seq')}: "
                                           f"{b.get('error')}", to_cap=True)
                report.errors.append(f"{code}: peer quarantined #{b.get('seq')}")
                return report
            if acked < rows[0].seq:
                # No progress (a gap the peer is waiting to fill): do not spin.
                _record_failure(rep, code, "对端未确认任何文档 / peer acknowledged nothing")
                return report
    finally:
        lock.release()


def batch_bytes(rep: Replicator, code: str, channel: str, rows: list[OutboxEntry],
                extra: dict[str, Any] | None = None) -> bytes:
    """The push (or pull answer) body, spliced from the stored canonical documents: the
    documents are never parsed and re-serialised on the way out (the sender's hot path)."""
    routes = [r.route for r in rows]
    origins = {json.loads(route)[0] for route in set(routes)}
    head = {"protocol": documents.PROTOCOL, "sender": rep.code, "receiver": code, "channel": channel,
            "epoch": rows[0].epoch, "acked_before": acked_floor(rows),
            "records": trust.records_for(origins), **(extra or {})}
    head_bytes = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    entries = b",".join(b'{"seq":%d,"route":%s,"doc":%s}' % (r.seq, r.route.encode("utf-8"), r.body.encode("utf-8"))
                        for r in rows)
    return head_bytes[:-1] + b',"entries":[' + entries + b"]}"


def acked_floor(rows: list[OutboxEntry]) -> int:
    """What the receiver has acknowledged in this epoch, as the outbox shows it.

    ``outbox.pending`` starts at the lowest entry still queued in the epoch, and an entry
    leaves the outbox only when the receiver acknowledges it (``outbox.acknowledge``;
    re-addressing renumbers, it does not delete), so every lower number was acknowledged.
    A receiver whose mark is below this lost those applies with a restore (F8; rule 4)."""
    return rows[0].seq - 1


def _batch_from_rows(rep: Replicator, code: str, channel: str, rows: list[OutboxEntry]) -> Batch:
    entries = [Entry(r.seq, json.loads(r.route), json.loads(r.body)) for r in rows]
    origins = {e.doc["origin"] for e in entries}
    records = trust.records_for(origins)
    return Batch(sender=rep.code, receiver=code, channel=channel, epoch=rows[0].epoch, entries=entries,
                 records=records, acked_before=acked_floor(rows))


def serve_pull(rep: Replicator, child: str, channel: str, marks: dict[str, int]) -> bytes:
    """At the parent: acknowledge what the child holds, hand it the next batch (rule 9)."""
    with write_tx(rep.db):
        for epoch, hwm in marks.items():
            outbox.acknowledge(child, channel, epoch, hwm)
    rows = outbox.pending(child, channel, rep.settings.batch_size, rep.settings.max_batch_bytes)
    if rows:
        epochs.note_sent(rep, child, channel, rows[0].epoch, rows[-1].seq)
        more = outbox.backlog(child) > len(rows)
        return batch_bytes(rep, child, channel, rows, {"more": more, "time": rep.now().isoformat()})
    batch = Batch(sender=rep.code, receiver=child, channel=channel, epoch=rep.epoch(), entries=[],
                  records=[]).to_dict()
    batch["more"] = False
    batch["time"] = rep.now().isoformat()
    return json.dumps(batch, ensure_ascii=False).encode("utf-8")


def pull(rep: Replicator, code: str, channel: str, *, force: bool = False) -> SyncReport:
    """At the child: pull from the parent until it has nothing more for us."""
    report = SyncReport()
    lock = rep.lock_for("pull:" + code, channel)
    if not lock.acquire(blocking=False):
        return report
    try:
        for _ in range(10_000):
            link = Link.get_or_none(Link.code == code)
            if link is None or link.role != "parent" or not _due(link, rep.now(), force):
                return report
            marks = {m.epoch: m.hwm for m in InboxMark.select().where(
                (InboxMark.peer == code) & (InboxMark.channel == channel))}
            payload = {"protocol": documents.PROTOCOL, "sender": rep.code, "receiver": code,
                       "channel": channel, "marks": marks,
                       # our own rotation statements, so a parent that has not seen our new
                       # key yet can verify this request (F11). Only ours: an ancestor's reach
                       # the parent from above, and walking our chain cost ~6 queries a poll
                       "records": trust.rotations_of(rep.code)}
            try:
                resp = signed_post(rep, link.url.rstrip("/") + PULL_PATH, payload)
            except requests.RequestException as exc:
                _record_failure(rep, code, f"{type(exc).__name__}: {exc}")
                report.errors.append(f"{code}: {exc}")
                return report
            if resp.status_code != 200:
                _handle_refusal(rep, code, resp)
                report.errors.append(f"{code}: {_error_message(resp)}")
                return report
            try:
                data = resp.json()
                more = bool(data.pop("more", False))
                peer_time = data.pop("time", None)
                batch = Batch.from_dict(data, rep.settings.batch_size)
            except (ValueError, documents.EnvelopeError) as exc:
                _record_failure(rep, code, f"对端应答无法解析 / garbage answer from parent: {exc}")
                report.errors.append(f"{code}: garbage answer")
                return report
            _record_success(rep, code, "last_ok_pull_at", peer_time, link)
            if not batch.entries:
                return report
            try:
                outcome = receive(rep, batch, code)
            except ReceiveError as exc:
                report.errors.append(f"{code}: {exc.message}")
                return report
            report.pulled += outcome.applied
            if outcome.blocked or outcome.applied == 0 and not more:
                return report
            # loop: the next pull acknowledges what we just applied
        return report
    finally:
        lock.release()


def sync_all(rep: Replicator, *, force: bool = False, channels: tuple[str, ...] = documents.CHANNELS) -> SyncReport:
    """One round: push on every link with something pending, pull from the parent."""
    report = SyncReport()
    links = list(Link.select().where(Link.state == "active"))
    pending_dests = {r.dest for r in OutboxEntry.select(OutboxEntry.dest).distinct()}
    for link in links:
        if link.code in pending_dests and not link.pull_only:
            for channel in channels:
                report.merge(push(rep, link.code, channel, force=force))
    for link in links:
        if link.role == "parent":
            for channel in channels:
                report.merge(pull(rep, link.code, channel, force=force))
    return report
