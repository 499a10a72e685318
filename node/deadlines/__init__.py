"""Statutory clocks (R2.6, CONTRACT §5 "Deadlines"): the official working-day calendar, the
versioned rule sets, and the per-node cache of both.

Pure arithmetic over dates and rule sets; this package knows nothing of cases (the case
domain calls it to start, stop and check its clocks, and runs the overdue job itself).
"""
from node.deadlines.book import calendar_warnings, rule_book, rules_dir, work_calendar
from node.deadlines.calendar import WorkCalendar, load_operator_calendar
from node.deadlines.rules import (
    ACCEPT_MODES,
    SHANGHAI,
    RuleBook,
    RuleSet,
    RuleSetError,
    extend,
    initial_deadlines,
    load_rule_set,
    load_rule_sets,
    mark_met,
    on_accept,
    on_decision,
    on_odr_receipt,
    on_pause,
    on_resume,
    on_terminate,
    overdue_clocks,
    shanghai_date,
)

__all__ = ["ACCEPT_MODES", "SHANGHAI", "RuleBook", "RuleSet", "RuleSetError", "WorkCalendar", "calendar_warnings",
           "extend", "initial_deadlines", "load_operator_calendar", "load_rule_set", "load_rule_sets", "mark_met",
           "on_accept", "on_decision", "on_odr_receipt", "on_pause", "on_resume", "on_terminate", "overdue_clocks",
           "rule_book", "rules_dir", "shanghai_date", "work_calendar"]
