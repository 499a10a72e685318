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
The walk cannot see an event cut from the very end of a case's history (there is no per-case
head; the handler's next document to its copies shows it as a divergence there).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from federation.canonical import canonical_bytes
from node.cases.models import CaseEvent

BATCH = 5000
MAX_LISTED = 100


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
    heads = last_hashes(db, {str(e["case_id"]) for e in events} - fresh)
    chain_onto(events, heads)


# -- the walk -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryFinding:
    case_id: str
    event_id: int
    problem: str            # changed | removed | inserted
    at: str | None
    action: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "event_id": self.event_id, "problem": self.problem, "at": self.at,
                "action": self.action, "message": self.message}


@dataclass
class HistoryReport:
    cases: int = 0
    events: int = 0
    superseded: int = 0
    damaged: int = 0
    findings: list[HistoryFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.damaged == 0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases": self.cases, "events": self.events, "superseded_events": self.superseded,
                "damaged_cases": self.damaged, "first_bad": [f.to_dict() for f in self.findings]}


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
    the first event changed, removed or inserted (the first ``MAX_LISTED`` cases named)."""
    report = HistoryReport()
    for case_id, events in _by_case(db):
        report.cases += 1
        report.events += len(events)
        finding = _walk_case(case_id, events)
        if finding is not None:
            report.damaged += 1
            if len(report.findings) < MAX_LISTED:
                report.findings.append(finding)
    with db.bind_ctx([CaseEvent]):
        report.superseded = CaseEvent.select().where(CaseEvent.superseded.is_null(False)).count()
    return report


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
