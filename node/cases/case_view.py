"""The case as the staff desk's case page and its printed form (办理单) show it (issue 11 item 5).

Serves R2.6 (the handling requirements: every statutory clock with its due date, the working
days left on the node's working-day calendar or the working days late, and the day it was
met), R4.1 (the handling trail: history and custody, who, where and when, in Asia/Shanghai)
and R1.1/R2.3 (the two-track pair). Reads only: ``build(node, case)`` turns the case as the
API returns it (``get_case``) into the sections of the page, with labels as catalogue msgids
(English; the page translates them) and every time shown in Asia/Shanghai.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from node import deadlines as dl
from node.cases.common import DEPARTMENTS, categories, intake_context
from node.cases.standard import DECLINE_GROUNDS, MEDIATION_END_GROUNDS, SHANGHAI
from node.runtime import Node
from node.web.catalogs import N_

STATUS_LABELS = {
    "registered": N_("Registered"), "accepted": N_("Accepted"), "declined": N_("Declined"),
    "transferred": N_("Transferred"), "referred": N_("Referred"), "in_mediation": N_("In mediation"),
    "concluded": N_("Concluded"), "closed": N_("Closed"), "verifying": N_("Being verified"),
    "filed": N_("Case opened"), "not_filed": N_("No case opened"), "answered": N_("Answered"),
}
KIND_LABELS = {"consultation": N_("Consultation"), "complaint": N_("Complaint"), "report": N_("Report")}
REPORT_TARGET_LABELS = {"business": N_("against a business"), "staff": N_("against enforcement staff")}
CHANNEL_LABELS = {
    "phone": N_("12315 hotline"), "visit": N_("Visit"), "letter": N_("Letter"), "web": N_("12315 web platform"),
    "open311": N_("Open311 interface"), "complaint_point": N_("Complaint station"),
    "association": N_("Consumer association"), "media": N_("Media lead"), "direct_report": N_("Direct-report point"),
}
URGENCY_LABELS = {"general": N_("General"), "urgent": N_("Urgent"), "critical": N_("Especially urgent")}
ACTION_LABELS = {
    "accept": N_("Accept"), "decline": N_("Decline"), "refer": N_("Refer"), "route": N_("Route"),
    "escalate": N_("Escalate"), "return": N_("Return"), "mediate": N_("Start mediation"),
    "conclude": N_("Conclude"), "verify": N_("Verify"), "file": N_("Open a case"), "not_file": N_("Open no case"),
    "answer": N_("Answer"), "feedback": N_("Follow-up"), "notify": N_("Record notice sent"),
    "pause": N_("Pause clocks"), "resume": N_("Resume clocks"), "extend": N_("Extend a deadline"),
    "close": N_("Close"), "urge": N_("Urge"), "comment": N_("Comment"), "take_over": N_("Take over"),
    "assign": N_("Assign to a department"),
    "reopen": N_("Reopen"),
    # history events that are not actions a person takes
    "register": N_("Registered"), "triage": N_("Triage"), "receive": N_("Arrived here"), "hold": N_("Held here"),
    "flag": N_("Flagged"), "remind": N_("Reminder"), "overdue": N_("Overdue"),
    "proposal_rejected": N_("Proposal not applied"),
}
OUTCOME_LABELS = {
    "mediated": N_("Mediated"), "not_mediated": N_("Mediation ended without agreement"), "settled": N_("Settled"),
    "withdrawn": N_("Withdrawn"), "filed": N_("Case opened"), "not_filed": N_("No case opened"),
    "declined": N_("Declined"), "referred": N_("Referred"), "answered": N_("Answered"),
}
SATISFACTION_LABELS = {"satisfied": N_("Satisfied"), "basically_satisfied": N_("Basically satisfied"),
                       "dissatisfied": N_("Dissatisfied")}
MODE_LABELS = {"mediation": N_("Mediation"), "investigation": N_("Investigation")}
CLOCK_LABELS = {
    "accept_by": N_("Accept or decline, complainant told"),
    "verify_by": N_("Report verified, decision to open a case"),
    "conclude_by": N_("Mediation concluded"),
    "mediation_notice_by": N_("Notice that mediation ended"),
    "reporter_notice_by": N_("Named reporter told the decision"),
    "odr_settle_by": N_("Enterprise direct settlement"),
}
CLOCK_ORDER = tuple(CLOCK_LABELS)
CLOCK_STATES = {
    "met": N_("Met"), "running": N_("Running"), "late": N_("Overdue"), "paused": N_("Paused"),
    "stopped": N_("Not running"), "pending": N_("Not started"),
}


def ground_text(code: str | None) -> str:
    """A coded ground (decline, end of mediation) as "中文 / English" for ``localize``."""
    if not code:
        return ""
    pair = DECLINE_GROUNDS.get(code) or MEDIATION_END_GROUNDS.get(code)
    return f"{pair[0]} / {pair[1]}" if pair else code


# -- formatting ------------------------------------------------------------------------------
def shown_time(value: str | datetime | None) -> str:
    """An ISO time (any offset) as Asia/Shanghai ``YYYY-MM-DD HH:MM``."""
    if not value:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def money(value: str | Decimal | None) -> str:
    """A decimal string as ``¥1,299.00`` (empty for none)."""
    if value is None or value == "":
        return ""
    try:
        return f"¥{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def unit_label(node: Node, code: str | None) -> str:
    """A node code as people name the unit: the bureau of that division, the station, or HQ."""
    if not code:
        return ""
    div = intake_context(node).divisions
    if code == node.code and node.config.name:
        return str(node.config.name)
    if code == "000000":
        return "国家市场监督管理总局"
    if div.is_current(code):
        return f"{div.full_name(code)}市场监督管理局"
    if div.level_of(code) == "station":
        return f"{div.full_name(code[:6]) or code[:6]}市场监管所"
    return code


# -- the sections -------------------------------------------------------------------------------
def clocks(node: Node, case: Mapping[str, Any], today: date | None = None) -> list[dict[str, Any]]:
    """Each statutory clock: due date, working days left (or late) on the node's calendar, met on."""
    d = case.get("deadlines") or {}
    if not d:
        return []
    cal = dl.work_calendar(node)
    today = today or node.now().astimezone(SHANGHAI).date()
    live = set(dl.overdue_clocks(d, case["status"], date.max)) if d.get("clocks") else set()
    open_pause = next((p for p in d.get("paused", ()) if p.get("to") is None), None)
    try:
        rule_set = intake_context(node).rule_book.get(case["rule_set"]) if case.get("rule_set") else None
    except Exception:  # noqa: BLE001 - a rule set this node no longer has: show the dates alone
        rule_set = None
    out = []
    for key in [k for k in CLOCK_ORDER if k in d] + [k for k in d.get("clocks", {}) if k not in CLOCK_ORDER]:
        record = d.get("clocks", {}).get(key)
        due = d.get(key)
        item: dict[str, Any] = {"key": key, "label": CLOCK_LABELS.get(key, key), "due": due or "",
                                "met_on": d.get("met", {}).get(key, ""), "left": None, "late": None,
                                "from": "", "working_days": None, "extended": 0, "basis": ""}
        if record is None or due is None:
            item["state"] = "pending"
            out.append(item)
            continue
        item.update({"from": record.get("from", ""), "working_days": record.get("working_days"),
                     "extended": sum(e["days"] for e in d.get("extensions", ()) if e["clock"] == key)})
        rule = rule_set.clocks.get(record.get("rule", "")) if rule_set else None
        item["basis"] = rule.basis if rule else ""
        due_day = date.fromisoformat(due)
        if item["met_on"]:
            item["state"] = "met"
        elif open_pause is not None and key in open_pause.get("clocks", ()):
            item["state"] = "paused"
            item["paused_since"] = open_pause.get("from", "")
        elif key in live:
            if today <= due_day:
                item.update(state="running", left=cal.working_days_between(today, due_day))
            else:
                item.update(state="late", late=cal.working_days_between(due_day, today))
        else:
            item["state"] = "stopped"
        out.append(item)
    for item in out:
        item["state_label"] = CLOCK_STATES[item["state"]]
    return out


def history(node: Node, case: Mapping[str, Any], key: str = "history") -> list[dict[str, Any]]:
    return [{"at": shown_time(e["at"]), "node": e["node"], "actor": e["actor"], "action": e["action"],
             "label": ACTION_LABELS.get(e["action"], e["action"]),
             "from_status": STATUS_LABELS.get(e["from_status"] or "", e["from_status"] or ""),
             "to_status": STATUS_LABELS.get(e["to_status"] or "", e["to_status"] or ""),
             "note": e.get("note") or "", "superseded": e.get("superseded") or ""} for e in case.get(key, [])]


def custody(node: Node, case: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in case.get("custody") or []:
        out.append({"node": e.get("node", ""), "name": unit_label(node, e.get("node")),
                    "action": ACTION_LABELS.get(e.get("action", ""), e.get("action", "")),
                    "from": e.get("from") or "", "by": e.get("by") or "", "since": shown_time(e.get("since")),
                    "until": shown_time(e.get("until")), "sent_at": shown_time(e.get("sent_at")),
                    "via": list(e.get("via") or []), "reason": e.get("reason") or "",
                    "returned": bool(e.get("returned")), "undelivered": bool(e.get("undelivered")),
                    "auto": bool(e.get("auto"))})
    return out


def build(node: Node, case: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
    """The sections of the case page (and of the printed form) for one case."""
    ctx = intake_context(node)
    first = (case.get("history") or [{}])[0]
    resp = case.get("respondent") or {}
    region = resp.get("region_code")
    cat = categories(node).get(case.get("category") or "")
    outcome = dict(case.get("outcome") or {})
    return {
        "id": case["id"],
        "status": case["status"],
        "status_label": STATUS_LABELS.get(case["status"], case["status"]),
        "kind": case["kind"],
        "kind_label": KIND_LABELS.get(case["kind"], case["kind"]),
        "report_target_label": REPORT_TARGET_LABELS.get(case.get("report_target") or "", ""),
        "urgency": case.get("urgency") or "general",
        "urgency_label": URGENCY_LABELS.get(case.get("urgency") or "general", case.get("urgency")),
        "held_as": case.get("held_as") or "handler",
        "attention": case.get("attention") or "",
        "overdue": bool(case.get("overdue")),
        "registration": {
            "by": first.get("actor", ""), "by_node": first.get("node", ""),
            "at": shown_time(first.get("at")), "received_at": shown_time(case.get("received_at")),
            "channel": CHANNEL_LABELS.get(case.get("channel") or "", case.get("channel") or ""),
            "accepting_node": case.get("accepting_node") or "",
            "accepting_name": unit_label(node, case.get("accepting_node")),
            "handling_node": case.get("handling_node") or "",
            "handling_name": unit_label(node, case.get("handling_node")),
            "department": DEPARTMENTS.get(case.get("department") or "", case.get("department") or ""),
            "rule_set": case.get("rule_set") or "",
        },
        "complainant": case.get("complainant") or {},
        "respondent": {**resp, "region_name": (ctx.divisions.full_name(region) or "") if region else ""},
        "category": case.get("category") or "",
        "category_name": cat.name if cat else "",
        "category_name_en": cat.name_en if cat else "",
        "summary": case.get("summary") or "",
        "description": case.get("description") or "",
        "amount": money(case.get("amount")),
        "amount_recovered": money(case.get("amount_recovered")),
        "extensions": sorted((str(k), v if isinstance(v, str) else str(v))
                             for k, v in (case.get("extensions") or {}).items()),
        "outcome": outcome,
        "outcome_label": OUTCOME_LABELS.get(outcome.get("outcome", ""), outcome.get("outcome", "")),
        "outcome_ground": ground_text(outcome.get("reason")) if outcome.get("outcome") in (
            "declined", "not_mediated") else "",
        "satisfaction_label": SATISFACTION_LABELS.get(outcome.get("satisfaction", ""), ""),
        "clocks": clocks(node, case, today),
        "history": history(node, case),
        "superseded": history(node, case, "superseded_history"),
        "custody": custody(node, case),
        "linked_case": case.get("linked_case") or "",
    }
