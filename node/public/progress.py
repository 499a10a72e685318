"""进度查询 — what the person who filed a case may see of it, and what they may send back
(issue 12 item 3).

``consumer_view`` is the case in plain words: the status, the statutory dates, the unit that
handles it, the public steps of its history (when, which unit, what happened), the answer to a
consultation, the outcome. It never carries a staff member's name, an internal note, a
comment or supervision step, or the other party's contact data: it is built field by field
from an allow-list, not by removing things from the staff view.

``give_feedback`` (回访) and ``ask_reopen`` act on the case as the portal: at the accepting
node, whoever handles it, through the lifecycle (a copy sends them to the handler as a
proposal), so the handler sees them in the case's history.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from node.cases import (
    DECLINE_GROUNDS,
    OUTCOMES,
    SATISFACTION,
    SHANGHAI,
    STATUS_NAMES_ZH,
    Actor,
    act,
    get_case,
)
from node.db import write_tx
from node.errors import NodeError, invalid
from node.public.models import PublicRequest
from node.routing import reopen_within_days, unit_name
from node.runtime import Node
from node.web.catalogs import N_

# reading as the portal: a reporter follows a report against staff too (discipline cases are
# hidden from every other staff role, R2.3); what is shown is the allow-list below, not the case
READER = Actor("12315-portal", "discipline")
PORTAL = Actor("12315-portal", "intake")

PLAIN = {
    "registered": N_("Received; the competent unit is deciding whether to accept it."),
    "accepted": N_("Accepted; the unit is handling it."),
    "declined": N_("Not accepted; the ground is given below."),
    "transferred": N_("Transferred to the unit responsible for it."),
    "referred": N_("Outside market regulation's remit; passed on to, or you were told of, the competent body."),
    "in_mediation": N_("Mediation between you and the business is under way."),
    "concluded": N_("Handling has finished; the result is below."),
    "closed": N_("Finished and filed."),
    "verifying": N_("The report is being checked."),
    "filed": N_("An enforcement case was opened on your report."),
    "not_filed": N_("No enforcement case was opened on your report."),
    "answered": N_("Your question has been answered."),
}
# the steps a consumer sees (internal ones — comments, urging, assignment, pauses — are not)
PUBLIC_STEPS = {
    "register": N_("Registered"), "accept": N_("Accepted"), "decline": N_("Not accepted"),
    "route": N_("Sent to the competent unit"), "transfer": N_("Transferred"), "refer": N_("Referred"),
    "mediate": N_("Mediation started"), "conclude": N_("Concluded"), "verify": N_("Check started"),
    "file": N_("Enforcement case opened"), "not_file": N_("No enforcement case"), "answer": N_("Answered"),
    "feedback": N_("Your satisfaction recorded"), "reopen": N_("Handled again"), "close": N_("Filed"),
    "extend": N_("Time limit extended"),
}
CLOCKS = {
    "accept_by": N_("Decision to accept, by"),
    "verify_by": N_("Report checked, by"),
    "conclude_by": N_("Handling concluded, by"),
    "reporter_notice_by": N_("You are told the decision, by"),
    "mediation_notice_by": N_("Notice that mediation ended, by"),
}
KIND_NAMES = {"complaint": N_("Complaint"), "report": N_("Report"), "consultation": N_("Consultation")}
SATISFACTION_NAMES = {"satisfied": N_("Satisfied"), "basically_satisfied": N_("Basically satisfied"),
                      "dissatisfied": N_("Dissatisfied")}


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(SHANGHAI)


def consumer_view(node: Node, case_id: str) -> dict[str, Any]:
    """The case as its complainant or reporter may see it (the caller checked the query code)."""
    case = get_case(node, case_id, READER)
    outcome = case.get("outcome") or {}
    steps = []
    for e in case["history"]:
        label = PUBLIC_STEPS.get(e["action"])
        if label is None:
            continue
        step: dict[str, Any] = {"at": _time(e["at"]), "label": label, "unit": unit_name(str(e["node"]))}
        steps.append(step)
    concluded_at = next((s["at"] for s in reversed(steps) if s["label"] == PUBLIC_STEPS["conclude"]), None)
    deadlines = case.get("deadlines") or {}
    dates = [{"label": CLOCKS[k], "due": deadlines[k], "met_on": (deadlines.get("met") or {}).get(k, "")}
             for k in CLOCKS if isinstance(deadlines.get(k), str)]
    result: dict[str, Any] = {}
    if outcome.get("outcome") in OUTCOMES:
        result["outcome"] = OUTCOMES[outcome["outcome"]][0]
    if case["status"] == "declined" and outcome.get("reason") in DECLINE_GROUNDS:
        result["ground"] = DECLINE_GROUNDS[outcome["reason"]][0]
    if outcome.get("amount_recovered") or case.get("amount_recovered"):
        result["amount_recovered"] = outcome.get("amount_recovered") or case.get("amount_recovered")
    if case["status"] == "referred" and outcome.get("tell"):
        result["tell"] = outcome["tell"]
    if outcome.get("answer"):
        result["answer"] = outcome["answer"]
    satisfaction = outcome.get("satisfaction")
    respondent = case.get("respondent") or {}
    return {
        "id": case["id"], "kind": case["kind"], "kind_label": KIND_NAMES.get(case["kind"], case["kind"]),
        "status": case["status"], "status_name": STATUS_NAMES_ZH.get(case["status"], case["status"]),
        "plain": PLAIN.get(case["status"], ""), "received_at": _time(case["received_at"]),
        "summary": case["summary"], "respondent_name": respondent.get("name") or "",
        "handling_unit": unit_name(case["handling_node"]), "accepting_unit": unit_name(case["accepting_node"]),
        "dates": dates, "steps": steps, "result": result, "linked_case": case.get("linked_case"),
        "satisfaction": SATISFACTION_NAMES.get(satisfaction or "", ""),
        # asked here already: at a copy the handler's answer comes back later, and a second
        # rating sent meanwhile would overwrite the first at the handler
        "may_rate": case["kind"] == "complaint" and case["status"] in ("concluded",) and not satisfaction
                    and case["accepting_node"] == node.code and not _asked(case_id, "feedback"),
        "may_reopen": _may_reopen(node, case, concluded_at),
        "reopen_asked": _asked(case_id, "reopen"),
    }


def _asked(case_id: str, kind: str) -> bool:
    return PublicRequest.select().where((PublicRequest.case_id == case_id) & (PublicRequest.kind == kind)).exists()


def _may_reopen(node: Node, case: dict[str, Any], concluded_at: datetime | None) -> bool:
    if case["kind"] != "complaint" or case["status"] not in ("concluded", "closed") or concluded_at is None:
        return False
    if case["accepting_node"] != node.code or _asked(case["id"], "reopen"):
        return False
    return node.now() <= concluded_at + timedelta(days=reopen_within_days(node))


def give_feedback(node: Node, case_id: str, satisfaction: Any, comment: Any) -> None:
    """回访: the complainant's satisfaction, recorded on the case (R2.7)."""
    if satisfaction not in SATISFACTION:
        raise invalid("satisfaction", "请选择满意程度 / choose how satisfied you are")
    note = _text(comment, "comment", 500)
    view = consumer_view(node, case_id)
    if not view["may_rate"]:
        raise NodeError(409, "not_now", "该案件现在不能评价 / this case cannot be rated now", "satisfaction")
    payload = {"action": "feedback", "satisfaction": satisfaction}
    if note:
        payload["note"] = f"消费者网上评价 / rated online: {note}"
    with write_tx(node.db):
        act(node, case_id, payload, PORTAL)
        PublicRequest.create(case_id=case_id, kind="feedback", satisfaction=satisfaction, text=note,
                             created_at=node.now().astimezone(UTC).replace(tzinfo=None))


def ask_reopen(node: Node, case_id: str, reason: Any) -> None:
    """A request to handle the case again, within the rules' period after conclusion
    (``reopen_within_days`` of ``supervision.toml``, as the ``reopen`` action): put to
    the handler as a comment on the case (the handler decides whether to ``reopen``)."""
    text = _text(reason, "reason", 1000)
    if not text:
        raise invalid("reason", "请说明需要重新处理的理由 / say why the case should be handled again")
    view = consumer_view(node, case_id)
    if not view["may_reopen"]:
        raise NodeError(409, "not_now", "已超过可申请重新处理的期限，或已申请过 / the period to ask for this has "
                                        "passed, or you asked already", "reason")
    with write_tx(node.db):
        act(node, case_id, {"action": "comment", "note": f"消费者申请重新处理 / the consumer asks for the case to be "
                                                         f"handled again: {text}"}, PORTAL)
        PublicRequest.create(case_id=case_id, kind="reopen", text=text,
                             created_at=node.now().astimezone(UTC).replace(tzinfo=None))


def _text(value: Any, name: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise invalid(name, f"最多 {limit} 字 / at most {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise invalid(name, "含有不可见的控制字符 / contains control characters")
    return text
