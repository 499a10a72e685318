"""What registering a case would do, without registering it (issue 11 item 3: "before saving,
the urgency the triage suggests and the statutory deadlines that will apply").

Serves R1.4 (triage into general / urgent / critical, shown to the operator before saving)
and R2.6 (the statutory clocks that start on the receipt date, under the rule set in force
that day). ``preview_case(node, payload, actor)`` takes the same body as ``create_case``
(CONTRACT §5, plus ``also_report``), runs the same validation, triage and deadline code, and
stores nothing. A body that would be refused is still previewed as far as it goes — the
operator is typing while listening, so half a form is the normal case — and the first
problem is returned beside the preview instead of raised.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from node import deadlines as dl
from node.cases.common import CREATE_ROLES, intake_context, require_role
from node.cases.standard import ALL_KINDS, SHANGHAI, URGENCIES
from node.cases.triage import triage
from node.cases.validate import validate_case_input
from node.errors import NodeError, bad_request

# The clocks that start later in a case's life, by kind: deadline key -> the rule-set clock.
# (Only the mediation clock is named differently: CONTRACT §5 calls it ``conclude_by``.)
LATER_CLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "complaint": (("conclude_by", "mediation_end_by"), ("mediation_notice_by", "mediation_notice_by")),
    "report": (("reporter_notice_by", "reporter_notice_by"),),
    "consultation": (),
}
_URGENCY_VALUES = tuple(u.value for u in URGENCIES)


def _lenient(payload: dict[str, Any], now: datetime) -> tuple[str | None, str, str, str, datetime]:
    """kind, urgency, summary, description, received_at from a body that failed validation:
    whatever of them is usable, so the preview still says what it can."""
    kind = payload.get("kind") if payload.get("kind") in ALL_KINDS else None
    urgency = payload.get("urgency") if payload.get("urgency") in _URGENCY_VALUES else "general"
    summary = payload.get("summary") if isinstance(payload.get("summary"), str) else ""
    description = payload.get("description") if isinstance(payload.get("description"), str) else ""
    return kind, urgency, summary, description, now


def _clock(key: str, rule_id: str, rule_set: dl.RuleSet, due: str | None, start: str) -> dict[str, Any]:
    clock = rule_set.clocks[rule_id]
    return {"key": key, "title": clock.title, "basis": clock.basis, "working_days": clock.working_days,
            "extension_days": clock.extension_days, "from": start, "due": due}


def preview_case(node: Any, payload: Any, actor: Any) -> dict[str, Any]:
    """The triage and the clocks a registration of ``payload`` would get, and nothing stored.

    Returns ``{"urgency", "urgency_given", "reasons", "rule_set": {"id", "title",
    "superseded_by"}, "received_on", "tracks": [{"kind", "report_target", "clocks": [{"key",
    "title", "basis", "working_days", "extension_days", "from", "due"}]}], "problem": None |
    {"code", "field", "message"}}``. ``tracks`` has two entries for a two-track pair
    (``also_report``); clocks that start at a later event (acceptance, a decision) have
    ``due: None`` and ``from`` naming that event. ``problem`` is the first reason
    ``create_case`` would refuse the body (the same check, the same message).
    """
    require_role(actor, CREATE_ROLES)
    if not isinstance(payload, dict):
        raise bad_request("请求体须为 JSON 对象 / the body must be a JSON object", code="malformed")
    body = dict(payload)
    also_report = body.pop("also_report", False)
    problem: NodeError | None = None
    if also_report not in (None, True, False):
        problem, also_report = NodeError(422, "invalid", "also_report 须为 true 或 false / also_report must be "
                                                         "a boolean", "also_report"), False
    ctx = intake_context(node)
    now = node.now()
    target: str | None = None
    try:
        inp = validate_case_input(body, divisions=ctx.divisions, categories=ctx.categories,
                                  extension_schemas=ctx.extension_schemas, now=now,
                                  accepting_province=ctx.accepting_province)
        kind, given, summary = inp.kind, inp.urgency, inp.summary
        description, received_at, target = inp.description or "", inp.received_at, inp.report_target
    except NodeError as exc:
        problem = problem or exc
        kind, given, summary, description, received_at = _lenient(body, now)
        target = "business" if kind == "report" else None
    if also_report and kind != "complaint" and problem is None:
        problem = NodeError(422, "invalid", "仅投诉可同时登记为举报（双轨受理）/ only a complaint can also be "
                                            "registered as a report (two-track intake)", "also_report")
    urgency, reasons = triage(summary, description, given, ctx.triage_rules)
    rule_set = ctx.rule_book.for_date(received_at)
    tracks = []
    kinds = ([(kind, target)] if kind else []) + ([("report", "business")] if also_report and kind == "complaint"
                                                  else [])
    for k, t in kinds:
        started = dl.initial_deadlines(k, received_at, rule_set, ctx.calendar)
        clocks = [_clock(key, rec["rule"], rule_set, started.get(key), "receipt")
                  for key, rec in started.get("clocks", {}).items()]
        clocks += [_clock(key, rule_id, rule_set, None, rule_set.clocks[rule_id].start)
                   for key, rule_id in LATER_CLOCKS[k] if rule_id in rule_set.clocks]
        tracks.append({"kind": k, "report_target": t, "clocks": clocks})
    return {
        "urgency": urgency, "urgency_given": given, "reasons": reasons,
        "rule_set": {"id": rule_set.id, "title": rule_set.title, "superseded_by": rule_set.superseded_by
                     if rule_set.superseded_from and received_at.astimezone(SHANGHAI).date()
                     >= rule_set.superseded_from else ""},
        "received_on": received_at.astimezone(SHANGHAI).date().isoformat(),
        "tracks": tracks,
        "problem": None if problem is None else {"code": problem.code, "field": problem.field,
                                                 "message": problem.message},
    }
