"""Cases: the national data standard, intake, the lifecycle and its state machine, search,
categories, triage and the USCC check (R1, R2.3, R2.6, R4.1, R7.3; CONTRACT §5).

The names below are what other domains may use (routing, directives, statistics, the web
layer); everything else in this package is its own business. Where they live:

* ``standard.py`` — the vocabulary of the data standard (kinds, channels, statuses, outcomes,
  coded grounds); ``validate.py``, ``checks.py``, ``extensions.py`` — input validation;
  ``standard_doc.py`` — docs/data-standard.md;
* ``common.py`` — roles, ``Actor``, the per-node reference data, the case as the API shows it,
  the readers of action payloads;
* ``intake.py`` — ``create_case``; ``lifecycle.py`` — the state machine, ``act``, the one
  write path ``commit_change`` and its extension hooks; ``search.py`` — ``get_case``,
  ``list_cases``, the leadership board, and for the desk ``search_cases`` (sorted),
  ``export_cases`` and ``similar_cases`` (duplicate hints), ``read_case`` / ``reveal_case`` (one
  case masked by role, or opened in full with a recorded reason: ``personal_view.py``); ``preview.py`` — ``preview_case``
  (triage and clocks of a registration, nothing stored); ``overdue.py`` — the overdue job;
  ``chain.py`` — each case's history hash-chained (``chain_events``, ``verify_history``), its
  head sealed with the audit log's (``mark_heads``, ``seal_case_heads``).
* ``actions_view.py`` — ``allowed_actions`` (the actions a user may take on a case at this node)
  and ``preview_action`` (what an action will do, nothing written); ``case_view.py`` and
  ``form_doc.py`` — the case page's sections and the printed case form (``case_page/``).
"""
from node.cases.actions_view import allowed_actions, preview_action
from node.cases.category_table import CategoryTable, load_categories
from node.cases.chain import (
    HistoryFinding,
    HistoryReport,
    chain_events,
    chain_existing,
    chain_onto,
    event_hash,
    mark_heads,
    seal_case_heads,
    verify_history,
)
from node.cases.checks import check_text, parse_money
from node.cases.common import (
    ANY_ACT_ROLES,
    CREATE_ROLES,
    DEPARTMENTS,
    DISCIPLINE,
    DONE_STATUSES,
    LEADERSHIP_ROLES,
    READ_ROLES,
    STATUS_NAMES_ZH,
    Actor,
    categories,
    intake_context,
    optional_text,
    required_code,
    required_text,
    to_api,
    urgency_label,
)
from node.cases.intake import create_case, department_for
from node.cases.lifecycle import (
    ACTION_NAMES_ZH,
    ACTIONS,
    COPY_HOOKS,
    PROPOSAL_ACTIONS,
    TRANSITIONS,
    CaseChange,
    act,
    commit_change,
    illegal_action,
    insert_rows,
    install_extension,
    new_event,
    next_due,
    no_link_error,
)
from node.cases.models import Case, CaseEvent, create_search_index
from node.cases.overdue import job_specs, mark_overdue
from node.cases.preview import preview_case
from node.cases.search import (
    EXPORT_MAX,
    SORTS,
    count_cases,
    count_cases_upto,
    export_cases,
    get_case,
    leadership_board,
    list_cases,
    read_case,
    reveal_case,
    search_cases,
    similar_cases,
)
from node.cases.standard import (
    ALL_KINDS,
    CASE_ID_RE,
    CHANNELS,
    DECLINE_GROUNDS,
    KINDS,
    MEDIATION_END_GROUNDS,
    OUTCOMES,
    SATISFACTION,
    SHANGHAI,
    SPECS_BY_NAME,
    STATUSES,
    URGENCIES,
)
from node.cases.triage import triage
from node.cases.validate import validate_case_input

__all__ = ["HistoryFinding", "HistoryReport", "chain_events", "chain_existing", "chain_onto", "event_hash",
           "mark_heads", "seal_case_heads", "verify_history",
           "ACTIONS", "ACTION_NAMES_ZH", "COPY_HOOKS", "DISCIPLINE", "DONE_STATUSES", "PROPOSAL_ACTIONS", "READ_ROLES",
           "TRANSITIONS", "CaseChange", "act", "install_extension", "intake_context", "job_specs", "mark_overdue", "to_api",
           "commit_change", "new_event", "illegal_action", "insert_rows", "next_due", "no_link_error",
           "optional_text", "required_code", "required_text",
           "ALL_KINDS", "CASE_ID_RE", "CHANNELS", "Case", "CaseEvent", "CategoryTable", "DECLINE_GROUNDS", "KINDS",
           "OUTCOMES", "SATISFACTION", "SHANGHAI", "SPECS_BY_NAME", "STATUSES", "URGENCIES", "Actor", "categories",
           "create_search_index", "get_case", "list_cases", "load_categories",
           # added with the split: what the API, the CLI and the other domains also call
           "ANY_ACT_ROLES", "CREATE_ROLES", "DEPARTMENTS", "LEADERSHIP_ROLES", "MEDIATION_END_GROUNDS",
           "STATUS_NAMES_ZH", "check_text", "count_cases", "create_case", "leadership_board", "parse_money", "urgency_label",
           # the desk's intake form and case list (issue 11 items 3-4)
           "EXPORT_MAX", "SORTS", "count_cases_upto", "export_cases", "preview_case", "search_cases", "similar_cases",
           # the desk's case page (issue 11 item 5): the actions a user may take here, and what one will do
           "allowed_actions", "preview_action",
           # masking by role and the recorded full read (issue 13 items 3-4)
           "read_case", "reveal_case",
           # bulk import (issue 15 item 3): the same validation, numbering and triage as intake
           "department_for", "triage", "validate_case_input"]
