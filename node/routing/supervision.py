"""Supervision (督办, R2.6; docs/routing.md §8): how close a case's clock is to its due date,
which ancestors hold a copy because of it, and the escalating reminders at the handling node.

A reminder is an ordinary change of the case (a ``remind`` event and a new version), so it
reaches every holder through the usual update and carries the copy as far up the tree as
the stage says (``supervision.toml``); nothing else tells the levels above.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from node.cases import (
    DONE_STATUSES,
    SHANGHAI,
    Case,
    CaseChange,
    CaseEvent,
    commit_change,
    intake_context,
    mark_overdue,
    new_event,
)
from node.db import write_tx
from node.divisions import load_divisions
from node.routing import rules, tables
from node.routing.custody import SYSTEM
from node.routing.documents import db_time, from_json
from node.runtime import Node


def _chain_up(code: str) -> list[tuple[str, str]]:
    div = load_divisions()
    try:
        return [(c, div.level_of(c) or "") for c in div.ancestors(code)]
    except KeyError:
        return []


def stage_of(node: Node, row: Mapping[str, Any]) -> str:
    """How close the case's earliest running clock is to its due date (supervision)."""
    sup = tables.for_node(node).supervision
    due = row.get("next_due")
    if isinstance(due, str):
        due = date.fromisoformat(due)
    if due is None or row.get("status") in DONE_STATUSES:
        return "running"
    cal = intake_context(node).calendar
    today = node.now().astimezone(SHANGHAI).date()
    if row.get("overdue"):
        return rules.supervision_stage(True, None, cal.working_days_between(due, today), sup)
    return rules.supervision_stage(False, cal.working_days_between(today, due), None, sup)


def case_supervisors(node: Node, handler: str, row: Mapping[str, Any]) -> list[str]:
    """The ancestors of ``handler`` that hold a copy of this case at its present stage."""
    return rules.supervisors(_chain_up(handler), stage_of(node, row), tables.for_node(node).supervision)


def remind(node: Node) -> int:
    """Reminders before and after a deadline, at the handling node: ``due_soon`` (the level
    above then sees the case), ``escalated`` (overdue for ``escalate_after_working_days``:
    up to HQ). Overdue itself is flagged by ``node.cases.mark_overdue``. One event per stage
    and due date; each widens who holds a copy (``supervision.toml``)."""
    mark_overdue(node)
    sup = tables.for_node(node).supervision
    cal = intake_context(node).calendar
    today = node.now().astimezone(SHANGHAI).date()
    horizon = cal.add_working_days(today, sup.soon_due_working_days)
    made = 0
    ids = [r for (r,) in (Case.select(Case.case_id)
                          .where((Case.held_as == "handler") & Case.next_due.is_null(False)
                                 & (Case.next_due <= horizon) & Case.status.not_in(tuple(DONE_STATUSES)))
                          .tuples())]
    for case_id in ids:
        with write_tx(node.db):
            row = Case.row(case_id)
            if row is None or row["held_as"] != "handler":
                continue
            stage = stage_of(node, row)
            if stage not in ("due_soon", "escalated"):
                continue
            due = row["next_due"].isoformat() if isinstance(row["next_due"], date) else str(row["next_due"])
            done = any(from_json(e["data"], {}).get("stage") == stage and from_json(e["data"], {}).get("due") == due
                       for e in CaseEvent.for_case(case_id).dicts() if e["action"] == "remind")
            if done:
                continue
            if stage == "due_soon":
                left = cal.working_days_between(today, row["next_due"])
                note = f"即将到期：最近期限 {due}（剩 {left} 个工作日）/ due soon: {due} ({left} working days left)"
            else:
                late = cal.working_days_between(row["next_due"], today)
                note = (f"已超期 {late} 个工作日（期限 {due}），提请上级督办 / overdue by {late} working days "
                        f"(due {due}): escalated to the levels above")
            changed = {"version": int(row["version"]) + 1, "updated_at": db_time(node.now())}
            event = new_event(case_id, node, SYSTEM, "remind", row["status"], row["status"], note,
                              db_time(node.now()), {"stage": stage, "due": due})
            commit_change(node, [CaseChange(row={**row, **changed}, events=[event],
                                            previous_version=int(row["version"]), changed=changed,
                                            action="remind")])
            made += 1
    return made
