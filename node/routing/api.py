"""Routing endpoints (R2.5-R2.7; docs/routing.md) — thin: authenticate, call
``node.routing`` functions (referrals, notifications, proposals), answer.

``GET /api/v1/referral-bodies[?category=]`` — the directory of competent bodies outside
market regulation (what ``refer`` takes as ``body``), with what to tell the consumer;
``GET /api/v1/notifications[?case_id=]`` — the messages this node sent or will send to
complainants, with their delivery log, addresses masked (R2.7; ``node.notify``);
``GET /api/v1/proposals[?case_id=]`` — what this node proposed to handling nodes and what
became of it.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from node.cases import PROPOSAL_ACTIONS, READ_ROLES
from node.notify import list_deliveries
from node.routing.proposals import list_proposals
from node.routing.referrals import referral_bodies as directory
from node.web.auth import current_node, current_user

bp = Blueprint("routing", __name__, url_prefix="/api/v1")


@bp.get("/referral-bodies")
def referral_bodies():
    current_user(*READ_ROLES)
    return jsonify({"items": directory(current_node(), request.args.get("category") or None)})


@bp.get("/notifications")
def notifications():
    current_user("admin", "intake", "handler", "supervisor")
    return jsonify({"items": list_deliveries(current_node(), request.args.get("case_id") or None)})


@bp.get("/proposals")
def proposals():
    current_user(*READ_ROLES)
    return jsonify({"items": list_proposals(current_node(), request.args.get("case_id") or None)})


# -- the OpenAPI description of what routing adds (node/web/openapi.py asks each blueprint to
# describe its routes; the case list, the case and the actions gain routing fields) ---------------
def describe(doc: dict) -> None:
    """Run after the case description (``node.app`` lists the describers in order)."""
    from node.web import openapi as oa

    doc["paths"].update({
        "/api/v1/referral-bodies": {"get": {
            "summary": "其他主管部门名录 / competent bodies outside market regulation (R2.5; any staff role)",
            "description": "What `refer` takes as `body`, with the hotline and what the consumer is told. "
                           "`category` lists the bodies suggested for that category first.",
            "parameters": [oa._query("category", "分类代码 / category code")],
            "responses": {"200": oa._resp("名录 / the directory", {"type": "object"}), **oa._errors(401, 403)}}},
        "/api/v1/notifications": {"get": {
            "summary": "告知发件箱 / the notices to named complainants recorded here (R2.7)",
            "description": "Newest first; each item: `case_id`, `status`, `event`, `channel` (sms | email), "
                           "`recipient`, `address` (masked), `subject`, `message`, `state` "
                           "(pending | sent | failed), `attempts`, `last_error`, `next_attempt_at`, "
                           "`sent_at` and `deliveries` (the delivery log: `at`, `ok`, `sender`, `ms`, `error`).",
            "parameters": [oa._query("case_id", "案件编号 / case id")],
            "responses": {"200": oa._resp("通知 / notices", {"type": "object"}), **oa._errors(401, 403)}}},
        "/api/v1/proposals": {"get": {
            "summary": "本节点提出的督办、意见等及其结果 / proposals this node sent to handling nodes",
            "parameters": [oa._query("case_id", "案件编号 / case id")],
            "responses": {"200": oa._resp("提议 / proposals", {"type": "object"}), **oa._errors(401, 403)}}},
    })
    listing = doc["paths"]["/api/v1/cases"]["get"]["parameters"]
    names = {p["name"] for p in listing}
    for name, text, schema in (
            ("held_as", "本节点承办（handler）或持有副本（copy）/ handled here or a copy kept here",
             {"type": "string", "enum": ["handler", "copy"]}),
            ("attention", "需人工处理（分流受阻、被退回、报请决定）/ flagged for a person by routing",
             {"type": "string", "enum": ["true", "false"]}),
            ("due_within_days", "督办：N 个工作日内到期（含超期）/ supervision: due within N working days",
             {"type": "integer", "minimum": 0})):
        if name not in names:
            listing.insert(-2, oa._query(name, text, schema))
    for p in listing:
        if p["name"] == "department":
            p["schema"] = {"type": "string"}
    actions = doc["paths"]["/api/v1/cases/{case_id}/actions"]["post"]
    actions["responses"]["202"] = oa._resp(
        "本节点持有副本：提议已送承办单位 / this node holds a copy: the proposal was sent to the handling node "
        "(urge, comment, take_over, feedback, reopen)", {"$ref": "#/components/schemas/Case"})
    enum = doc["components"]["schemas"]["Action"]["properties"]["action"]["enum"]
    for action in PROPOSAL_ACTIONS + ("reopen",):
        if action not in enum:
            enum.append(action)
    props = doc["components"]["schemas"]["Case"]["properties"]
    props.setdefault("held_as", {"type": "string", "enum": ["handler", "copy"]})
    props.setdefault("attention", {"type": ["string", "null"]})
    props.setdefault("custody", {"type": "array", "description": "custody trail (docs/routing.md)",
                                 "items": {"type": "object"}})
