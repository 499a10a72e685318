"""Which actions a person may take on a case at this node, the form each takes, and what it
will do before it is done (issue 11 item 5; docs/desk.md "Actions that change something").

Serves R2.3 (reports against staff: the ``discipline`` role only), R2.4-R2.7 (escalate,
refer, urge, take over, follow-up) and CONTRACT §5 "Actions": the desk offers a button only
for an action that the state machine (``TRANSITIONS``) allows for the case's kind and status,
that the user's role may take (``ACTION_ROLES``, else the handling roles), and that can work
at this node — only the handling node changes a case; a node holding a copy may only propose
``PROPOSAL_ACTIONS`` (docs/routing.md §3); routing needs a link to send a case along.

``preview_action`` runs the very action (``act``) inside a transaction that is rolled back,
so the confirmation page states what will happen — the new status, the node the case will
travel to, the record that will be written, the clocks that move — and a refusal (409/422)
shows beside the field before anything is done. Nothing here imports Flask.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.models import Link
from node.cases.case_view import (
    ACTION_LABELS,
    CLOCK_LABELS,
    MODE_LABELS,
    OUTCOME_LABELS,
    SATISFACTION_LABELS,
    STATUS_LABELS,
    ground_text,
    money,
    unit_label,
)
from node.cases.common import ACT_ROLES, ACTION_ROLES, DEPARTMENTS, DISCIPLINE, intake_context
from node.cases.lifecycle import (
    ACTION_HANDLERS,
    COMPLAINT_OUTCOMES,
    PROPOSAL_ACTIONS,
    PROPOSAL_HOOK,
    REFERRAL_DIRECTORY,
    TRANSITIONS,
    act,
)
from node.cases.standard import DECLINE_GROUNDS, MEDIATION_END_GROUNDS, SATISFACTION
from node.config import CONFIGS_DIR
from node.db import write_tx
from node.runtime import Node
from node.web.catalogs import N_

# The order the action forms appear in on the case page.
DESK_ACTIONS = ("accept", "decline", "route", "return", "escalate", "refer", "verify", "file", "not_file",
                "mediate", "conclude", "answer", "notify", "pause", "resume", "extend", "feedback", "close",
                "reopen", "urge", "comment", "take_over", "assign")
ROUTING_ACTIONS = ("route", "escalate", "return")


@dataclass(frozen=True)
class FormField:
    """One input of an action form, named as the JSON API names it (CONTRACT §5)."""
    name: str
    label: str                      # msgid
    kind: str = "text"              # text | textarea | select | number | money
    required: bool = False
    options: str = ""               # which option list of ``field_options`` a select shows
    hint: str = ""                  # msgid
    kinds: tuple[str, ...] = ()     # case kinds the field applies to (() = every kind)


_NOTE = FormField("note", N_("Note"))
ACTION_FORMS: dict[str, tuple[FormField, ...]] = {
    "accept": (FormField("mode", N_("Handling mode"), "select", options="modes"), _NOTE),
    "decline": (FormField("reason", N_("Ground (Order 20 Art. 15)"), "select", True, "decline_grounds"),
                FormField("note", N_("Explanation"), "textarea")),
    "route": (FormField("to", N_("Send to"), "select", True, "route_targets"),
              FormField("note", N_("Reason"), hint=N_("Left empty, the jurisdiction rule is recorded."))),
    "return": (FormField("reason", N_("Why this unit is the wrong one"), "textarea", True),),
    "escalate": (FormField("reason", N_("Why the level above must decide"), "textarea", True),),
    "refer": (FormField("body", N_("Competent body"), "select", True, "bodies"),
              FormField("reason", N_("Reason"), "textarea", True), _NOTE),
    "verify": (_NOTE,), "file": (_NOTE,), "not_file": (_NOTE,), "mediate": (_NOTE,), "notify": (_NOTE,),
    "resume": (_NOTE,), "close": (_NOTE,), "urge": (_NOTE,),
    "conclude": (FormField("outcome", N_("Outcome"), "select", True, "outcomes"),
                 FormField("amount_recovered", N_("Amount recovered (CNY)"), "money",
                           hint=N_("A decimal such as 1299.00")),
                 FormField("reason", N_("Ground for ending mediation"), "select", options="end_grounds",
                           hint=N_("Only when mediation ended without agreement."), kinds=("complaint",)),
                 FormField("note", N_("Note"), "textarea")),
    "answer": (FormField("text", N_("Answer given"), "textarea", True), _NOTE),
    "pause": (FormField("reason", N_("Why the clocks stop"), hint=N_("Testing, inspection or appraisal.")),
              _NOTE),
    "extend": (FormField("clock", N_("Deadline"), "select", True, "extend_clocks"),
               FormField("days", N_("Extra working days"), "number", True),
               FormField("approved_by", N_("Approved by"), required=True), _NOTE),
    "feedback": (FormField("satisfaction", N_("Satisfaction"), "select", True, "satisfaction"), _NOTE),
    "reopen": (FormField("reason", N_("Why it is handled again"), "textarea", True),),
    "comment": (FormField("note", N_("Comment"), "textarea", True),),
    "take_over": (FormField("reason", N_("Reason"), "textarea"),),
    "assign": (FormField("department", N_("Lead department"), "select", True, "departments"),
               FormField("copy_departments", N_("Departments copied"), "multi", options="departments",
                         hint=N_("Hold Ctrl to choose several.")), _NOTE),
}
ACTION_HELP = {
    "accept": N_("Accept the complaint; the handling clock starts from today."),
    "decline": N_("Decline the complaint on a ground of Order 20 Art. 15; the complainant is told."),
    "route": N_("Send the case to the unit that must handle it."),
    "return": N_("Send the case back to the unit that sent it: this unit is not competent."),
    "escalate": N_("Ask the level above to decide (beyond this level's authority)."),
    "refer": N_("Outside market regulation: refer to the competent body and tell the consumer."),
    "verify": N_("Start verifying the report."),
    "file": N_("Open an enforcement case on the report."),
    "not_file": N_("Decide to open no enforcement case."),
    "mediate": N_("Start mediation between the parties."),
    "conclude": N_("Finish handling with an outcome."),
    "answer": N_("Record the answer given to the consultation."),
    "notify": N_("Record that the notice due has been sent."),
    "pause": N_("Stop the pausable clocks while testing or appraisal runs."),
    "resume": N_("Testing or appraisal is done: the clocks run again."),
    "extend": N_("Extend a deadline with the head's approval."),
    "feedback": N_("Record the complainant's satisfaction from the follow-up call."),
    "close": N_("Close and file the case."),
    "reopen": N_("Handle the case again after a dissatisfied follow-up."),
    "urge": N_("Urge the handling unit to finish in time."),
    "comment": N_("Add a comment to the record."),
    "take_over": N_("Take the case over from the subordinate handling unit."),
    "assign": N_("Give the case to a department of this bureau to lead, with others copied."),
}
ERROR_FIELD_ALIASES = {"extra_days": "days"}   # the clocks' own name for the API's ``days``


# -- what this node can reach ---------------------------------------------------------------------
def child_links(node: Node) -> list[tuple[str, str]]:
    """This node's child links (code, name) that a case can be routed to."""
    rows = (Link.select(Link.code, Link.name)
            .where((Link.role == "child") & (Link.state != "revoked"))
            .order_by(Link.code))
    return [(r.code, r.name or unit_label(node, r.code)) for r in rows]


def _has_link(role: str) -> bool:
    return Link.select().where((Link.role == role) & (Link.state != "revoked")).exists()


def destination_name(node: Node, code: str) -> str:
    """A node as the confirmation names it: its link's name when linked, else the unit's name."""
    link = Link.get_or_none(Link.code == code)
    return (link.name if link is not None and link.name else "") or unit_label(node, code)


def referral_bodies(node: Node, category: str | None = None) -> list[dict[str, Any]]:
    """The referral directory (R2.5) as the case lifecycle resolves it, the bodies suggested
    for ``category`` first. The codes are read from the node's ``bodies.toml`` (its home's copy
    first, as routing reads it); each is named by the installed directory (routing)."""
    codes = node.cache.get("case_page.body_codes")
    if codes is None:
        own = Path(node.config.home) / "jurisdiction" / "bodies.toml"
        path = own if own.is_file() else CONFIGS_DIR / "jurisdiction" / "bodies.toml"
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        codes = [(str(b["code"]), tuple(b.get("categories") or ())) for b in data.get("bodies", [])
                 if isinstance(b, dict) and b.get("code")]
        node.cache["case_page.body_codes"] = codes
    out = []
    for code, cats in codes:
        known = next((hit for lookup in REFERRAL_DIRECTORY if (hit := lookup(node, code))), None)
        if known:
            match = max((len(p) for p in cats if category and category.startswith(p)), default=0)
            out.append({**known, "suggested": match > 0, "_rank": -match})
    out.sort(key=lambda b: b["_rank"])
    return out


# -- which actions ----------------------------------------------------------------------------------
def _sender(node: Node, case: Mapping[str, Any]) -> str | None:
    mine = [e for e in case.get("custody") or [] if e.get("node") == node.code and e.get("until") is None]
    return mine[-1].get("from") if mine else None


def _extendable(case: Mapping[str, Any]) -> list[str]:
    d = case.get("deadlines") or {}
    out = []
    for key, record in (d.get("clocks") or {}).items():
        used = sum(e["days"] for e in d.get("extensions", ()) if e["clock"] == key)
        if d.get(key) and key not in d.get("met", {}) and record.get("extension_days", 0) - used > 0:
            out.append(key)
    return out


def _can_work(node: Node, case: Mapping[str, Any], action: str) -> bool:
    """Whether an action the state machine allows can be done at this handling node."""
    d = case.get("deadlines") or {}
    open_pause = any(p.get("to") is None for p in d.get("paused", ()))
    if action == "take_over":
        return False   # asked for by a superior holding a copy; at the handler it is refused
    if action in ROUTING_ACTIONS and action not in ACTION_HANDLERS:
        return False
    if action == "route":
        return _has_link("child") or _has_link("parent")
    if action == "escalate":
        return _has_link("parent")
    if action == "return":
        return bool(_sender(node, case))
    if action == "notify":
        return any(k in d.get("clocks", {}) and d.get(k) and k not in d.get("met", {})
                   for k in ("mediation_notice_by", "reporter_notice_by"))
    if action == "pause":
        return not open_pause and any(r.get("pausable") and d.get(k) and k not in d.get("met", {})
                                      for k, r in (d.get("clocks") or {}).items())
    if action == "resume":
        return open_pause
    if action == "extend":
        return bool(_extendable(case))
    return True


def allowed_actions(node: Node, case: Mapping[str, Any], actor: Any) -> list[str]:
    """The actions ``actor`` may take on ``case`` (as ``get_case`` returns it) at this node,
    in the order the desk shows them: legal in the state machine, allowed to the role, and
    workable here (the handler acts; a node holding a copy only proposes)."""
    role = getattr(actor, "role", None)
    kind, status = case["kind"], case["status"]
    if (case.get("department") == DISCIPLINE) != (role == DISCIPLINE):
        return []   # reports against staff: discipline only, and discipline only those (R2.3)
    copy = (case.get("held_as") or "handler") != "handler"
    handler = case.get("handling_node") or ""
    out = []
    for action in DESK_ACTIONS:
        if role not in ACTION_ROLES.get(action, ACT_ROLES):
            continue
        legal = status in TRANSITIONS[action].get(kind, {})
        if copy:
            if action not in PROPOSAL_ACTIONS or not PROPOSAL_HOOK:
                continue
            if not (legal or (status == "transferred" and action in ("urge", "comment", "take_over"))):
                continue
            if action == "take_over" and not (handler != node.code
                                              and intake_context(node).divisions.is_within(handler, node.code)):
                continue
            if action in ("feedback", "reopen") and case.get("accepting_node") != node.code:
                continue
        elif not legal or not _can_work(node, case, action):
            continue
        out.append(action)
    return out


def field_options(node: Node, case: Mapping[str, Any], needed: set[str] | None = None
                  ) -> dict[str, list[tuple[str, str, str]]]:
    """The choices of the selects (only the lists in ``needed``, when given): ``(value, label,
    how)``, ``how`` saying how the page shows the label: ``msgid`` (translated), ``pair``
    ("中文 / English", localized) or ``text`` (as is)."""
    def outcomes() -> list[tuple[str, str, str]]:
        if case["kind"] == "complaint":
            return [(o, OUTCOME_LABELS[o], "msgid") for o in COMPLAINT_OUTCOMES]
        return [(case["status"], OUTCOME_LABELS.get(case["status"], case["status"]), "msgid")]

    lists = {
        "modes": lambda: [(m, MODE_LABELS[m], "msgid") for m in MODE_LABELS],
        "decline_grounds": lambda: [(c, ground_text(c), "pair") for c in DECLINE_GROUNDS],
        "end_grounds": lambda: [(c, ground_text(c), "pair") for c in MEDIATION_END_GROUNDS],
        "satisfaction": lambda: [(s, SATISFACTION_LABELS[s], "msgid") for s in SATISFACTION],
        "outcomes": outcomes,
        "route_targets": lambda: [("auto", N_("The competent unit, by the jurisdiction rules"), "msgid")]
        + [(code, f"{name}（{code}）", "text") for code, name in child_links(node) if code != node.code],
        "bodies": lambda: [(b["code"], b["name"] + (f"（{b['hotline']}）" if b.get("hotline") else ""), "text")
                           for b in referral_bodies(node, case.get("category"))],
        "extend_clocks": lambda: [(k, CLOCK_LABELS.get(k, k), "msgid") for k in _extendable(case)],
        "departments": lambda: [(code, name, "text") for code, name in DEPARTMENTS.items()
                                if (code == DISCIPLINE) == (case.get("report_target") == "staff")],
    }
    return {name: make() for name, make in lists.items() if needed is None or name in needed}


def form_fields(action: str, kind: str) -> tuple[FormField, ...]:
    return tuple(f for f in ACTION_FORMS.get(action, ()) if not f.kinds or kind in f.kinds)


def payload_from_form(action: str, form: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The JSON body of the API from an action form: only the action's own fields, empty ones
    left out (the domain's "required" message then names the field), whole numbers as numbers."""
    payload: dict[str, Any] = {"action": action}
    for f in form_fields(action, kind):
        if f.kind == "multi":   # a multiple select; kept as one "a,b" through the confirmation
            chosen = [v for item in _getlist(form, f.name) for v in str(item).split(",") if v.strip()]
            if chosen:
                payload[f.name] = [v.strip() for v in chosen]
            continue
        raw = form.get(f.name)
        if raw is None or not str(raw).strip():
            continue
        value: Any = str(raw).strip()
        if f.kind == "number" and value.isdigit():
            value = int(value)
        payload[f.name] = value
    return payload


def _getlist(form: Mapping[str, Any], name: str) -> list[Any]:
    getlist = getattr(form, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    value = form.get(name)
    return value if isinstance(value, list) else ([] if value is None else [value])


# -- what an action will do -------------------------------------------------------------------------
class _DryRun(Exception):
    """Raised inside the preview's transaction so that everything it wrote is rolled back."""


def preview_action(node: Node, case_id: str, payload: Mapping[str, Any], actor: Any) -> dict[str, Any]:
    """The case as ``act`` would leave it, with nothing written: the action runs in full — every
    check, the routing hooks, the documents it queues — inside a transaction rolled back at
    the end. A refusal is raised as ``act`` raises it."""
    result: dict[str, Any] = {}
    try:
        with write_tx(node.db):
            result = act(node, case_id, dict(payload), actor)
            raise _DryRun
    except _DryRun:
        pass
    return result


def consequence(node: Node, before: Mapping[str, Any], after: Mapping[str, Any],
                payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the confirmation page states: status change, where the case goes (by name and
    code), to whom a proposal is sent, the record written, the clocks that move, the outcome."""
    action = payload["action"]
    out: dict[str, Any] = {"action": action, "action_label": ACTION_LABELS.get(action, action),
                           "status_from": STATUS_LABELS.get(before["status"], before["status"]),
                           "status_to": STATUS_LABELS.get(after["status"], after["status"]),
                           "status_changes": before["status"] != after["status"],
                           "destination": None, "proposal_to": None, "notes": [], "clocks": [], "details": []}
    proposal = after.get("proposal")
    if proposal:
        out["proposal_to"] = (proposal["to"], destination_name(node, proposal["to"]))
        out["status_changes"] = False
        out["status_to"] = out["status_from"]
        return out
    if after.get("handling_node") != before.get("handling_node"):
        code = after["handling_node"]
        out["destination"] = (code, destination_name(node, code))
    out["notes"] = [e["note"] for e in after.get("history", [])[len(before.get("history", [])):] if e.get("note")]
    old, new = before.get("deadlines") or {}, after.get("deadlines") or {}
    for key in CLOCK_LABELS:
        was_met, now_met = (old.get("met") or {}).get(key), (new.get("met") or {}).get(key)
        if new.get(key) != old.get(key) or now_met != was_met:
            out["clocks"].append({"label": CLOCK_LABELS[key], "was": old.get(key) or "",
                                  "due": new.get(key) or "", "met_on": now_met if now_met != was_met else ""})
    outcome = after.get("outcome") or {}
    if action == "conclude":
        out["details"].append((N_("Outcome"), OUTCOME_LABELS.get(outcome.get("outcome", ""), ""), "msgid"))
        if after.get("amount_recovered"):
            out["details"].append((N_("Amount recovered"), money(after["amount_recovered"]), "text"))
        if outcome.get("reason"):
            out["details"].append((N_("Ground for ending mediation"), ground_text(outcome["reason"]), "pair"))
    elif action == "decline":
        out["details"].append((N_("Ground (Order 20 Art. 15)"), ground_text(outcome.get("reason")), "pair"))
    elif action == "refer":
        out["details"].append((N_("Competent body"), str(outcome.get("body") or ""), "text"))
        if outcome.get("tell"):
            out["details"].append((N_("The consumer is told"), str(outcome["tell"]), "text"))
    elif action == "feedback":
        out["details"].append((N_("Satisfaction"), SATISFACTION_LABELS.get(outcome.get("satisfaction", ""), ""),
                               "msgid"))
    elif action == "assign":
        out["details"].append((N_("Lead department"), DEPARTMENTS.get(after.get("department", ""), ""), "text"))
        copies = payload.get("copy_departments") or []
        if copies:
            out["details"].append((N_("Departments copied"), "、".join(DEPARTMENTS.get(c, c) for c in copies), "text"))
    elif action == "accept":
        mode = payload.get("mode") or "mediation"
        out["details"].append((N_("Handling mode"), MODE_LABELS.get(str(mode), str(mode)), "msgid"))
    return out
