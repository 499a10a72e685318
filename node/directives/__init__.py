"""Emergency directives down the tree (R3): issue and fan-out, acknowledgement and reports,
progress, reminders, plans (预案), CAP 1.2 renderings and consumer warnings (R4.4, R6.4).

The names below are what the rest of the node (``node.domains``), the CLI and the benchmark
use; the modules of this package are its own business:

* ``common`` — vocabularies, ``Actor``, times, the checks of a request body (shared with warnings)
* ``targets`` — target specs and the forwarding rule; ``plans`` — 预案 as versioned data
* ``service`` — issue, update, cancel, acknowledge, report; ``from_case`` — R3.4
* ``store`` — the rows both the actions and the arriving documents write
* ``progress`` — subtree snapshots; ``reading`` — what staff read; ``reminders`` — the overdue job
* ``documents`` — the handlers of arriving directive documents
* ``cap`` (XML) and ``cap_directives`` (a directive's messages as CAP)
* ``warnings`` — consumer warnings and tips on the public feed
* ``api`` and ``public_api`` — the HTTP endpoints (``openapi`` describes them); ``models`` — the tables
"""
from __future__ import annotations

from typing import Any

from node.directives import documents, warnings
from node.directives.cap_directives import cap_ack_xml, cap_xml
from node.directives.common import (
    ACK_ROLES,
    CATEGORIES,
    CERTAINTIES,
    ISSUE_ROLES,
    SEVERITIES,
    STATUS_NAMES,
    URGENCIES,
    Actor,
    is_within,
)
from node.directives.from_case import directive_from_case
from node.directives.models import Directive
from node.directives.plans import Plan, PlanError, get_plan, list_plans, load_plans
from node.directives.progress import flush_progress, progress_view
from node.directives.reading import awaiting_acknowledgement, get, list_directives, reports
from node.directives.reminders import check_overdue
from node.directives.service import acknowledge, add_report, cancel, issue, update
from node.directives.store import messages
from node.directives.targets import expected_codes, is_target, leads_into, normalise_targets
from node.directives.warnings import public_feed as public_warnings
from node.runtime import Node
from replication.registry import Registry


def register_handlers(node: Node, registry: Registry) -> None:
    """The documents this domain applies: directives and consumer warnings (``node.domains``
    installs it). Registered here, so neither of the two modules needs the other."""
    documents.register_handlers(node, registry)
    warnings.register_handlers(node, registry)


def job_specs(node: Node) -> list[Any]:
    """Owed progress snapshots at the push interval; overdue reminders every minute."""
    return [
        ("directives.progress", lambda n: n.config.replication.push_interval_s, flush_progress),
        ("directives.overdue", lambda n: 60.0, check_overdue),
    ]


__all__ = ["ACK_ROLES", "CATEGORIES", "CERTAINTIES", "ISSUE_ROLES", "SEVERITIES", "STATUS_NAMES", "URGENCIES",
           "Actor", "Directive", "Plan", "PlanError", "acknowledge", "add_report", "awaiting_acknowledgement",
           "cancel", "cap_ack_xml", "cap_xml", "check_overdue", "directive_from_case", "expected_codes",
           "flush_progress", "get", "get_plan", "is_target", "is_within", "issue", "job_specs", "leads_into",
           "list_directives", "list_plans", "load_plans", "messages", "normalise_targets", "progress_view",
           "register_handlers", "reports", "update",
           # the consumer warnings of the public front page (node.public)
           "public_warnings"]
