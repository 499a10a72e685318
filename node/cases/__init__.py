"""Cases: the national data standard, intake, the lifecycle and its state machine, search,
categories, triage and the USCC check (R1, R2.3, R2.6, R4.1, R7.3; CONTRACT §5).

The names below are what other domains may use (routing, directives, statistics, the web
layer); everything else in this package is its own business.
"""
from node.cases.categories import CategoryTable, load_categories
from node.cases.models import Case, CaseEvent, create_search_index
from node.cases import service as _service
from node.cases.service import (
    ACTION_NAMES_ZH,
    ACTIONS,
    DISCIPLINE,
    DONE_STATUSES,
    PROPOSAL_ACTIONS,
    READ_ROLES,
    TRANSITIONS,
    Actor,
    CaseChange,
    act,
    categories,
    get_case,
    install_extension,
    intake_context,
    job_specs,
    list_cases,
    mark_overdue,
    to_api,
)
from node.cases.standard import (
    ALL_KINDS,
    CASE_ID_RE,
    CHANNELS,
    DECLINE_GROUNDS,
    KINDS,
    OUTCOMES,
    SATISFACTION,
    SHANGHAI,
    SPECS_BY_NAME,
    STATUSES,
    URGENCIES,
)

# Step 1 of the move: the lifecycle's helpers that routing uses, under public names (the
# cases split gives them these names in their own modules).
commit_change = _service._commit_change
new_event = _service._event
illegal_action = _service._illegal
insert_rows = _service._insert
next_due = _service._next_due
no_link_error = _service._no_link
optional_text = _service._opt_text
required_code = _service._req_code
required_text = _service._req_text

__all__ = ["ACTIONS", "ACTION_NAMES_ZH", "DISCIPLINE", "DONE_STATUSES", "PROPOSAL_ACTIONS", "READ_ROLES",
           "TRANSITIONS", "CaseChange", "act", "install_extension", "intake_context", "job_specs", "mark_overdue", "to_api",
           "commit_change", "new_event", "illegal_action", "insert_rows", "next_due", "no_link_error",
           "optional_text", "required_code", "required_text",
           "ALL_KINDS", "CASE_ID_RE", "CHANNELS", "Case", "CaseEvent", "CategoryTable", "DECLINE_GROUNDS", "KINDS",
           "OUTCOMES", "SATISFACTION", "SHANGHAI", "SPECS_BY_NAME", "STATUSES", "URGENCIES", "Actor", "categories",
           "create_search_index", "get_case", "list_cases", "load_categories"]
