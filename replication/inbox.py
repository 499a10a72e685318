"""The receiving side: apply a batch exactly once, in order (RELIABILITY rules 4-8, 12, 15-16).

``receive`` runs one write transaction per batch: for each entry in sequence order it
checks the policy and the origin's signature, calls the kind's handler inside a
savepoint, and advances the high-water mark of (peer, epoch, channel) in the same
transaction. Entries ahead of a gap are buffered in ``InboxPending``; an entry at or
below the mark is a duplicate (answered, not applied) unless its content differs, which
is an alarm: the whole batch is refused with 409 and the link stops (rule 5, F8). A
document that fails goes to ``Quarantine`` and its channel waits there (rule 8). The
acknowledgement is the mark after the commit (rule 6).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import IntegrityError

from federation import trust
from federation.docsign import DocumentSignatureError, verify_document
from federation.models import Link
from federation.storage import write_tx
from replication import documents
from replication.documents import Batch, Entry
from replication.engine import Delivery, Replicator
from replication.models import InboxMark, InboxPending, InboxReceipt, Quarantine, ReplicationAudit
from replication.registry import ApplyError

log = logging.getLogger(__name__)


class ReceiveError(Exception):
    """Refusal of a whole batch: HTTP status, code, message (nothing was applied)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass
class Outcome:
    acked: int
    applied: int
    duplicates: int
    buffered: int
    blocked: dict[str, Any] | None

    def to_dict(self, rep: Replicator, batch: Batch) -> dict[str, Any]:
        return {"protocol": documents.PROTOCOL, "receiver": rep.code, "sender": batch.sender,
                "channel": batch.channel, "epoch": batch.epoch, "acked": self.acked,
                "applied": self.applied, "duplicates": self.duplicates, "buffered": self.buffered,
                "blocked": self.blocked, "time": rep.now().isoformat()}


def audit(rep: Replicator, action: str, peer: str | None, detail: str, actor: str = "system") -> None:
    ReplicationAudit.insert(at=rep.now(), actor=actor, action=action, peer=peer, detail=detail).execute()


def peer_link(code: str) -> Link:
    link = Link.get_or_none(Link.code == code)
    if link is None or link.role not in ("parent", "child"):
        raise ReceiveError(403, "not_linked", f"节点 {code} 不是本节点的链路 / {code} is not linked to this node")
    if link.state == "revoked":
        raise ReceiveError(403, "revoked", f"节点 {code} 已被吊销 / {code} has been revoked")
    if link.state == "stopped":
        raise ReceiveError(409, "link_stopped",
                           f"与 {code} 的链路因冲突已停止，需管理员处理 / link to {code} is stopped: {link.state_reason}")
    return link


def receive(rep: Replicator, batch: Batch, hop_sender: str) -> Outcome:
    """Apply a batch that ``hop_sender`` (already authenticated) sent us."""
    if batch.sender != hop_sender:
        raise ReceiveError(403, "sender_mismatch", "批次发送方与签名不符 / batch sender differs from the signer")
    if batch.receiver != rep.code:
        raise ReceiveError(403, "wrong_receiver", f"批次接收方应为 {batch.receiver} / batch is addressed to another node")
    link = peer_link(hop_sender)
    with rep.lock_for(hop_sender, batch.channel):
        try:
            try:
                # Fast path: the whole batch in one transaction, no savepoint per document.
                with write_tx(rep.db):
                    return _receive_locked(rep, batch, link, _BatchState(savepoints=False))
            except _SlowPath:
                # Some document failed: everything above was rolled back. Apply again with
                # a savepoint per document so the good ones commit and the bad one is held.
                with write_tx(rep.db):
                    return _receive_locked(rep, batch, link, _BatchState(savepoints=True))
        except _Conflict as conflict:
            _stop_link(rep, hop_sender, conflict.message)
            raise ReceiveError(409, "conflict", conflict.message) from None


class _SlowPath(Exception):
    """A document failed on the fast path: redo the batch with savepoints."""


@dataclass
class _BatchState:
    savepoints: bool
    keys: dict[str, str | None] = field(default_factory=dict)
    held: bool | None = None
    unsigned: dict[int, bytes] = field(default_factory=dict)   # id(doc) -> signed bytes

    def resolve_key(self, key_id: str) -> str | None:
        # one lookup per key per batch: a batch usually carries documents of few origins
        if key_id not in self.keys:
            self.keys[key_id] = trust.resolve_key(key_id)
        return self.keys[key_id]


class _Conflict(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _stop_link(rep: Replicator, peer: str, reason: str) -> None:
    with write_tx(rep.db):
        Link.update(state="stopped", state_reason=reason, last_error=reason,
                    last_error_at=rep.now()).where(Link.code == peer).execute()
        audit(rep, "conflict", peer, reason)
    log.error("link %s stopped: %s", peer, reason)


def _receive_locked(rep: Replicator, batch: Batch, link: Link, state: _BatchState) -> Outcome:
    now = rep.now()
    if batch.records:
        try:
            trust.learn_records(batch.records, rep.is_within, now, vouched_by=link.code)
        except trust.TrustError as exc:
            # Documents that need these records will fail their signature check and wait
            # in quarantine with the reason; the batch itself is still processed.
            log.warning("records from %s refused: %s", link.code, exc)
    key = (link.code, batch.epoch, batch.channel)
    mark = (InboxMark.select()
            .where((InboxMark.peer == key[0]) & (InboxMark.epoch == key[1]) & (InboxMark.channel == key[2]))
            .first())
    hwm = mark.hwm if mark else 0
    start_hwm = hwm
    if batch.acked_before > hwm:
        hwm = _skip_restore_gap(rep, key, hwm, batch.acked_before)
    receipts: list[dict[str, Any]] = []
    applied = duplicates = buffered = 0
    blocked: dict[str, Any] | None = None
    for entry in sorted(batch.entries, key=lambda e: e.seq):
        digest, unsigned = documents.digest_and_unsigned(entry.doc)
        state.unsigned[id(entry.doc)] = unsigned
        if entry.seq <= hwm:
            _check_duplicate(key, entry.seq, digest, receipts)
            duplicates += 1
            continue
        if entry.seq > hwm + 1:
            buffered += _buffer(key, entry, digest, now)
            continue
        if blocked is not None:
            continue
        error = _apply_one(rep, batch.channel, link, entry, digest, now, batch.epoch, state)
        if error is not None:
            blocked = {"seq": entry.seq, "doc_id": entry.doc.get("id"), "error": error}
            continue
        hwm += 1
        applied += 1
        receipts.append(dict(peer=key[0], epoch=key[1], channel=key[2], seq=entry.seq, digest=digest,
                             applied_at=now))
    if blocked is None:
        hwm, more = _drain_pending(rep, batch.channel, link, key, hwm, now, receipts, state)
        applied += more
    if receipts:
        InboxReceipt.insert_many(receipts).execute()
    if mark is None:
        InboxMark.insert(peer=key[0], epoch=key[1], channel=key[2], hwm=hwm, updated_at=now).execute()
    elif hwm != start_hwm:
        (InboxMark.update(hwm=hwm, updated_at=now)
            .where((InboxMark.peer == key[0]) & (InboxMark.epoch == key[1]) & (InboxMark.channel == key[2]))
            .execute())
    Link.update(last_seen_at=now).where(Link.code == link.code).execute()
    return Outcome(acked=hwm, applied=applied, duplicates=duplicates, buffered=buffered, blocked=blocked)


def _skip_restore_gap(rep: Replicator, key: tuple[str, str, str], hwm: int, floor: int) -> int:
    """The sender deleted ``hwm+1 .. floor`` because this node acknowledged them, yet our
    mark is lower: this store was restored from a backup taken before those applies. The
    numbers can never arrive again, so waiting would stall the channel forever. Jump the
    mark and raise an audited alarm naming what was lost (known gap closed; F8, rule 19).
    State-carrying documents (case versions, statistics snapshots, directive progress)
    heal with the next change; the alarm tells the operator what to re-check."""
    peer, epoch, channel = key
    (InboxPending.delete()
        .where((InboxPending.peer == peer) & (InboxPending.epoch == epoch)
               & (InboxPending.channel == channel) & (InboxPending.seq <= floor))
        .execute())
    # a document held in the restored quarantine was retried or skipped after the backup
    # (the sender saw it acknowledged): it no longer heads the channel
    (Quarantine.update(state="superseded")
        .where((Quarantine.peer == peer) & (Quarantine.epoch == epoch) & (Quarantine.channel == channel)
               & (Quarantine.seq <= floor) & (Quarantine.state == "held"))
        .execute())
    lost = f"#{hwm + 1}" if floor == hwm + 1 else f"#{hwm + 1}–#{floor}"
    detail = (f"{channel} {lost}（{floor - hwm} 份）epoch {epoch}：对端已确认删除，本节点恢复备份后缺失，"
              f"其效果需核对 / {floor - hwm} document(s) {lost} that {peer} deleted as acknowledged are "
              f"missing here (store restored from an older backup); mark moved on, check their effects")
    audit(rep, "restore_gap", peer, detail)
    log.error("restore gap from %s: %s", peer, detail)
    return floor


def _check_duplicate(key: tuple[str, str, str], seq: int, digest: str, receipts: list[dict[str, Any]]) -> None:
    known = next((r["digest"] for r in receipts if r["seq"] == seq), None)
    if known is None:
        row = (InboxReceipt.select(InboxReceipt.digest)
               .where((InboxReceipt.peer == key[0]) & (InboxReceipt.epoch == key[1])
                      & (InboxReceipt.channel == key[2]) & (InboxReceipt.seq == seq))
               .first())
        known = row.digest if row else None
    if known is not None and known != digest:
        raise _Conflict(f"同一序号内容不同：{key[0]} epoch {key[1]} {key[2]} #{seq} / same sequence number, "
                        f"different content (restored from a backup without a new epoch?)")


def _buffer(key: tuple[str, str, str], entry: Entry, digest: str, now: datetime) -> int:
    existing = (InboxPending.select(InboxPending.digest)
                .where((InboxPending.peer == key[0]) & (InboxPending.epoch == key[1])
                       & (InboxPending.channel == key[2]) & (InboxPending.seq == entry.seq))
                .first())
    if existing is not None:
        if existing.digest != digest:
            raise _Conflict(f"缓冲中的同一序号内容不同 / buffered #{entry.seq} from {key[0]} differs")
        return 0
    InboxPending.insert(peer=key[0], epoch=key[1], channel=key[2], seq=entry.seq, digest=digest,
                        body=json.dumps(entry.doc, ensure_ascii=False), route=json.dumps(entry.route),
                        received_at=now).execute()
    return 1


def _drain_pending(rep: Replicator, channel: str, link: Link, key: tuple[str, str, str], hwm: int,
                   now: datetime, receipts: list[dict[str, Any]],
                   state: _BatchState | None = None) -> tuple[int, int]:
    state = state or _BatchState(savepoints=True)
    applied = 0
    while True:
        row = (InboxPending.select()
               .where((InboxPending.peer == key[0]) & (InboxPending.epoch == key[1])
                      & (InboxPending.channel == key[2]) & (InboxPending.seq == hwm + 1))
               .first())
        if row is None:
            break
        entry = Entry(row.seq, json.loads(row.route), json.loads(row.body))
        error = _apply_one(rep, channel, link, entry, row.digest, now, key[1], state)
        if error is not None:
            break
        (InboxPending.delete()
            .where((InboxPending.peer == key[0]) & (InboxPending.epoch == key[1])
                   & (InboxPending.channel == key[2]) & (InboxPending.seq == row.seq))
            .execute())
        hwm += 1
        applied += 1
        receipts.append(dict(peer=key[0], epoch=key[1], channel=key[2], seq=row.seq, digest=row.digest,
                             applied_at=now))
    return hwm, applied


def _apply_one(rep: Replicator, channel: str, link: Link, entry: Entry, digest: str, now: datetime,
               epoch: str, state: _BatchState | None = None) -> str | None:
    """Check and apply one document. With savepoints, a failure is quarantined and its
    effects (forwards included) rolled back, and the reason returned; without (the fast
    path), a failure aborts the batch so it can be redone with savepoints."""
    state = state or _BatchState(savepoints=True)
    if not state.savepoints:
        try:
            _check_and_apply(rep, channel, link, entry, now, state)
        except Exception as exc:
            raise _SlowPath() from exc
        return None
    try:
        with rep.db.atomic():
            _check_and_apply(rep, channel, link, entry, now, state)
    except Exception as exc:  # every failure is visible in quarantine, never lost
        reason = _reason(exc)
        _quarantine(rep, link.code, epoch, channel, entry, digest, reason, now)
        log.warning("quarantined %s #%s from %s: %s", entry.doc.get("kind"), entry.seq, link.code, reason)
        return reason
    if state.held is None:
        state.held = (Quarantine.select()
                      .where((Quarantine.peer == link.code) & (Quarantine.channel == channel)
                             & (Quarantine.state == "held"))
                      .exists())
    if state.held:
        (Quarantine.update(state="retried")
            .where((Quarantine.peer == link.code) & (Quarantine.channel == channel) & (Quarantine.seq == entry.seq)
                   & (Quarantine.digest == digest) & (Quarantine.state == "held"))
            .execute())
    return None


def _check_and_apply(rep: Replicator, channel: str, link: Link, entry: Entry, now: datetime,
                     state: _BatchState) -> None:
    check_document(rep, channel, link, entry, state.resolve_key, state.unsigned.get(id(entry.doc)))
    handler = rep.registry.get(str(entry.doc["kind"]))
    if handler is None:
        raise ApplyError(f"未知文档类型 {entry.doc['kind']} / no handler for kind {entry.doc['kind']}")
    handler(Delivery(rep=rep, doc=entry.doc, sender=link.code, sender_role=link.role,
                     route=list(entry.route), now=now))


def _reason(exc: Exception) -> str:
    if isinstance(exc, (trust.TrustError, DocumentSignatureError)):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, ApplyError):
        return str(exc)
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return f"{type(exc).__name__}: {exc}"
    # Anything else is a bug in a handler or a failing database: say so, keep the doc.
    log.exception("handler failed")
    return f"{type(exc).__name__}: {exc}"


def check_document(rep: Replicator, channel: str, link: Link, entry: Entry,
                   resolve_key: Any = None, unsigned: bytes | None = None) -> None:
    """Policy (rules 15-16) and origin signature (rule 12) of one arriving document."""
    doc = entry.doc
    if doc["channel"] != channel:
        raise ApplyError(f"文档通道 {doc['channel']} 与批次通道 {channel} 不符 / channel mismatch")
    if not entry.route or entry.route[-1] != link.code:
        raise trust.TrustError("bad_route", "路由须以发送方结尾 / route must end with the sending node")
    if entry.route[0] != doc["origin"]:
        raise trust.TrustError("bad_route", "路由须以来源节点开头 / route must start at the origin")
    dest = str(doc["dest"])
    if link.role == "parent" and doc["kind"] in rep.registry.fanout and rep.is_within(rep.code, dest):
        # A fan-out document (documents.py: dest is its origin's code, the subtree it is
        # for) arriving from the parent is addressed into this node's subtree when this
        # node lies inside that subtree; the policy below then holds it to that.
        dest = rep.code
    trust.policy_check(link.code, link.role, str(doc["origin"]), dest, entry.route, rep.code,
                       rep.is_within)
    sig = doc.get("sig") or {}
    key_id = sig.get("key_id") if isinstance(sig, dict) else None
    if not isinstance(key_id, str) or key_id.partition("#")[0] != doc["origin"]:
        raise trust.TrustError("bad_signature", "文档签名密钥不属于来源节点 / the signing key is not the origin's")
    verify_document(doc, resolve_key or trust.resolve_key, unsigned=unsigned)


def _quarantine(rep: Replicator, peer: str, epoch: str, channel: str, entry: Entry, digest: str, reason: str,
                now: datetime) -> None:
    body = json.dumps(entry.doc, ensure_ascii=False)
    try:
        with rep.db.atomic():
            Quarantine.insert(peer=peer, epoch=epoch, channel=channel,
                              seq=entry.seq, doc_kind=str(entry.doc.get("kind")), doc_id=str(entry.doc.get("id")),
                              digest=digest, body=body, route=json.dumps(entry.route), error=reason,
                              created_at=now).execute()
            audit(rep, "quarantine", peer, f"{channel} #{entry.seq} {entry.doc.get('kind')}: {reason}")
    except IntegrityError:
        (Quarantine.update(error=reason, attempts=Quarantine.attempts + 1, state="held")
            .where((Quarantine.peer == peer) & (Quarantine.epoch == epoch) & (Quarantine.channel == channel)
                   & (Quarantine.seq == entry.seq))
            .execute())


def prune_receipts(rep: Replicator) -> int:
    """Receipts older than ``receipt_keep_days`` go; the high-water marks stay forever."""
    cutoff = rep.now() - timedelta(days=rep.settings.receipt_keep_days)
    return int(InboxReceipt.delete().where(InboxReceipt.applied_at < cutoff).execute())
