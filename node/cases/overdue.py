"""The overdue job: flag open cases whose statutory clock has run out (R2.6).

Serves R2.6 (statutory time limits, supervised) and R4.1 (the flag is a history event). The
clocks themselves are the deadlines domain's arithmetic; this module only finds the cases
whose earliest running clock has passed and marks them, once, through the one write path.
``job_specs`` puts it on the scheduler (``node/jobs.py``); tests call ``mark_overdue``.
"""
from __future__ import annotations

import json

from node import deadlines as dl
from node import jobs
from node.cases.common import SYSTEM, db_time, shanghai_today
from node.cases.lifecycle import CaseChange, commit_change, new_event
from node.cases.models import Case
from node.db import write_tx
from node.runtime import Node


def mark_overdue(node: Node) -> int:
    """Flag open cases whose running clock has passed (today in Asia/Shanghai from the node's
    clock); one ``overdue`` history event per case each time it becomes overdue."""
    today = shanghai_today(node)
    flagged = 0
    with node.activate():
        candidates = list(Case.overdue_candidates(today))
        for (case_id,) in candidates:
            now = node.now()
            with write_tx(node.db):
                row = Case.row(case_id)
                if row is None or row["overdue"]:
                    continue
                deadlines = json.loads(row["deadlines"])
                late = dl.overdue_clocks(deadlines, row["status"], today)
                if not late:
                    continue
                dues = "、".join(f"{k}（{deadlines[k]}）" for k in late)
                note = f"已超期：{dues} / overdue: " + ", ".join(f"{k} (due {deadlines[k]})" for k in late)
                changed = {"overdue": True, "version": row["version"] + 1, "updated_at": db_time(now)}
                new = {**row, **changed}
                event = new_event(case_id, node, SYSTEM, "overdue", row["status"], row["status"], note,
                                  db_time(now), {"clocks": late})
                commit_change(node, [CaseChange(row=new, events=[event], previous_version=row["version"],
                                                changed=changed, action="overdue")])
                flagged += 1
    return flagged


def job_specs(node: Node) -> list[jobs.JobSpec]:
    """The overdue check, every ``deadlines.overdue_check_interval_s`` (R2.6)."""
    return [("deadlines.mark_overdue", lambda n: float(n.config.deadlines.overdue_check_interval_s),
             mark_overdue)]
