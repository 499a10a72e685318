"""Walking the audit chain (issue 13 item 4; CONTRACT §11 ``n12315 audit verify``).

From the first entry on, every entry's hash is recomputed and its ``prev_hash`` compared with
the entry before; the numbers must run 1, 2, 3 … without a gap; the head row must end where the
chain ends; every signed head must carry a good signature by one of this node's keys and match
the entry it names. The first damage found is named with what happened to it:

* ``changed`` — an entry whose content no longer hashes to its stored hash (or whose content
  was re-hashed after it was signed);
* ``removed`` — a gap, an entry pointing at one that is not there, or a chain that ends before
  the head row or a signed head says it did;
* ``inserted`` — an entry the next one links past, or one beyond the head row.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from federation import keys as fkeys
from federation.models import KnownKey
from node.audit.models import GENESIS, AuditEntry, AuditHead, AuditSeal
from node.audit.service import hash_of, seal_body
from node.runtime import Node

BATCH = 2000


@dataclass(frozen=True)
class Finding:
    seq: int
    problem: str                 # changed | removed | inserted
    at: str | None               # of the entry named (None: it is gone)
    action: str | None
    message: str
    following: dict | None = None   # for a removal: the entry after the gap

    def to_dict(self) -> dict:
        return {"seq": self.seq, "problem": self.problem, "at": self.at, "action": self.action,
                "following": self.following, "message": self.message}

    def line(self) -> str:
        return self.message


@dataclass(frozen=True)
class Report:
    ok: bool
    entries: int
    head_seq: int
    signed_heads: int
    last_signed: dict | None
    first_bad: Finding | None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
                "signed_heads": self.signed_heads, "last_signed": self.last_signed,
                "first_bad": self.first_bad.to_dict() if self.first_bad else None}


def _brief(row: AuditEntry) -> dict:
    return {"seq": row.seq, "at": row.at, "action": row.action}


def _changed(row: AuditEntry, why: str = "") -> Finding:
    return Finding(row.seq, "changed", row.at, row.action,
                   why or f"审计记录 #{row.seq}（{row.at} {row.action}）已被修改 / audit entry #{row.seq} "
                          f"({row.at} {row.action}) was changed: its content no longer matches its hash")


def _inserted(row: AuditEntry, why: str) -> Finding:
    return Finding(row.seq, "inserted", row.at, row.action,
                   f"审计记录 #{row.seq}（{row.at} {row.action}）是插入的 / audit entry #{row.seq} "
                   f"({row.at} {row.action}) was inserted: {why}")


def _removed(missing: int, following: AuditEntry | None, why: str) -> Finding:
    return Finding(missing, "removed", None, None,
                   f"审计记录 #{missing} 已被删除 / audit entry #{missing} was removed: {why}",
                   _brief(following) if following is not None else None)


def _rows(after_seq: int) -> Iterator[AuditEntry]:
    """Entries after ``after_seq`` in order, in batches (a long log is not held in memory)."""
    last = after_seq
    while True:
        batch = list(AuditEntry.select()
                     .where(AuditEntry.seq > last)
                     .order_by(AuditEntry.seq)
                     .limit(BATCH))
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1].seq


def _pairs(rows: Iterable[AuditEntry]) -> Iterator[tuple[AuditEntry, AuditEntry | None]]:
    it = iter(rows)
    current = next(it, None)
    while current is not None:
        nxt = next(it, None)
        yield current, nxt
        current = nxt


@dataclass
class _Walk:
    count: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    finding: Finding | None = None


def _walk(start_seq: int, start_hash: str, seals_at: dict[int, list[AuditSeal]]) -> _Walk:
    w = _Walk(last_seq=start_seq, last_hash=start_hash)
    for row, nxt in _pairs(_rows(start_seq)):
        w.count += 1
        expected = w.last_seq + 1
        # the next entry points where this one points: it was put in between
        skipped = nxt is not None and nxt.prev_hash == w.last_hash and nxt.prev_hash != row.hash
        if hash_of(row) != row.hash:
            w.finding = (_inserted(row, "the entry after it links to the one before it") if skipped
                         else _changed(row))
            return w
        if row.prev_hash != w.last_hash or row.seq != expected:
            gap = f"#{expected}–#{row.seq - 1} missing before #{row.seq}" if row.seq > expected + 1 else (
                f"#{expected} missing before #{row.seq}" if row.seq > expected else
                f"#{row.seq} ({row.at} {row.action}) points to an entry that is not there")
            w.finding = _removed(expected if row.seq > expected else row.seq, row, gap)
            return w
        if skipped:
            w.finding = _inserted(row, "the entry after it links to the one before it")
            return w
        for seal in seals_at.get(row.seq, ()):
            if seal.hash != row.hash:
                w.finding = _changed(row, f"审计记录 #{row.seq} 与 {seal.signed_at} 签名的链头不符 / the chain up to "
                                          f"entry #{row.seq} ({row.at} {row.action}) was rewritten after its head "
                                          f"was signed at {seal.signed_at}")
                return w
        w.last_seq, w.last_hash = row.seq, row.hash
    return w


def _public_key(node: Node, key_id: str) -> str | None:
    """One of this node's own keys: the one in use (from its key file) or one rotated out."""
    if key_id == node.keypair.key_id:
        return node.keypair.public_b64
    row = KnownKey.get_or_none((KnownKey.key_id == key_id) & (KnownKey.node_code == node.code))
    return row.public_key if row is not None else None


def _seal_ok(node: Node, seal: AuditSeal) -> bool:
    public = _public_key(node, seal.key_id)
    if public is None:
        return False
    try:
        return fkeys.verify(public, seal_body(node.code, seal.seq, seal.hash, seal.signed_at), seal.signature)
    except fkeys.KeyFormatError:
        return False


def _tail(node: Node, w: _Walk, seals: list[AuditSeal]) -> Finding | None:
    """Where the chain ends, against the head row and the newest signed head."""
    head = AuditHead.get_or_none(AuditHead.id == 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    if head_seq < w.last_seq:
        first = AuditEntry.get(AuditEntry.seq == head_seq + 1)
        return _inserted(first, f"the log's head ends at #{head_seq}; nothing after it was appended by the node")
    signed = max((s.seq for s in seals), default=0)
    if max(head_seq, signed) > w.last_seq:
        end = max(head_seq, signed)
        why = (f"the chain ends at #{w.last_seq} but the head signed at "
               f"{max((s for s in seals if s.seq == signed), key=lambda s: s.id).signed_at} names #{signed}"
               if signed > head_seq else f"the chain ends at #{w.last_seq} but the head names #{head_seq}")
        return _removed(w.last_seq + 1, None, f"#{w.last_seq + 1}–#{end} cut from the end ({why})")
    if head_hash != w.last_hash:
        last = AuditEntry.get(AuditEntry.seq == w.last_seq)
        return _changed(last, f"审计记录 #{last.seq}（{last.at} {last.action}）已被替换 / audit entry #{last.seq} "
                              f"({last.at} {last.action}) was replaced: the head row holds another hash")
    return None


def verify(node: Node) -> Report:
    """Walk every chain of the node's audit log; name the first damage (CONTRACT §11)."""
    with node.activate():
        seals = list(AuditSeal.select().order_by(AuditSeal.seq, AuditSeal.id))
        bad_seal = next((s for s in seals if not _seal_ok(node, s)), None)
        good = [s for s in seals if s is not bad_seal and _seal_ok(node, s)] if bad_seal else seals
        seals_at: dict[int, list[AuditSeal]] = {}
        for seal in good:
            seals_at.setdefault(seal.seq, []).append(seal)
        w = _walk(0, GENESIS, seals_at)
        finding = w.finding or _tail(node, w, good)
        if bad_seal is not None and (finding is None or bad_seal.seq < finding.seq):
            row = AuditEntry.get_or_none(AuditEntry.seq == bad_seal.seq)
            finding = Finding(bad_seal.seq, "changed", row.at if row else None, row.action if row else None,
                              f"链头签名无效 #{bad_seal.seq} / the signed head at #{bad_seal.seq} "
                              f"({bad_seal.signed_at}) does not verify with this node's keys: forged or altered")
        total = AuditEntry.select().count()
        last = good[-1] if good else None
        return Report(ok=finding is None, entries=total, head_seq=w.last_seq, signed_heads=len(good),
                      last_signed={"seq": last.seq, "signed_at": last.signed_at, "key_id": last.key_id} if last else None,
                      first_bad=finding)


def check_since(node: Node, seal: AuditSeal | None) -> Finding | None:
    """The entries after a signed head (all when None) still chain on from it (before signing)."""
    if seal is None:
        w = _walk(0, GENESIS, {})
    else:
        anchor = AuditEntry.get_or_none(AuditEntry.seq == seal.seq)
        if anchor is None or anchor.hash != seal.hash:
            return _removed(seal.seq, None, f"the entry signed at {seal.signed_at} is not there as signed")
        w = _walk(seal.seq, seal.hash, {})
    return w.finding or _tail(node, w, [])
