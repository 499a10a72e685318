"""Per-node glue for the statutory clocks (R2.6, CONTRACT §5 "Deadlines").

``rules.py`` and ``calendar.py`` are pure; this module builds what they need once per
node and keeps it in ``node.cache`` (intake is a hot path, STYLE.md):

* ``rule_book(node)`` — the rule sets from ``deadlines.rules_dir`` (default
  ``configs/rules``; a relative path is taken from the node home);
* ``work_calendar(node)`` — the official calendar plus the operator calendar file
  ``deadlines.operator_calendar`` in the home (when present);
* ``calendar_warnings(node)`` — what ``n12315 status`` shows while a year this node counts in
  is not loaded, or while the rule set in force encodes a superseded regulation;

The clocks know nothing of cases: the job that flags overdue cases is the case domain's
(``node.cases.mark_overdue``), which calls these.
"""
from __future__ import annotations

import logging
from pathlib import Path

from node.config import CONFIGS_DIR
from node.deadlines.calendar import WorkCalendar, load_operator_calendar
from node.deadlines.rules import SHANGHAI, RuleBook, load_rule_sets
from node.runtime import Node

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
