"""Routing through the tree (R1.5, R2; docs/routing.md): jurisdiction rules, case documents
and their handlers, custody, proposals, notifications to named complainants, supervision.

It extends the case lifecycle through ``node.cases.install_extension``; the case domain never
imports routing. Inside the package:

* ``tables.py`` — the jurisdiction tables (TOML, checked, cached per node);
  ``rules.py`` — the pure decisions (a case and the tables in, a destination out);
  ``paths.py`` — the tree paths documents travel;
* ``documents.py`` — the case documents, the wire form of a case, lean reads and writes;
  ``custody.py`` — who handles a case and who holds a copy;
* ``hooks.py`` — custody at intake, documents with every change; ``actions.py`` — route,
  escalate, return, take over, urge, comment, reopen; ``arrivals.py`` — transfers and
  updates arriving; ``proposals.py`` — what copy holders ask of the handler;
* ``notifications.py`` (R2.7), ``supervision.py`` (R2.6), ``referrals.py`` (R2.5);
* ``wiring.py`` — the three functions below; ``api.py`` — the endpoints; ``models.py``;
* ``supervision_view.py`` — the desk's supervision board (overdue and soon-due cases of the
  subtree by handling unit, the escalation reminders); ``supervision_actions.py`` — urge and
  take over from it, planned then done through ``node.cases.act``; ``pages.py`` — its pages.
"""
from node.routing.custody import accused, holders, unit_name
from node.routing.paths import cover
from node.routing.supervision_actions import perform_action, plan_action
from node.routing.supervision_view import reminder_history, supervision_board
from node.routing.tables import reopen_within_days
from node.routing.wiring import install_case_hooks, job_specs, register_handlers

__all__ = ["install_case_hooks", "job_specs", "register_handlers",
           # the desk's supervision board (issue 11 item 6)
           "perform_action", "plan_action", "reminder_history", "supervision_board",
           # who holds a case, and the fewest documents that reach them all (node.evidence)
           "accused", "cover", "holders",
           # the bureau a node code stands for, as people are told it (node.public)
           "unit_name", "reopen_within_days"]
