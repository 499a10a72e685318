"""From case to command: an urgent case becomes a directive to where it happened (R3.4, 属地负责).

R3.4: urgent information reaches the leadership, and on their order the bureau where it
happened is directed to act, with one action. The case is read through ``node.cases`` (read
only); the directive carries ``case_id`` so the case finds its directives again.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from node.cases import Case
from node.directives.common import BODY_MAX, ISSUE_ROLES, TITLE_MAX, as_actor, is_within, require_role, unknown_fields
from node.directives.service import issue
from node.errors import invalid, not_found
from node.privacy import mask_text
from node.runtime import Node

FROM_CASE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "ack_within_minutes",
                    "report_within_minutes", "plan", "plan_version", "exercise", "subtree")


def directive_from_case(node: Node, case_id: str, actor: Any, overrides: Mapping[str, Any] | None = None
                        ) -> dict[str, Any]:
    """Raise an especially urgent case to a directive to the bureau where it happened.

    Reads the case (``node.cases.Case``, read only): the respondent's region decides the
    local bureau (属地负责), which must lie below this node. Urgent and especially urgent
    (``urgent`` / ``critical``) cases only. The directive carries ``case_id``; the case is
    found again with ``GET /api/v1/directives?case_id=``.
    """
    actor = as_actor(actor)
    require_role(actor, ISSUE_ROLES)
    overrides = dict(overrides or {})
    unknown_fields(overrides, FROM_CASE_FIELDS)
    case, payload = draft_from_case(node, case_id)
    region = case.respondent_region
    subtree_too = overrides.pop("subtree", False)
    if not isinstance(subtree_too, bool):
        raise invalid("subtree", "subtree 须为 true 或 false / subtree must be a boolean")
    if overrides.get("plan"):
        # the plan's defaults (severity, deadlines…) win over the case-derived ones
        for key in ("severity", "urgency", "category", "ack_within_minutes"):
            payload.pop(key, None)
    payload.update(overrides)
    payload["targets"] = [f"{region}/*" if subtree_too else region]
    return issue(node, payload, actor, case_id=case.case_id)


def draft_from_case(node: Node, case_id: str) -> tuple[Any, dict[str, Any]]:
    """The case and the directive it makes: the same refusals and the same derived title, body,
    severity, urgency, category and deadline for the API (which issues at once) and the desk
    (which shows them to the leader first)."""
    case = Case.by_id(case_id)
    if case is None or case.department == "discipline":  # staff reports stay with discipline (R2.3)
        raise not_found(f"案件 {case_id} 不存在 / no case {case_id}")
    if case.urgency not in ("critical", "urgent"):
        raise invalid("urgency", f"案件 {case_id} 为一般件，只有紧急、特别紧急案件可转为指令 / only urgent and "
                                 f"especially urgent cases become directives")
    region = case.respondent_region
    if not region:
        raise invalid("respondent.region_code", "案件缺少事发地区划代码 / the case has no respondent region")
    if region == node.code:
        raise invalid("respondent.region_code", f"事发地即本局 {node.code}，请直接处置 / the case happened in this "
                                                f"bureau's own area: act directly")
    if not is_within(region, node.code):
        raise invalid("respondent.region_code", f"事发地 {region} 不在本局辖区内，应由共同上级下达 / {region} is "
                                                f"outside this bureau's subtree")
    respondent = json.loads(case.respondent or "{}")
    urgency_zh = {"critical": "特别紧急", "urgent": "紧急"}[case.urgency]
    body_lines = [f"案件 {case.case_id}（{urgency_zh}）：{case.summary}"]
    if case.description:
        # the directive goes to every target and its whole subtree: phone and ID numbers typed
        # into the description are starred as for any masked reader (issue 13 item 3)
        body_lines.append(mask_text(case.description))
    if respondent.get("name") or respondent.get("address"):
        body_lines.append(f"涉事经营者：{respondent.get('name') or '—'}，地址：{respondent.get('address') or '—'}")
    body_lines.append("请属地立即赶赴现场核查处置，并按时限签收、报告处置情况。")
    payload: dict[str, Any] = {
        "title": f"【案件转指令】{case.summary}"[:TITLE_MAX],
        "body": "\n".join(body_lines)[:BODY_MAX],
        "severity": "severe" if case.urgency == "critical" else "moderate",
        "urgency": "immediate" if case.urgency == "critical" else "expected",
        "category": "food_safety" if (case.category or "").startswith("G01") else (
            "product_safety" if (case.category or "").startswith("G") else "consumer_rights"),
        "ack_within_minutes": 30 if case.urgency == "critical" else 60,
    }
    return case, payload
