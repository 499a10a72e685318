"""Bulk import of historical cases (issue 15 item 3, P5; CONTRACT §12; docs/import.md).

``import_rows(node, rows, source=…)`` takes the rows a reader (``readers.py``) yields and
writes them as cases of this node, a batch at a time:

1. **read and look up** — a batch of rows (``BATCH_ROWS``); the legacy ids already in
   ``import_record`` are *skipped* (one query per batch), before anything else is judged;
2. **validate** — every §5 field through intake's own validator (``validate_case_input``
   with the node's divisions, categories and province extension schemas: nothing is checked
   twice or differently), then the historical keys (``status``, ``outcome``,
   ``concluded_at``) against the state machine's statuses and outcomes; a failure is a
   *rejected* row with its line, field and message;
3. **write** — one transaction per batch: the per-day id counters for all the batch's
   receipt days in one upsert, then the case rows, their history, their search rows and the
   ``import_record`` rows through ``insert_rows`` (each value through its model field's
   ``db_value``, so field types such as encryption apply). A batch commits whole or not at
   all, so a killed import re-run imports every row exactly once.

What an import does *not* do, by design (docs/import.md "What an import does not do"): it
does not pass through ``commit_change``, so no lifecycle hook runs — no replication document
or outbox row (routing), no notice to a complainant (a historical case's consumer was told
long ago), no publicity entry, no firm look-up entry. Closed historical cases stay where they
are. An imported case still open is kept here as its handler and flagged for a person
(``attention``): the clerk checks jurisdiction and routes it with the ``route`` action
(``"to": "auto"`` applies intake's rules), which widens the holders and sends the documents
as every later change does. Statistics pick the new rows up by their receipt day like any
other case (``node.stats`` recomputes the days of rows written since its last run).
"""
from __future__ import annotations

import json
import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

from node import deadlines as dl
from node.cases import (
    DONE_STATUSES,
    OUTCOMES,
    SHANGHAI,
    TRANSITIONS,
    Case,
    CaseEvent,
    chain_events,
    check_text,
    department_for,
    insert_rows,
    intake_context,
    next_due,
    triage,
    validate_case_input,
)
from node.db import is_sqlite, write_tx
from node.errors import NodeError, invalid
from node.imports.models import ImportRecord
from node.imports.readers import SourceRow
from node.privacy import complainant_hashes, keyring_of
from node.runtime import Node

BATCH_ROWS = 1000
ACTOR = "import"        # the history's actor for an imported case
LEGACY_ID_MAX = 100
# SQLite's default limit of bound values per statement is 32,766 (3.32+); PostgreSQL's
# driver binds client-side, but one statement of this size is also its sweet spot.
MAX_VALUES_PER_STATEMENT = 30_000


def _reachable(kind: str) -> frozenset[str]:
    """The statuses a historical case of ``kind`` may carry: those the state machine reaches
    from ``registered`` — except ``transferred``, which means "held elsewhere" (the unit that
    holds it imports it)."""
    found, todo = {"registered"}, ["registered"]
    while todo:
        at = todo.pop()
        for by_kind in TRANSITIONS.values():
            to = by_kind.get(kind, {}).get(at)
            if to is not None and to not in found:
                found.add(to)
                todo.append(to)
    return frozenset(found - {"transferred"})


IMPORT_STATUSES: dict[str, frozenset[str]] = {kind: _reachable(kind) for kind in ("consultation", "complaint", "report")}

# Statuses whose outcome the file must name, and the outcomes allowed (CONTRACT §5 conclude).
OUTCOME_REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("complaint", "concluded"): ("mediated", "not_mediated", "settled", "withdrawn"),
    ("complaint", "closed"): ("mediated", "not_mediated", "settled", "withdrawn"),
    ("report", "concluded"): ("filed", "not_filed"),
    ("report", "closed"): ("filed", "not_filed"),
}
# Statuses that are their own outcome (the action that reaches them records it).
OUTCOME_IMPLIED = {"declined": "declined", "referred": "referred", "filed": "filed",
                   "not_filed": "not_filed", "answered": "answered"}
FINISHED = frozenset(DONE_STATUSES) | {"filed", "not_filed"}
# The clock a status shows was dealt with (the export carries no decision dates, see below).
PASSED_CLOCK = {"complaint": ("accept_by", frozenset(IMPORT_STATUSES["complaint"] - {"registered"})),
                "report": ("verify_by", frozenset(IMPORT_STATUSES["report"] - {"registered", "verifying"}))}


@dataclass
class ImportResult:
    """What an import did: counts as ``--json`` prints them, and every rejected row."""
    imported: int = 0
    skipped: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str, str]] = field(default_factory=list)   # (line, field, message)
    case_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"imported": self.imported, "skipped": self.skipped, "rejected": self.rejected}

    def reject(self, line: int, name: str | None, message: str) -> None:
        self.rejected += 1
        self.rejections.append((line, name or "", message))


@dataclass(frozen=True, slots=True)
class Historical:
    """The import keys of one row, checked: where the legacy system left the case."""
    legacy_id: str
    status: str
    outcome: str | None
    concluded_at: datetime | None


# -- the import keys -----------------------------------------------------------------------------
def legacy_id_of(doc: Mapping[str, Any]) -> str:
    value = doc.get("legacy_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)   # JSON Lines exports often number their rows
    if value is None:
        raise NodeError(422, "required", "原系统编号（legacy_id）为必填项 / legacy_id is required", "legacy_id")
    text = check_text(value, "legacy_id", max_length=LEGACY_ID_MAX)
    if not text:
        raise NodeError(422, "required", "原系统编号（legacy_id）不能为空 / legacy_id must not be empty", "legacy_id")
    return text


def _concluded_at(value: Any, received_at: datetime, now: datetime) -> datetime:
    name = "concluded_at"
    text = value.strip() if isinstance(value, str) else None
    try:
        parsed = datetime.fromisoformat(text) if text else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid(name, "办结时间（concluded_at）须为 ISO 8601 时间，如 2025-03-01T10:00:00+08:00"
                            " / concluded_at must be ISO 8601 with an offset, e.g. 2025-03-01T10:00:00+08:00")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise invalid(name, "办结时间（concluded_at）须带时区偏移，如 +08:00 / concluded_at must carry a UTC offset")
    if parsed < received_at:
        raise invalid(name, "办结时间（concluded_at）早于登记时间（received_at）/ concluded_at is before received_at")
    if parsed > now:
        raise invalid(name, "办结时间（concluded_at）晚于当前时间 / concluded_at is in the future")
    return parsed.astimezone(UTC)


def check_historical(doc: Mapping[str, Any], legacy_id: str, kind: str, received_at: datetime,
                     now: datetime) -> Historical:
    """``status``, ``outcome``, ``concluded_at`` against the state machine (CONTRACT §5
    statuses and conclude outcomes); a case with none of them is a new registration."""
    status = doc.get("status")
    if status is None or status == "":
        status = "registered"
    allowed = IMPORT_STATUSES[kind]
    if not isinstance(status, str) or status.strip() not in allowed:
        shown = status if isinstance(status, str) else json.dumps(status, ensure_ascii=False)
        raise NodeError(422, "invalid_enum", f"状态（status）对{_KIND_ZH[kind]}无效：{shown[:40]}，可选值："
                                             f"{'、'.join(sorted(allowed))} / status must be one of "
                                             f"{', '.join(sorted(allowed))} for a {kind}", "status")
    status = status.strip()
    outcome = doc.get("outcome")
    outcome = outcome.strip() if isinstance(outcome, str) else outcome
    if outcome in (None, ""):
        outcome = None
    required = OUTCOME_REQUIRED.get((kind, status))
    if required is not None:
        if outcome is None:
            raise NodeError(422, "required", f"状态为 {status} 的{_KIND_ZH[kind]}须填写办理结果（outcome），可选值："
                                             f"{'、'.join(required)} / outcome is required for a {status} {kind}: "
                                             f"one of {', '.join(required)}", "outcome")
        if outcome not in required:
            raise NodeError(422, "invalid_enum", f"办理结果（outcome）无效：{str(outcome)[:40]}，可选值："
                                                 f"{'、'.join(required)} / outcome must be one of "
                                                 f"{', '.join(required)}", "outcome")
    elif outcome is not None and outcome != OUTCOME_IMPLIED.get(status):
        raise invalid("outcome", f"状态为 {status} 时不应填写办理结果（outcome）/ outcome does not apply to "
                                 f"status {status}" + (f" (it is {OUTCOME_IMPLIED[status]})"
                                                       if status in OUTCOME_IMPLIED else ""))
    outcome = outcome or OUTCOME_IMPLIED.get(status)
    concluded = None
    raw = doc.get("concluded_at")
    if raw not in (None, ""):
        if status not in FINISHED:
            raise invalid("concluded_at", f"状态为 {status} 的案件尚未办结，不应填写办结时间（concluded_at）"
                                          f" / concluded_at applies to finished cases, not to status {status}")
        concluded = _concluded_at(raw, received_at, now)
    return Historical(legacy_id=legacy_id, status=status, outcome=outcome, concluded_at=concluded)


_KIND_ZH = {"consultation": "咨询", "complaint": "投诉", "report": "举报"}
_IMPORT_KEYS = ("legacy_id", "status", "outcome", "concluded_at")


# -- one row -------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A valid row, ready for its case id."""
    line: int
    hist: Historical
    received_on: date
    row: dict[str, Any]
    events: list[dict[str, Any]]


class _Rules:
    """The per-node reference data and the per-day clocks, read once per import."""

    def __init__(self, node: Node):
        self.node = node
        self.ctx = intake_context(node)
        self.now = node.now()
        self.at = self.now.astimezone(UTC).replace(tzinfo=None)
        self.keyring = keyring_of(node.db)
        self._clocks: dict[tuple[str, date, str], Clocks] = {}

    def clocks(self, kind: str, received_at: datetime, received_on: date, status: str) -> Clocks:
        """The rule set and the clocks as stored: they depend only on the kind, the receipt
        date and the status, and a 50,000-row export spans a few hundred days — computed
        once per key instead of once per row (a third of the time per row, profiled)."""
        key = (kind, received_on, status)
        hit = self._clocks.get(key)
        if hit is None:
            rule_set = self.ctx.rule_book.for_date(received_at)
            deadlines = dl.initial_deadlines(kind, received_at, rule_set, self.ctx.calendar)
            passed = PASSED_CLOCK.get(kind)
            if passed is not None and status in passed[1] and passed[0] in deadlines.get("clocks", {}):
                # The export has no decision dates: the duty behind the first clock is recorded
                # as done on the receipt day, so a historical case is neither flagged overdue
                # nor counted late in statistics on a date nobody knows (docs/import.md).
                deadlines = dl.mark_met(deadlines, passed[0], received_on)
            open_case = status not in FINISHED
            hit = Clocks(rule_set=rule_set.id, deadlines=_dumps(deadlines),
                         next_due=next_due(deadlines, status) if open_case else None,
                         overdue=bool(open_case and dl.overdue_clocks(deadlines, status, self.now)))
            self._clocks[key] = hit
        return hit


@dataclass(frozen=True, slots=True)
class Clocks:
    rule_set: str
    deadlines: str          # as stored (JSON)
    next_due: date | None
    overdue: bool


# one encoder for the import (json.dumps builds a new one per call with these options)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def prepare(rules: _Rules, line: int, doc: dict[str, Any], legacy_id: str) -> Prepared:
    """Validate one row (raises ``NodeError`` naming the field) and build its case row."""
    ctx, now = rules.ctx, rules.now
    payload = {k: v for k, v in doc.items() if k not in _IMPORT_KEYS}
    inp = validate_case_input(payload, divisions=ctx.divisions, categories=ctx.categories,
                              extension_schemas=ctx.extension_schemas, now=now,
                              accepting_province=ctx.accepting_province)
    hist = check_historical(doc, legacy_id, inp.kind, inp.received_at, now)
    clocks = rules.clocks(inp.kind, inp.received_at, inp.received_on, hist.status)
    urgency, reasons = inp.urgency, []
    if hist.status not in FINISHED:
        # a case still to be worked on is triaged as intake triages it; a finished one keeps
        # the grade it was handled under (the record, not a guess)
        urgency, reasons = triage(inp.summary, inp.description or "", inp.urgency, ctx.triage_rules)
    concluded = _iso(hist.concluded_at)
    row = case_row(rules.node, inp, hist, clocks, urgency, rules.at, concluded, rules.keyring)
    events = [_event(row, "import", None, hist.status, _import_note(hist, concluded), rules.at,
                     {"legacy_id": legacy_id, "concluded_at": concluded})]
    if urgency != inp.urgency:
        events.append(_event(row, "triage", hist.status, hist.status, "；".join(reasons), rules.at,
                             {"from": inp.urgency, "to": urgency}))
    return Prepared(line=line, hist=hist, received_on=inp.received_on, row=row, events=events)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat() if value else None


def _import_note(hist: Historical, concluded: str | None) -> str:
    note = f"历史数据导入（原系统编号 {hist.legacy_id}）/ imported from the legacy system (legacy id {hist.legacy_id})"
    if concluded:
        note += f"；原系统办结时间 / concluded in the legacy system at {concluded}"
    return note


def _event(row: Mapping[str, Any], action: str, from_status: str | None, to_status: str, note: str,
           at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"case_id": row["case_id"], "at": at, "node": row["accepting_node"], "actor": ACTOR, "action": action,
            "from_status": from_status, "to_status": to_status, "note": note, "data": _dumps(data)}


def case_row(node: Node, inp: Any, hist: Historical, clocks: Clocks, urgency: str, at: datetime,
             concluded: str | None = None, keyring: Any = None) -> dict[str, Any]:
    """THE one place a case row of an import is built (intake's row, with the legacy system's
    status, outcome and receipt time). A column the case table gains later (a phone hash, an
    encrypted field) is filled here; columns not named get their model default."""
    status, kind = hist.status, inp.kind
    outcome = None
    if hist.outcome is not None:
        outcome = {"outcome": hist.outcome, "imported": True}
        if hist.outcome in OUTCOMES and inp.amount_recovered is not None:
            outcome["amount_recovered"] = inp.amount_recovered
        if hist.concluded_at is not None:
            outcome["concluded_at"] = concluded
    resp_name = (inp.respondent.name if inp.respondent else None) or ""
    received_at = inp.received_at.astimezone(UTC).replace(tzinfo=None)
    attention = None
    if status not in FINISHED and kind != "consultation":
        attention = OPEN_ATTENTION
    since = inp.received_at.astimezone(SHANGHAI).isoformat()
    complainant = inp.complainant.to_dict() if inp.complainant else None
    # the keyed hash behind same-phone look-ups, as intake writes it (the column is encrypted)
    hashes = complainant_hashes(keyring if keyring is not None else keyring_of(node.db), complainant)
    return {
        "case_id": "", "kind": kind, "report_target": inp.report_target, "channel": inp.channel,
        "urgency": urgency, "status": status, "category": inp.category,
        "summary": inp.summary, "description": inp.description or "",
        "demand": inp.demand or "", "occurred_on": inp.occurred_on,
        "complainant": _dumps(complainant), **hashes,
        "respondent": _dumps(inp.respondent.to_dict() if inp.respondent else None),
        "respondent_name": resp_name, "respondent_region": inp.region_code,
        "respondent_uscc": inp.respondent.uscc if inp.respondent else None,
        "amount": inp.amount, "amount_recovered": inp.amount_recovered,
        "extensions": _dumps(inp.extensions) if inp.extensions else "{}", "received_at": received_at,
        "received_date": inp.received_on, "accepting_node": node.code,
        "handling_node": node.code, "department": department_for(kind, inp.report_target),
        "rule_set": clocks.rule_set, "deadlines": clocks.deadlines,
        "next_due": clocks.next_due, "overdue": clocks.overdue,
        "outcome": _dumps(outcome) if outcome else None,
        "linked_case": None,
        # the custody trail's first hop, as routing writes it at intake: taken in here
        "route": _ROUTE_TEMPLATE.replace("@SINCE@", since).replace("@NODE@", node.code),
        "held_as": "handler", "holders": f'["{node.code}"]', "attention": attention, "version": 1,
        "search_text": "\n".join(t for t in (inp.summary, inp.description or "", resp_name) if t),
        "created_at": at, "updated_at": at,
    }


OPEN_ATTENTION = ("历史导入的未办结案件：请核对管辖，本单位承办或分流（route，to=auto）"
                  " / imported open case: check jurisdiction, then handle it here or route it (to: auto)")
_ROUTE_TEMPLATE = _dumps([{"node": "@NODE@", "since": "@SINCE@", "until": None, "from": None, "by": ACTOR,
                           "action": "import", "reason": "历史数据导入 / imported from the legacy system",
                           "via": []}])


# -- the batches ---------------------------------------------------------------------------------
def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _complete(rows: list[dict[str, Any]]) -> None:
    """Give every column of ``Case`` a value: one statement shape, and a column added to the
    model later gets its default (``insert_rows`` writes only the columns named)."""
    missing = [f for name, f in Case._meta.fields.items() if name != "pk" and name not in rows[0]]
    for f in missing:
        for r in rows:
            r[f.name] = f.default() if callable(f.default) else f.default


def _insert(node: Node, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    per = max(1, MAX_VALUES_PER_STATEMENT // len(rows[0]))
    for chunk in _chunks(rows, per):
        insert_rows(node.db, model, chunk)


def allocate_ids(node: Node, per_day: Mapping[date, int]) -> dict[date, Iterator[str]]:
    """Case ids for many receipt days in one statement: intake's per-node day counter
    (``take_ids``), bumped by each day's count in one multi-row upsert."""
    p = node.db.param
    days = sorted(per_day)
    args: list[Any] = []
    for d in days:
        args += [node.code, d.strftime("%Y%m%d"), per_day[d]]
    out: dict[date, Iterator[str]] = {}
    for chunk_start in range(0, len(days), 1000):
        chunk = days[chunk_start:chunk_start + 1000]
        cursor = node.db.execute_sql(
            'INSERT INTO "day_counter" ("scope", "day", "value") VALUES '
            + ", ".join([f"({p}, {p}, {p})"] * len(chunk))
            + ' ON CONFLICT ("scope", "day") DO UPDATE SET "value" = "day_counter"."value" + excluded."value" '
            'RETURNING "day", "value"', args[chunk_start * 3:(chunk_start + len(chunk)) * 3])
        for day_s, last in cursor.fetchall():
            d = date(int(day_s[:4]), int(day_s[4:6]), int(day_s[6:]))
            n = per_day[d]
            out[d] = iter([f"{node.code}-{day_s}-{v:06d}" for v in range(int(last) - n + 1, int(last) + 1)])
    return out


def _write(node: Node, batch: list[Prepared], source: str) -> None:
    per_day: dict[date, int] = {}
    for prep in batch:
        per_day[prep.received_on] = per_day.get(prep.received_on, 0) + 1
    with write_tx(node.db):
        ids = allocate_ids(node, per_day)
        rows, events, records = [], [], []
        for prep in batch:
            case_id = next(ids[prep.received_on])
            prep.row["case_id"] = case_id
            for e in prep.events:
                e["case_id"] = case_id
            rows.append(prep.row)
            events += prep.events
            records.append({"legacy_id": prep.hist.legacy_id, "case_id": case_id, "source": source[:200],
                            "line": prep.line, "imported_at": prep.row["created_at"]})
        _complete(rows)
        _insert(node, Case, rows)
        if is_sqlite(node.db):
            p = node.db.param
            for chunk in _chunks(rows, 5000):
                node.db.execute_sql("INSERT INTO case_search (case_id, body) VALUES "
                                    + ", ".join([f"({p}, {p})"] * len(chunk)),
                                    [v for r in chunk for v in (r["case_id"], r["search_text"])])
        chain_events(node.db, events, {r["case_id"] for r in rows})   # new cases: from genesis
        _insert(node, CaseEvent, events)
        _insert(node, ImportRecord, records)


class _Writer:
    """Writes the batches, in order, in a thread of its own: the database's share of a batch
    (SQLite's index, FTS and fsync work, PostgreSQL's server round trip) runs without the GIL,
    so the next batch is read and validated meanwhile (issue 15 item 3: the rate comes from
    overlapping the two, not from checking less). One batch, one transaction, as before;
    after a failure the rest are not written and the failure is raised in the caller."""

    def __init__(self, node: Node, source: str):
        self.node, self.source = node, source
        self.queue: queue.Queue[list[Prepared] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.written: list[list[Prepared]] = []
        self.thread = threading.Thread(target=self._run, name="n12315-import-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.node.activate():
                while (batch := self.queue.get()) is not None:
                    if self.error is None:
                        try:
                            _write(self.node, batch, self.source)
                            self.written.append(batch)
                        except BaseException as exc:  # raised again in the caller's thread
                            self.error = exc
        finally:
            self.node.db.close()    # this thread's connection

    def put(self, batch: list[Prepared]) -> None:
        self.raise_error()
        self.queue.put(batch)

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def import_rows(node: Node, rows: Iterable[SourceRow], *, source: str = "",
                progress: Callable[[int], None] | None = None, batch_rows: int = BATCH_ROWS,
                workers: int = 0) -> ImportResult:
    """Import the rows of one file (call with the node's database bound: ``node.activate()``).

    ``workers`` > 0 validates in that many forked processes (``import_file`` asks for one on a
    multi-core machine when the file is large). Returns the counts and every rejected row (in
    line order); raises ``NodeError`` only for the file itself (a reader's
    ``unreadable_file``), after the batches before it were committed.
    """
    result = ImportResult()
    rules = _Rules(node)
    pool = _fork_pool(rules, workers)       # before the writer thread: never fork a threaded process
    writer = _Writer(node, source)
    try:
        _read_batches(rules, rows, result, writer, pool, progress, batch_rows)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        writer.finish()
        for batch in writer.written:
            result.imported += len(batch)
            result.case_ids += [p.row["case_id"] for p in batch]
        result.rejections.sort(key=lambda r: r[0])
    return result


# The rules a forked validator works with: set in the parent just before the fork, so the
# children inherit them (divisions, categories, schemas, calendar: nothing is pickled).
_FORKED_RULES: _Rules | None = None


def _fork_pool(rules: _Rules, workers: int) -> Any:
    """Validation in ``workers`` forked processes: validation is pure Python under the GIL, so
    a second core is the only way past one core's rate (issue 15 item 3: ≥ 5,000 cases/s with
    every check). The children never touch the database: they inherit its connection but exit
    with ``os._exit`` (multiprocessing's fork start), so nothing closes it under the parent."""
    global _FORKED_RULES
    if workers <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    _FORKED_RULES = rules
    return multiprocessing.get_context("fork").Pool(workers)


def _prepare_chunk(todo: list[tuple[int, dict[str, Any], str]], rules: _Rules | None = None
                   ) -> tuple[list[Prepared], list[tuple[int, str, str]]]:
    """Validate and build a batch: the prepared rows and the rejected ones (line, field, message)."""
    rules = rules or _FORKED_RULES
    assert rules is not None
    done: list[Prepared] = []
    rejected: list[tuple[int, str, str]] = []
    for line, doc, lid in todo:
        try:
            done.append(prepare(rules, line, doc, lid))
        except NodeError as exc:
            rejected.append((line, exc.field or "", exc.message))
    return done, rejected


def _read_batches(rules: _Rules, rows: Iterable[SourceRow], result: ImportResult, writer: _Writer, pool: Any,
                  progress: Callable[[int], None] | None, batch_rows: int) -> None:
    seen: dict[str, int] = {}     # legacy id -> line, for duplicates inside the file
    pending: deque[Any] = deque()

    def collect(done: tuple[list[Prepared], list[tuple[int, str, str]]]) -> None:
        batch, rejected = done
        for line, name, message in rejected:
            result.reject(line, name, message)
        if batch:
            writer.put(batch)

    it = iter(rows)
    while chunk := list(islice(it, batch_rows)):
        keyed: list[tuple[SourceRow, str]] = []
        for src in chunk:
            if src.error is not None:
                result.reject(src.line, *src.error)
                continue
            assert src.doc is not None
            try:
                keyed.append((src, legacy_id_of(src.doc)))
            except NodeError as exc:
                result.reject(src.line, exc.field, exc.message)
        known = {r[0] for r in ImportRecord.known([lid for _, lid in keyed])} if keyed else set()
        todo: list[tuple[int, dict[str, Any], str]] = []
        for src, lid in keyed:
            if lid in known:
                result.skipped += 1
                continue
            if lid in seen:
                result.reject(src.line, "legacy_id", f"原系统编号（legacy_id）{lid[:40]} 与第 {seen[lid]} 行重复"
                                                     f" / legacy_id {lid[:40]} repeats line {seen[lid]}")
                continue
            seen[lid] = src.line
            todo.append((src.line, src.doc, lid))   # type: ignore[arg-type]
        if pool is None:
            collect(_prepare_chunk(todo, rules))
        else:
            # a window of two batches in the children: the next is read while one is checked
            pending.append(pool.apply_async(_prepare_chunk, (todo,)))
            while len(pending) > 2:
                collect(pending.popleft().get())
        if progress is not None:
            progress(len(chunk))
    while pending:
        collect(pending.popleft().get())
