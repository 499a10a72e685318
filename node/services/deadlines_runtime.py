"""Per-node glue for the statutory clocks (R2.6, CONTRACT §5 "Deadlines").

``deadlines.py`` and ``workcalendar.py`` are pure; this module builds what they need once per
node and keeps it in ``node.cache`` (intake is a hot path, STYLE.md):

* ``rule_book(node)`` — the rule sets from ``deadlines.rules_dir`` (default
  ``configs/rules``; a relative path is taken from the node home);
* ``work_calendar(node)`` — the official calendar plus the operator calendar file
  ``deadlines.operator_calendar`` in the home (when present);
* ``calendar_warnings(node)`` — what ``n12315 status`` shows while a year this node counts in
  is not loaded, or while the rule set in force encodes a superseded regulation;
* ``mark_overdue(node)`` — the periodic job that flags open cases whose running clock has
  passed (Asia/Shanghai today from ``node.now()``), registered in ``node.jobs``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from node import jobs
from node.config import CONFIGS_DIR
from node.runtime import Node
from node.services.deadlines import SHANGHAI, RuleBook, load_rule_sets
from node.services.workcalendar import WorkCalendar, load_operator_calendar

log = logging.getLogger(__name__)


def rules_dir(node: Node) -> Path:
    configured = node.config.deadlines.rules_dir
    if not configured:
        return CONFIGS_DIR / "rules"
    path = Path(configured)
    return path if path.is_absolute() else node.config.home_path / path


def rule_book(node: Node) -> RuleBook:
    book = node.cache.get("rule_book")
    if book is None:
        book = load_rule_sets(rules_dir(node))
        node.cache["rule_book"] = book
    return book


def work_calendar(node: Node) -> WorkCalendar:
    cal = node.cache.get("work_calendar")
    if cal is None:
        path = node.config.home_path / node.config.deadlines.operator_calendar
        operator = load_operator_calendar(path) if path.is_file() else {}
        cal = WorkCalendar(operator)
        node.cache["work_calendar"] = cal
    return cal


def calendar_warnings(node: Node) -> list[str]:
    """Warnings for this year and the next (deadlines run into it), and for the rule set in
    force today; empty when all is loaded."""
    today = node.now().astimezone(SHANGHAI).date()
    cal = work_calendar(node)
    out: list[str] = []
    for year in (today.year, today.year + 1):
        out += cal.warnings_for(year)
    try:
        out += rule_book(node).warnings_for(today)
    except Exception as exc:  # noqa: BLE001 - no rule set in force is a warning, not a crash
        out.append(getattr(exc, "message", str(exc)))
    return out


def mark_overdue(node: Node) -> int:
    """Flag open cases whose running clock has passed; return how many were flagged.

    Each newly overdue case gets ``overdue = true`` and one history event (action
    ``overdue``), written through the case service's single change path.
    """
    from node.services import cases
    return cases.mark_overdue(node)


def _jobs(node: Node) -> list[jobs.JobSpec]:
    return [("deadlines.mark_overdue", lambda n: float(n.config.deadlines.overdue_check_interval_s),
             mark_overdue)]


if _jobs not in jobs.JOB_FACTORIES:
    jobs.JOB_FACTORIES.append(_jobs)
