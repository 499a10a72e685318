"""The emergency-command desk's forms, turned into the bodies the API takes (issue 11 item 7).

No Flask: ``pages.py`` hands a posted form (anything with ``get`` and ``getlist``) to these
functions and calls the same service functions as the JSON API with what they return, so a
page can do nothing the API would refuse. The checks a confirmation page needs *before* the
action (the first POST states the consequence, the second one acts) are the service's own.

* ``issue_payload`` / ``check_issue`` — the issue form → ``issue``'s body, checked as
  ``issue`` checks it (without issuing)
* ``plan_values`` — a plan (预案) as the form's pre-filled values
* ``case_draft`` / ``case_overrides`` / ``check_case`` — 案件转指令: what
  ``directive_from_case`` would issue, as pre-filled values; the form's changes as its overrides
* ``ack_payload``, ``report_payload``, ``update_payload``, ``update_changes``, ``cancel_payload``
* ``field_key`` — an API error's field (``targets[1]``) → the form field it belongs to
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from node.directives.common import text_field
from node.directives.from_case import draft_from_case
from node.directives.plans import get_plan

# The service's own checks (module-private there: the desk is the one other caller, so that a
# confirmation page never confirms what the action would then refuse).
from node.directives.service import REPORT_TEXT_MAX, parse_counts, parse_issue
from node.directives.targets import area_name
from node.errors import invalid
from node.runtime import Node

ISSUE_TEXT_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "plan")
MINUTE_FIELDS = ("ack_within_minutes", "report_within_minutes")
UPDATE_TEXT_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category")
#: the issue form's fields in the order a person reads them (errors about other fields go on top)
FORM_FIELDS = ("plan", "title", "body", "severity", "urgency", "certainty", "category", "targets",
               "ack_within_minutes", "report_within_minutes", "exercise", "subtree", "text", "counts", "name",
               "note", "reason")
_SPLIT = re.compile(r"[\s,，;；]+")


class Form(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


def _text(form: Form, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _whole(raw: str) -> int | str:
    """A number typed into a form: an int when it is one, else the text as typed (so the
    service's message names the field: "must be a whole number of minutes")."""
    return int(raw) if raw.isascii() and raw.isdigit() else raw


def _minutes(form: Form, out: dict[str, Any]) -> None:
    for name in MINUTE_FIELDS:
        raw = _text(form, name)
        if raw is not None:
            out[name] = _whole(raw)


def form_targets(form: Form) -> list[str]:
    """Every ``targets`` value: the checked boxes and the codes typed into the free field."""
    out: list[str] = []
    for raw in form.getlist("targets"):
        for item in _SPLIT.split(str(raw).strip()):
            if item and item not in out:
                out.append(item)
    return out


# -- issuing ---------------------------------------------------------------------------------------
def issue_payload(form: Form) -> dict[str, Any]:
    """The issue form as ``issue``'s body; an empty input is left out (the plan fills it, or
    the service's "required" message names it)."""
    out: dict[str, Any] = {}
    for name in ISSUE_TEXT_FIELDS:
        value = _text(form, name)
        if value is not None:
            out[name] = value
    _minutes(form, out)
    targets = form_targets(form)
    if not targets:
        # the API's default is "every node below"; a form left untouched must not mean that
        raise invalid("targets", "请选择接收指令的节点 / choose the nodes that receive the directive")
    out["targets"] = targets
    out["exercise"] = _text(form, "exercise") is not None
    return out


def check_issue(node: Node, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Check a body exactly as ``issue`` will (``NodeError`` naming the field); return the
    normalised fields (``targets`` as specs, ``plan`` as the attachment)."""
    return parse_issue(node, payload)


def plan_values(node: Node, plan_id: str) -> dict[str, Any]:
    """The values a plan fills into the form (title, body, severity, urgency, certainty,
    category, deadlines) and its attachment (steps, duties, report counts) for display."""
    plan = get_plan(node, plan_id)
    return {"plan": plan.id, "title": plan.title, "body": plan.summary, "severity": plan.severity,
            "urgency": plan.urgency, "certainty": plan.certainty, "category": plan.category,
            "ack_within_minutes": plan.ack_within_minutes, "report_within_minutes": plan.report_within_minutes or "",
            "_plan": {**plan.attachment(), "name_en": plan.name_en}}


# -- from a case (R3.4) ----------------------------------------------------------------------------
def case_draft(node: Node, case_id: str) -> dict[str, Any]:
    """What ``directive_from_case`` would issue for this case, as the form's values.

    ``directive_from_case`` reads the case and issues at once (it has no draft); this mirrors
    its reading — the same refusals, the same derived title, body, severity, urgency,
    category and deadline — so the leader sees and may change them first. The directive is
    then issued by ``directive_from_case`` itself with the form's values as its overrides,
    which keeps the case link (``case_id``) and every check of the API.
    """
    case, payload = draft_from_case(node, case_id)
    region = case.respondent_region
    return {"case_id": case.case_id, "summary": case.summary, "urgency": case.urgency, "region": region,
            "region_name": area_name(node, region), "values": {**payload, "certainty": "observed"}}


def case_overrides(form: Form) -> dict[str, Any]:
    """The form's values as ``directive_from_case``'s overrides (``subtree``: the region's
    whole subtree rather than its bureau only)."""
    out: dict[str, Any] = {}
    for name in ISSUE_TEXT_FIELDS:
        value = _text(form, name)
        if value is not None:
            out[name] = value
    _minutes(form, out)
    out["exercise"] = _text(form, "exercise") is not None
    out["subtree"] = _text(form, "subtree") is not None
    return out


def check_case(node: Node, draft: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check what ``directive_from_case(overrides)`` will issue, as ``check_issue`` does."""
    body = {k: v for k, v in draft["values"].items() if k != "certainty"}
    if overrides.get("plan"):          # as directive_from_case: the plan's defaults win over the case's
        for key in ("severity", "urgency", "category", "ack_within_minutes"):
            body.pop(key, None)
    body.update({k: v for k, v in overrides.items() if k != "subtree"})
    region = draft["region"]
    body["targets"] = [f"{region}/*" if overrides.get("subtree") else region]
    return check_issue(node, body)


# -- acting on a directive --------------------------------------------------------------------------
def ack_payload(form: Form) -> dict[str, Any]:
    return {k: v for k in ("name", "note") if (v := _text(form, k)) is not None}


def report_payload(form: Form, count_keys: list[str]) -> dict[str, Any]:
    """The report form: text, the plan's counts (``counts.<key>``, empty ones left out) and
    the reporter's name; checked as ``add_report`` checks them."""
    out: dict[str, Any] = {}
    text = text_field({"text": _text(form, "text")}, "text", required=True, max_len=REPORT_TEXT_MAX, label="反馈内容")
    out["text"] = text
    counts: dict[str, Any] = {}
    for key in count_keys:
        raw = _text(form, f"counts.{key}")
        if raw is not None:
            counts[key] = _whole(raw)
    if counts:
        out["counts"] = parse_counts(counts)
    name = _text(form, "name")
    if name is not None:
        out["name"] = name
    return out


def update_payload(form: Form) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in UPDATE_TEXT_FIELDS + ("note",):
        value = _text(form, name)
        if value is not None:
            out[name] = value
    _minutes(form, out)
    return out


def update_changes(doc: Mapping[str, Any], payload: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, now, after) for each field the update changes (``update`` sends only these)."""
    return [(k, doc.get(k), v) for k, v in payload.items() if k != "note" and doc.get(k) != v]


def cancel_payload(form: Form) -> dict[str, Any]:
    reason = _text(form, "reason")
    return {"reason": reason} if reason else {}


def field_key(field: str | None) -> str:
    """``targets[1]`` → ``targets``, ``counts.shops`` → ``counts``; ``_form`` for a field the
    form does not show (the message then stands above the form)."""
    if not field:
        return "_form"
    base = re.split(r"[\[.]", field, maxsplit=1)[0]
    if base == "plan_version":
        base = "plan"
    return base if base in FORM_FIELDS else "_form"
