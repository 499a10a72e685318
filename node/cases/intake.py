"""Case intake: validate, triage, start the clocks, number, write (CONTRACT §5 ``POST /cases``).

Serves R1.1 (consultations, complaints, reports — against businesses and against staff),
R1.2 (channels), R1.4 (triage into general / urgent / critical, ``triage.py``), R2.3 (a
report against staff goes to discipline inspection), R2.6 (the statutory clocks start on the
receipt date, under the rule set in force that day) and R4.1 (the accepting node and the
register event).

``create_case(node, payload, actor) -> dict`` validates (``validate.validate_case_input``),
triages, binds the rule set, starts the clocks, assigns the id ``<node>-<YYYYMMDD>-<000001>``
from a per-day counter (one upsert) and writes everything in one transaction through
``lifecycle.commit_change``. ``"also_report": true`` on a complaint registers the two-track
pair (Order 20 Art. 8): a complaint and a report, linked both ways, each with its own clocks.

Group commit (issue 15 item 1): intakes arriving together share one transaction and one commit
(``GroupCommit``). Each case is still written whole or not at all — its own savepoint holds the
id upsert, the rows, the history, the search row and every hook's documents — and no caller
hears of its case before the commit that stores it has returned (``synchronous=FULL``). The
profile showed why: the commit (≈ 34 WAL pages per case — the case and its 12 indexes, history,
full-text segment, notice, firm) held the write lock for two thirds of each intake.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from node import deadlines as dl
from node.cases.common import CREATE_ROLES, DISCIPLINE, db_time, dumps, intake_context, require_role, to_api
from node.cases.lifecycle import CaseChange, commit_change, new_event, next_due
from node.cases.triage import triage
from node.cases.validate import validate_case_input
from node.db import write_tx
from node.errors import bad_request, invalid
from node.privacy import complainant_hashes, keyring_of
from node.runtime import Node


def department_for(kind: str, report_target: str | None) -> str:
    """Which department handles a new case (routing may refine it by category)."""
    if kind == "report":
        return DISCIPLINE if report_target == "staff" else "enforcement"
    return "consumer_protection"


STAFF_SCOPE = ":staff"


def take_ids(node: Node, day: date, n: int, *, staff: bool = False) -> list[str]:
    """``n`` consecutive case ids for ``day`` from the per-node day counter: one upsert.

    A report against staff (``staff``) counts down from 999999 on a counter of its own (issue
    13 "found from outside"): taken from the shared one, it left a gap in the ids every other
    role sees (000001, —, 000003) that told the accused unit a report had been filed."""
    p = node.db.param
    day_s = day.strftime("%Y%m%d")
    cursor = node.db.execute_sql(
        'INSERT INTO "day_counter" ("scope", "day", "value") '
        f"VALUES ({p}, {p}, {p}) "
        'ON CONFLICT ("scope", "day") DO UPDATE SET "value" = "day_counter"."value" + excluded."value" '
        'RETURNING "value"', [node.code + (STAFF_SCOPE if staff else ""), day_s, n])
    last = int(cursor.fetchone()[0])
    if staff:
        return [f"{node.code}-{day_s}-{1_000_000 - v:06d}" for v in range(last - n + 1, last + 1)]
    return [f"{node.code}-{day_s}-{v:06d}" for v in range(last - n + 1, last + 1)]


def create_case(node: Node, payload: Any, actor: Any) -> dict[str, Any]:
    """Register a case (or a two-track pair) and return it as the API shows it."""
    require_role(actor, CREATE_ROLES)
    if not isinstance(payload, dict):
        raise bad_request("请求体须为 JSON 对象 / the body must be a JSON object", code="malformed")
    also_report = False
    if "also_report" in payload:
        payload = dict(payload)
        also_report = payload.pop("also_report")
        if also_report is None:
            also_report = False
        if not isinstance(also_report, bool):
            raise invalid("also_report", "also_report 须为 true 或 false / also_report must be a boolean")
    ctx = intake_context(node)
    now = node.now()
    inp = validate_case_input(payload, divisions=ctx.divisions, categories=ctx.categories,
                              extension_schemas=ctx.extension_schemas, now=now,
                              accepting_province=ctx.accepting_province)
    if also_report and inp.kind != "complaint":
        raise invalid("also_report", "仅投诉可同时登记为举报（双轨受理）/ only a complaint can also be "
                                     "registered as a report (two-track intake)")
    urgency, reasons = triage(inp.summary, inp.description or "", inp.urgency, ctx.triage_rules)
    rule_set = ctx.rule_book.for_date(inp.received_at)
    tracks = [(inp.kind, inp.report_target)] + ([("report", "business")] if also_report else [])
    clocks = [dl.initial_deadlines(kind, inp.received_at, rule_set, ctx.calendar) for kind, _ in tracks]

    at = db_time(now)
    received_at = db_time(inp.received_at)
    complainant = dumps(inp.complainant.to_dict() if inp.complainant else None)
    # the keyed hash behind same-phone look-ups: the column is encrypted (issue 13 item 1)
    hashes = complainant_hashes(keyring_of(node.db), inp.complainant.to_dict() if inp.complainant else None)
    respondent = dumps(inp.respondent.to_dict() if inp.respondent else None)
    resp_name = (inp.respondent.name if inp.respondent else None) or ""
    search_text = "\n".join(t for t in (inp.summary, inp.description or "", resp_name) if t)
    extensions = dumps(inp.extensions)

    def write() -> list[CaseChange]:
        ids = take_ids(node, inp.received_on, len(tracks),
                       staff=department_for(inp.kind, inp.report_target) == DISCIPLINE)
        changes = []
        for i, ((kind, target), deadlines) in enumerate(zip(tracks, clocks, strict=True)):
            case_id = ids[i]
            linked = ids[1 - i] if len(ids) == 2 else None
            row = {
                "case_id": case_id, "kind": kind, "report_target": target, "channel": inp.channel,
                "urgency": urgency, "status": "registered", "category": inp.category,
                "summary": inp.summary, "description": inp.description or "",
                "demand": inp.demand or "", "occurred_on": inp.occurred_on,
                "complainant": complainant, **hashes, "respondent": respondent,
                "respondent_name": resp_name, "respondent_region": inp.region_code,
                "respondent_uscc": inp.respondent.uscc if inp.respondent else None,
                "amount": inp.amount, "amount_recovered": inp.amount_recovered,
                "extensions": extensions, "received_at": received_at,
                "received_date": inp.received_on, "accepting_node": node.code,
                "handling_node": node.code, "department": department_for(kind, target),
                "rule_set": rule_set.id, "deadlines": dumps(deadlines),
                "next_due": next_due(deadlines, "registered"), "overdue": False, "outcome": None,
                "linked_case": linked, "route": "[]", "held_as": "handler", "holders": "[]",
                "attention": None, "version": 1,
                "search_text": search_text, "created_at": at, "updated_at": at,
            }
            note = ""
            if linked:
                note = (f"双轨受理：同时登记{'举报' if kind == 'complaint' else '投诉'} {linked}"
                        f"（《市场监督管理投诉举报处理暂行办法》第八条）/ two-track intake: linked "
                        f"{'report' if kind == 'complaint' else 'complaint'} {linked} (Order 20 Art. 8)")
            events = [new_event(case_id, node, actor, "register", None, "registered", note, at,
                                {"rule_set": rule_set.id})]
            if urgency != inp.urgency:
                events.append(new_event(case_id, node, actor, "triage", "registered", "registered",
                                        "；".join(reasons), at, {"from": inp.urgency, "to": urgency}))
            changes.append(CaseChange(row=row, events=events))
        commit_change(node, changes)
        return changes

    changes = group_of(node.db).run(node.db, write)
    return to_api(changes[0].row, changes[0].events)


class _Slot:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Run writes of concurrent callers in one transaction, each in its own savepoint.

    A caller queues its write and waits for its turn; whoever gets the turn takes every write
    queued by then, runs each in a savepoint (a failing one is rolled back alone and its
    error goes back to its caller), commits once and hands each caller its result. A caller
    already inside a transaction runs its write there: its own commit, not ours, makes it
    durable, so no one else may be acknowledged on it."""

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.mutex = threading.Lock()
        self.pending: list[_Slot] = []

    def run(self, db: Any, work: Callable[[], Any]) -> Any:
        if db.in_transaction():
            return work()
        slot = _Slot(work)
        with self.mutex:
            self.pending.append(slot)
        with self.turn:
            if not slot.done:
                with self.mutex:
                    batch, self.pending = self.pending, []
                self._commit(db, batch)
        if slot.error is not None:
            raise slot.error
        return slot.result

    @staticmethod
    def _commit(db: Any, batch: list[_Slot]) -> None:
        committed = False
        failure: BaseException | None = None
        try:
            with write_tx(db):
                for s in batch:
                    try:
                        with write_tx(db):   # nested: a savepoint
                            s.result = s.work()
                    except Exception as exc:  # noqa: BLE001 — handed to the caller it belongs to
                        s.error = exc
            committed = True
        except BaseException as exc:
            failure = exc
            raise
        finally:
            for s in batch:
                if not committed:   # BEGIN or COMMIT failed: nothing of the batch is stored
                    s.result = None
                    s.error = s.error or failure or RuntimeError("intake transaction aborted")
                s.done = True


_GROUPS_LOCK = threading.Lock()


def group_of(db: Any) -> GroupCommit:
    """The group commit of one database (one per node)."""
    group = getattr(db, "_n12315_intake_group", None)
    if group is None:
        with _GROUPS_LOCK:
            group = getattr(db, "_n12315_intake_group", None)
            if group is None:
                group = GroupCommit()
                db._n12315_intake_group = group
    return group

