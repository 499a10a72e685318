"""Case history hash-chained like the audit log (issue 13 item 4; docs/audit.md "Case history").

Each ``CaseEvent`` carries ``prev_hash`` — the hash of the case's event before it, or the
case's genesis ``SHA-256(canonical {"case_history": case_id})`` for the first — and ``hash``,
SHA-256 over the canonical JSON of its content (case id, time, node, actor, action, from/to
status, note, data) with ``prev_hash``. One chain per case, in the order its events were
appended at this node (``id``), which is also the order they travel in (``fetch_events``), so a
copy that stores what it received builds the very same hashes as the handler.

``chain_events`` fills the two columns wherever events are appended (the lifecycle's
``commit_change``, a copy's arrivals, bulk import); ``verify_history`` walks every case's chain
for ``n12315 audit verify`` and names, per case, the first event changed, removed or inserted.

Sealed heads. A chain alone cannot show an event cut from its very end. So every append (and a
copy's superseding) also writes a ``case_head_mark`` row for the case, in the same transaction
(``mark_heads``); when the audit head is signed, ``seal_case_heads`` (a seal hook of
``node.audit``, in the seal's own transaction) turns the marked cases into ``case_head_seal``
rows — case id, number of current events, hash of the last — and appends one ``case.heads``
audit entry holding their number and a SHA-256 over them, which the signature then covers.
``verify_history`` checks each snapshot against its entry and each sealed head against the
case's chain: fewer events than sealed is a cut from the end, a whole case gone is named too.
What is appended after the newest seal is not covered until the next one (the report says up
to which seal it checked and how many cases are pending).

Why marks, not a per-case head row with a "pending" flag: the seal would have to clear flags
on rows that writers update, and on PostgreSQL a writer holding such a row and then appending
to the audit log, against a seal holding the audit head and clearing that row, deadlock. Marks
are only ever inserted by writers and deleted by the seal (exactly the ones it read), and the
seal takes the audit head's lock before anything else, so neither ever waits on the other. The
head itself is read from ``case_event`` at seal time — the same thing a stored head would say.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from federation.canonical import canonical_bytes
from node.audit import AuditEntry, AuditSeal, next_seq, record
from node.cases.models import CaseEvent, CaseHeadMark, CaseHeadSeal

BATCH = 5000
MAX_LISTED = 100
HEADS_ACTION = "case.heads"
DIVERGED_ACTION = "case.history-diverged"
CHUNK = 1000


def genesis(case_id: str) -> str:
    """The ``prev_hash`` of a case's first event."""
    return hashlib.sha256(canonical_bytes({"case_history": str(case_id)})).hexdigest()


def at_text(at: Any) -> str:
    """The one text form of an event's time that is hashed (naive UTC, microseconds)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def event_hash(e: Mapping[str, Any], prev_hash: str) -> str:
    data = e.get("data")
    if data is None:
        data = "{}"
    elif not isinstance(data, str):
        data = canonical_bytes(data).decode("utf-8")
    body = {"case_id": str(e["case_id"]), "at": at_text(e["at"]), "node": str(e["node"]),
            "actor": str(e["actor"]), "action": str(e["action"]), "from_status": e.get("from_status"),
            "to_status": e.get("to_status"), "note": e.get("note") or "", "data": data,
            "prev_hash": prev_hash}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def chain_onto(events: Iterable[dict[str, Any]], heads: dict[str, str]) -> None:
    """Set ``prev_hash``/``hash`` on each event (in order), continuing from ``heads`` (case id →
    hash of its last event; a case missing there starts at its genesis); ``heads`` moves on."""
    for e in events:
        cid = str(e["case_id"])
        prev = heads.get(cid) or genesis(cid)
        e["prev_hash"] = prev
        e["hash"] = heads[cid] = event_hash(e, prev)


def last_hashes(db: Any, case_ids: Iterable[str]) -> dict[str, str]:
    """The hash of each case's newest current event (one statement)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    p = db.param
    marks = ", ".join([p] * len(ids))
    sql = (f'SELECT "case_id", "hash" FROM "case_event" WHERE "id" IN (SELECT MAX("id") FROM "case_event" '
           f'WHERE "case_id" IN ({marks}) AND "superseded" IS NULL GROUP BY "case_id")')
    return {cid: h for cid, h in db.execute_sql(sql, ids).fetchall() if h}


def chain_events(db: Any, events: list[dict[str, Any]], new_cases: Iterable[str] = ()) -> None:
    """Chain events about to be appended: onto each case's newest event in ``db``, or from the
    genesis for the ``new_cases`` (no look-up). Call inside the write transaction that inserts
    them, after the case row is written or locked, so no other writer appends in between."""
    fresh = set(new_cases)
    touched = {str(e["case_id"]) for e in events}
    heads = last_hashes(db, touched - fresh)
    chain_onto(events, heads)
    mark_heads(db, touched)


# -- sealed heads (issue 13 item 4: a cut from the end) -------------------------------------------
def mark_heads(db: Any, case_ids: Iterable[str]) -> None:
    """Note that these cases' histories grew or changed, so the next seal records their heads.
    Call in the transaction that appends (or supersedes) their events: the mark commits with
    them or not at all. ``chain_events`` does; a copy storing what arrived calls it itself."""
    ids = list(dict.fromkeys(str(c) for c in case_ids))
    p = db.param
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        db.execute_sql('INSERT INTO "case_head_mark" ("case_id") VALUES ' + ", ".join([f"({p})"] * len(chunk)),
                       chunk)


def current_heads(db: Any, case_ids: list[str]) -> dict[str, tuple[int, str]]:
    """Per case: how many current events it has and the hash of the last (one statement)."""
    p = db.param
    marks = ", ".join([p] * len(case_ids))
    sql = ('SELECT e."case_id", c."n", e."hash" FROM "case_event" e JOIN (SELECT MAX("id") AS "last", '
           f'COUNT(*) AS "n" FROM "case_event" WHERE "case_id" IN ({marks}) AND "superseded" IS NULL '
           'GROUP BY "case_id") c ON e."id" = c."last"')
    return {cid: (int(n), h or "") for cid, n, h in db.execute_sql(sql, case_ids).fetchall()}


def heads_line(case_id: str, events: int, digest: str) -> bytes:
    """One sealed head as the ``case.heads`` digest reads it (rows in ``pos`` order)."""
    return canonical_bytes([str(case_id), int(events), str(digest)]) + b"\n"


def seal_case_heads(node: Any, now: datetime) -> dict | None:
    """The seal hook (``node.audit.add_seal_hook``; runs in the seal's transaction before the
    head is signed): the marked cases' heads become ``case_head_seal`` rows under one
    ``case.heads`` entry — ``{"cases": rows, "digest": SHA-256 over heads_line of each}`` — and
    the marks read are deleted. Cases in ``case_id`` order, a batch at a time (bounded memory at
    any number of pending cases), each once. Returns the entry, or None when no case was
    pending."""
    db = node.db
    seq = next_seq()          # the audit head is locked from here: nothing appends before our entry
    digest = hashlib.sha256()
    pos, last_case = 0, ""
    p = db.param
    while True:
        ids = [cid for (cid,) in db.execute_sql(
            f'SELECT DISTINCT "case_id" FROM "case_head_mark" WHERE "case_id" > {p} ORDER BY "case_id" '
            f'LIMIT {CHUNK}', [last_case]).fetchall()]
        if not ids:
            break
        last_case = ids[-1]
        marks = ", ".join([p] * len(ids))
        # the marks are read before the heads: a mark committed later stays for the next seal
        done = [mid for (mid,) in db.execute_sql(
            f'SELECT "id" FROM "case_head_mark" WHERE "case_id" IN ({marks})', ids).fetchall()]
        heads = current_heads(db, ids)
        rows = []
        for cid in ids:
            if cid in heads:      # a case with no current event has nothing to seal
                count, head = heads[cid]
                digest.update(heads_line(cid, count, head))
                rows.append((seq, pos, cid, count, head))
                pos += 1
        if rows:
            db.execute_sql('INSERT INTO "case_head_seal" ("entry_seq", "pos", "case_id", "events", "hash") VALUES '
                           + ", ".join([f"({p}, {p}, {p}, {p}, {p})"] * len(rows)), [v for r in rows for v in r])
        for start in range(0, len(done), CHUNK):
            chunk = done[start:start + CHUNK]
            db.execute_sql(f'DELETE FROM "case_head_mark" WHERE "id" IN ({", ".join([p] * len(chunk))})', chunk)
        if len(ids) < CHUNK:
            break
    if pos == 0:
        return None
    entry = record(node, "system", HEADS_ACTION, "", {"cases": pos, "digest": digest.hexdigest()}, now=now)
    if entry["seq"] != seq:   # cannot happen while the head is locked; never seal rows under another entry
        raise RuntimeError(f"case.heads entry got #{entry['seq']}, its rows were written under #{seq}")
    return entry


# -- the walk -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryFinding:
    case_id: str
    event_id: int | None    # None: events cut from the end, nothing left after them to name
    problem: str            # changed | removed | inserted
    at: str | None
    action: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "event_id": self.event_id, "problem": self.problem, "at": self.at,
                "action": self.action, "message": self.message}


@dataclass
class HeadsReport:
    """What the sealed heads covered (``case_histories.sealed_heads`` of ``audit verify --json``)."""
    snapshots: int = 0              # case.heads entries
    checked: int = 0                # sealed heads checked against the chains
    superseded: int = 0             # of those, judged against the history a copy kept as superseded
    pending: int = 0                # cases changed since the newest seal: covered at the next one
    covered_to: dict[str, Any] | None = None     # the newest case.heads entry and the head signing it
    bad_snapshots: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"snapshots": self.snapshots, "checked": self.checked, "superseded": self.superseded,
                "pending_cases": self.pending, "covered_to": self.covered_to, "bad_snapshots": self.bad_snapshots}

    def line(self) -> str:
        """What was covered, for the text output (issue 13 item 4: say where the check stops)."""
        c = self.covered_to
        if c is None:
            return (f"案件历史链头尚未签名，{self.pending} 件待下次签名 / no case history head sealed yet; "
                    f"{self.pending} cases are covered at the next seal")
        seal = (f"签名链头 #{c['seal_seq']}（{c['signed_at']}）" if c["seal_seq"] is not None else
                f"审计记录 #{c['entry_seq']}（未签名）")
        seal_en = (f"the head signed at #{c['seal_seq']} ({c['signed_at']})" if c["seal_seq"] is not None else
                   f"audit entry #{c['entry_seq']} (not signed)")
        return (f"案件历史链头已核至{seal}，共 {self.checked} 个；其后有新记录的 {self.pending} 件待下次签名 / "
                f"case histories covered up to {seal_en}: {self.checked} sealed heads checked; "
                f"{self.pending} cases changed since are covered at the next seal")


@dataclass
class HistoryReport:
    cases: int = 0
    events: int = 0
    superseded: int = 0
    damaged: int = 0
    findings: list[HistoryFinding] = field(default_factory=list)
    heads: HeadsReport = field(default_factory=HeadsReport)

    @property
    def ok(self) -> bool:
        return self.damaged == 0 and not self.heads.bad_snapshots

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases": self.cases, "events": self.events, "superseded_events": self.superseded,
                "damaged_cases": self.damaged, "first_bad": [f.to_dict() for f in self.findings],
                "sealed_heads": self.heads.to_dict()}


def _finding(e: Any, problem: str, why: str) -> HistoryFinding:
    zh = {"changed": "已被修改", "removed": "之前有记录被删除", "inserted": "是插入的"}[problem]
    what = {"changed": "was changed", "removed": "follows an event that was removed",
            "inserted": "was inserted"}[problem]
    at = at_text(e.at)
    return HistoryFinding(e.case_id, e.id, problem, at, e.action,
                          f"案件 {e.case_id} 的历史记录 #{e.id}（{at} {e.action}）{zh} / case {e.case_id} history "
                          f"event #{e.id} ({at} {e.action}) {what}: {why}")


def _walk_case(case_id: str, events: list[Any]) -> HistoryFinding | None:
    prev = genesis(case_id)
    for i, e in enumerate(events):
        nxt = events[i + 1] if i + 1 < len(events) else None
        skipped = nxt is not None and nxt.prev_hash == prev and nxt.prev_hash != e.hash
        if not e.hash or event_hash(_content(e), e.prev_hash or "") != e.hash:
            if skipped or not e.hash:
                return _finding(e, "inserted", "the event after it links to the one before it" if skipped
                                else "it carries no hash")
            return _finding(e, "changed", "its content no longer matches its hash")
        if e.prev_hash != prev:
            return _finding(e, "removed", "it points to an event that is not there"
                            if i else "the case's first event is missing")
        if skipped:
            return _finding(e, "inserted", "the event after it links to the one before it")
        prev = e.hash
    return None


def _content(e: Any) -> dict[str, Any]:
    return {"case_id": e.case_id, "at": e.at, "node": e.node, "actor": e.actor, "action": e.action,
            "from_status": e.from_status, "to_status": e.to_status, "note": e.note, "data": e.data}


def _by_case(db: Any) -> Iterator[tuple[str, list[Any]]]:
    """Every case's current events in chain order, case by case, read in batches."""
    with db.bind_ctx([CaseEvent]):
        last_case, last_id = "", 0
        current: str | None = None
        events: list[Any] = []
        while True:
            batch = list(CaseEvent.select()
                         .where(CaseEvent.superseded.is_null()
                                & ((CaseEvent.case_id > last_case)
                                   | ((CaseEvent.case_id == last_case) & (CaseEvent.id > last_id))))
                         .order_by(CaseEvent.case_id, CaseEvent.id)
                         .limit(BATCH))
            for e in batch:
                if e.case_id != current:
                    if current is not None:
                        yield current, events
                    current, events = e.case_id, []
                events.append(e)
            if len(batch) < BATCH:
                break
            last_case, last_id = batch[-1].case_id, batch[-1].id
        if current is not None:
            yield current, events


def verify_history(db: Any) -> HistoryReport:
    """Walk every case's history chain (CONTRACT §11 ``n12315 audit verify``): per damaged case
    the first event changed, removed or inserted (the first ``MAX_LISTED`` cases named); then,
    for a case whose chain holds, its sealed heads — fewer events than sealed is a cut from the
    end, a case with sealed heads and no event left lost its whole history. Each ``case.heads``
    snapshot is first checked against its audit entry's digest."""
    report = HistoryReport()
    with db.bind_ctx([CaseEvent, CaseHeadMark, CaseHeadSeal, AuditEntry, AuditSeal]):
        _check_snapshots(db, report.heads)
        diverged: dict[str, int] = {}
        for target, seq in (AuditEntry.select(AuditEntry.target, AuditEntry.seq)
                            .where(AuditEntry.action == DIVERGED_ACTION)
                            .tuples()):
            diverged[target] = max(seq, diverged.get(target, 0))
        batch: list[tuple[str, list[Any]]] = []
        for case_id, events in _by_case(db):
            report.cases += 1
            report.events += len(events)
            batch.append((case_id, events))
            if len(batch) >= CHUNK:
                _judge(db, batch, diverged, report)
                batch = []
        _judge(db, batch, diverged, report)
        gone = [cid for (cid,) in db.execute_sql(
            'SELECT DISTINCT s."case_id" FROM "case_head_seal" s WHERE NOT EXISTS (SELECT 1 FROM "case_event" e '
            'WHERE e."case_id" = s."case_id" AND e."superseded" IS NULL) ORDER BY s."case_id"').fetchall()]
        for start in range(0, len(gone), CHUNK):
            _judge(db, [(cid, []) for cid in gone[start:start + CHUNK]], diverged, report)
        report.superseded = CaseEvent.select().where(CaseEvent.superseded.is_null(False)).count()
        report.heads.pending = CaseHeadMark.select(CaseHeadMark.case_id).distinct().count()
    return report


def _judge(db: Any, batch: list[tuple[str, list[Any]]], diverged: Mapping[str, int], report: HistoryReport) -> None:
    """The chain walk, then the sealed heads, for a batch of cases (one look-up of their heads)."""
    if not batch:
        return
    sealed: dict[str, list[tuple[int, int, str]]] = {}
    for cid, entry_seq, count, digest in (CaseHeadSeal.select(CaseHeadSeal.case_id, CaseHeadSeal.entry_seq,
                                                              CaseHeadSeal.events, CaseHeadSeal.hash)
                                          .where(CaseHeadSeal.case_id.in_([cid for cid, _ in batch]))
                                          .tuples()):
        sealed.setdefault(cid, []).append((entry_seq, count, digest))
    for case_id, events in batch:
        finding = _walk_case(case_id, events) if events else None
        if finding is None and case_id in sealed:
            finding = _check_heads(db, case_id, events, sealed[case_id], diverged.get(case_id, 0), report.heads)
        if finding is not None:
            report.damaged += 1
            if len(report.findings) < MAX_LISTED:
                report.findings.append(finding)


def _check_heads(db: Any, case_id: str, events: list[Any], sealed: list[tuple[int, int, str]], diverged_at: int,
                 heads: HeadsReport) -> HistoryFinding | None:
    """Each head sealed for the case must still be the end of its first ``count`` current events.
    A head sealed before the case's newest ``case.history-diverged`` entry (a copy that kept its
    old history as superseded) is judged against the events kept: one of the case's events,
    current or superseded, still carries it."""
    bad: tuple[int, int, str] | None = None
    for entry_seq, count, digest in sealed:
        heads.checked += 1
        if count < 1:        # never sealed so (a case without events is skipped): the digest names it
            continue
        if count <= len(events) and events[count - 1].hash == digest:
            continue
        if entry_seq < diverged_at and _kept(db, case_id, digest):
            heads.superseded += 1
            continue
        if bad is None or (count, entry_seq) > (bad[1], bad[0]):
            bad = (entry_seq, count, digest)
    if bad is None:
        return None
    entry_seq, count, _ = bad
    if entry_seq < diverged_at:
        return HistoryFinding(case_id, None, "removed", None, None,
                              f"案件 {case_id} 被取代的历史记录已被删除（审计记录 #{entry_seq} 签名时共 {count} 条）/ "
                              f"case {case_id}: the history sealed by audit entry #{entry_seq} ({count} events) was "
                              f"superseded at audit entry #{diverged_at}, but its events are no longer kept")
    if count > len(events):
        left = len(events)
        if left == 0:
            return HistoryFinding(case_id, None, "removed", None, None,
                                  f"案件 {case_id} 的全部历史记录已被删除（审计记录 #{entry_seq} 签名时共 {count} 条）/ "
                                  f"case {case_id}: its whole history was removed ({count} events sealed by audit "
                                  f"entry #{entry_seq})")
        last = events[-1]
        return HistoryFinding(case_id, None, "removed", None, None,
                              f"案件 {case_id} 的历史记录末尾有 {count - left} 条被删除（审计记录 #{entry_seq} 签名时共 "
                              f"{count} 条，现存 {left} 条，最后一条 #{last.id}）/ case {case_id} history: "
                              f"{count - left} event(s) removed from its end ({count} sealed by audit entry "
                              f"#{entry_seq}, {left} left, the last #{last.id})")
    e = events[count - 1]
    at = at_text(e.at)
    return HistoryFinding(case_id, e.id, "changed", at, e.action,
                          f"案件 {case_id} 的历史记录 #{e.id}（{at} {e.action}）及之前在签名后被改写 / case {case_id} "
                          f"history up to event #{e.id} ({at} {e.action}) was rewritten after audit entry "
                          f"#{entry_seq} sealed it: it no longer ends in the sealed hash")


def _kept(db: Any, case_id: str, digest: str) -> bool:
    return (CaseEvent.select(CaseEvent.id)
            .where((CaseEvent.case_id == case_id) & (CaseEvent.hash == digest))
            .exists())


def _check_snapshots(db: Any, heads: HeadsReport) -> None:
    """Every ``case.heads`` entry's digest and count against the rows stored under it; rows under
    no such entry were put there by hand. Reads the rows in ``(entry_seq, pos)`` order, in batches."""
    entries: dict[int, dict[str, Any]] = {}
    for seq, detail in (AuditEntry.select(AuditEntry.seq, AuditEntry.detail)
                        .where(AuditEntry.action == HEADS_ACTION)
                        .tuples()):
        try:
            entries[seq] = json.loads(detail or "{}")
        except ValueError:
            entries[seq] = {}     # the audit walk names the changed entry
    found: dict[int, tuple[int, str]] = {}
    current, digest, rows = None, hashlib.sha256(), 0
    last = (-1, -1)
    while True:
        batch = list(CaseHeadSeal.select(CaseHeadSeal.entry_seq, CaseHeadSeal.pos, CaseHeadSeal.case_id,
                                         CaseHeadSeal.events, CaseHeadSeal.hash)
                     .where((CaseHeadSeal.entry_seq > last[0])
                            | ((CaseHeadSeal.entry_seq == last[0]) & (CaseHeadSeal.pos > last[1])))
                     .order_by(CaseHeadSeal.entry_seq, CaseHeadSeal.pos)
                     .limit(BATCH)
                     .tuples())
        for entry_seq, _pos, cid, count, head in batch:
            if entry_seq != current:
                if current is not None:
                    found[current] = (rows, digest.hexdigest())
                current, digest, rows = entry_seq, hashlib.sha256(), 0
            digest.update(heads_line(cid, count, head))
            rows += 1
        if len(batch) < BATCH:
            break
        last = (batch[-1][0], batch[-1][1])
    if current is not None:
        found[current] = (rows, digest.hexdigest())
    heads.snapshots = len(entries)
    for seq in sorted(set(entries) | set(found)):
        if seq not in entries:
            heads.bad_snapshots.append(_snapshot_finding(
                seq, "inserted", f"案件链头 {found[seq][0]} 行记在 #{seq} 下，但无对应的 {HEADS_ACTION} 审计记录 / "
                                 f"{found[seq][0]} case head rows are stored under #{seq}, which is no "
                                 f"{HEADS_ACTION} audit entry: they were put there by hand"))
            continue
        want = entries[seq]
        rows, got = found.get(seq, (0, hashlib.sha256().hexdigest()))
        if rows != want.get("cases") or got != want.get("digest"):
            heads.bad_snapshots.append(_snapshot_finding(
                seq, "changed", f"审计记录 #{seq} 封存的案件链头已被修改（签名时 {want.get('cases')} 行，现存 {rows} 行）/ "
                                f"the case heads sealed by audit entry #{seq} were changed: {want.get('cases')} rows "
                                f"sealed, {rows} stored, and they no longer match the entry's digest"))
    if entries:
        newest = max(entries)
        # every seal runs the hook: the newest one covers all appended before it but the marked
        seal = (AuditSeal.select()
                .where(AuditSeal.seq >= newest)
                .order_by(AuditSeal.seq.desc(), AuditSeal.id.desc())
                .first())
        heads.covered_to = {"entry_seq": newest, "seal_seq": seal.seq if seal else None,
                            "signed_at": seal.signed_at if seal else None}


def _snapshot_finding(seq: int, problem: str, message: str) -> dict[str, Any]:
    return {"entry_seq": seq, "problem": problem, "message": message}


def chain_existing(db: Any) -> int:
    """Chain the events written before the chain existed (migration 15), case by case in order
    of id; returns how many events were chained."""
    done = 0
    for case_id, events in _by_case(db):
        prev = genesis(case_id)
        p = db.param
        for e in events:
            h = event_hash(_content(e), prev)
            db.execute_sql(f'UPDATE "case_event" SET "prev_hash" = {p}, "hash" = {p} WHERE "id" = {p}', [prev, h, e.id])
            prev = h
            done += 1
    return done
