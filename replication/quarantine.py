"""Quarantined documents: list, retry, skip — every decision audited (RELIABILITY rule 8, F13)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from federation.models import Link
from federation.storage import write_tx
from replication.documents import Entry
from replication.engine import Replicator
from replication.inbox import _apply_one, _drain_pending, audit
from replication.models import InboxMark, InboxReceipt, Quarantine


class QuarantineError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def list_held(include_done: bool = False) -> list[dict[str, Any]]:
    q = Quarantine.select().order_by(Quarantine.id)
    if not include_done:
        q = q.where(Quarantine.state == "held")
    return [{"id": r.id, "peer": r.peer, "channel": r.channel, "seq": r.seq, "kind": r.doc_kind,
             "doc_id": r.doc_id, "error": r.error, "state": r.state, "attempts": r.attempts,
             "created_at": r.created_at.isoformat() if r.created_at else None} for r in q]


def _held(qid: int) -> Quarantine:
    row = Quarantine.get_or_none(Quarantine.id == qid)
    if row is None:
        raise QuarantineError(404, f"没有编号为 {qid} 的隔离文档 / no quarantined document {qid}")
    if row.state != "held":
        raise QuarantineError(409, f"隔离文档 {qid} 已处理（{row.state}）/ already {row.state}")
    return row


def _mark_for(row: Quarantine) -> tuple[InboxMark, str]:
    marks = list(InboxMark.select().where((InboxMark.peer == row.peer) & (InboxMark.channel == row.channel)
                                          & (InboxMark.epoch == row.epoch) & (InboxMark.hwm == row.seq - 1)))
    if not marks and row.seq == 1:
        InboxMark.insert(peer=row.peer, epoch=row.epoch, channel=row.channel, hwm=0, updated_at=datetime.now(UTC)).execute()
        marks = list(InboxMark.select().where((InboxMark.peer == row.peer) & (InboxMark.channel == row.channel)
                                              & (InboxMark.epoch == row.epoch)))
    if len(marks) != 1:
        raise QuarantineError(409, "该文档已不在通道队首 / the document no longer heads its channel")
    return marks[0], marks[0].epoch


def retry(rep: Replicator, qid: int, actor: str) -> dict[str, Any]:
    """Apply the held document again; on success its channel moves on."""
    with write_tx(rep.db):
        row = _held(qid)
        mark, epoch = _mark_for(row)
        link = Link.get(Link.code == row.peer)
        entry = Entry(row.seq, json.loads(row.route), json.loads(row.body))
        now = rep.now()
        error = _apply_one(rep, row.channel, link, entry, row.digest, now, epoch)
        audit(rep, "retry", row.peer, f"#{qid} {row.channel} seq {row.seq}: {error or 'applied'}", actor)
        if error is not None:
            return {"id": qid, "state": "held", "error": error}
        receipts = [dict(peer=row.peer, epoch=epoch, channel=row.channel, seq=row.seq, digest=row.digest,
                         applied_at=now)]
        hwm, _ = _drain_pending(rep, row.channel, link, (row.peer, epoch, row.channel), row.seq, now, receipts)
        InboxReceipt.insert_many(receipts).execute()
        InboxMark.update(hwm=hwm, updated_at=now).where(
            (InboxMark.peer == row.peer) & (InboxMark.epoch == epoch) & (InboxMark.channel == row.channel)).execute()
        Quarantine.update(state="retried").where(Quarantine.id == qid).execute()
    return {"id": qid, "state": "retried", "acked": hwm}


def skip(rep: Replicator, qid: int, actor: str, reason: str) -> dict[str, Any]:
    """Pass over the held document without applying it (audited; the sender sees it acked)."""
    if not reason.strip():
        raise QuarantineError(422, "跳过须说明理由 / a reason is required to skip")
    with write_tx(rep.db):
        row = _held(qid)
        mark, epoch = _mark_for(row)
        link = Link.get(Link.code == row.peer)
        now = rep.now()
        receipts = [dict(peer=row.peer, epoch=epoch, channel=row.channel, seq=row.seq, digest=row.digest,
                         applied_at=now)]
        hwm, _ = _drain_pending(rep, row.channel, link, (row.peer, epoch, row.channel), row.seq, now, receipts)
        InboxReceipt.insert_many(receipts).execute()
        InboxMark.update(hwm=hwm, updated_at=now).where(
            (InboxMark.peer == row.peer) & (InboxMark.epoch == epoch) & (InboxMark.channel == row.channel)).execute()
        Quarantine.update(state="skipped").where(Quarantine.id == qid).execute()
        audit(rep, "skip", row.peer, f"#{qid} {row.channel} seq {row.seq} {row.doc_kind} skipped: {reason}", actor)
    return {"id": qid, "state": "skipped", "acked": hwm}
