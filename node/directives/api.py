"""Staff API of emergency command and dispatch (R3.1-R3.4; CONTRACT §6).

Thin handlers over the names ``node.directives`` exports; every refusal is a ``NodeError`` in the one
JSON shape. Endpoints:

* ``POST /api/v1/directives`` (leader, admin; level capability ``issues_directives``) → 201
* ``GET /api/v1/directives?status=&role=&case_id=&limit=`` → ``{"items": [...]}``
* ``GET /api/v1/directives/<id>`` → the directive with ``progress`` over this node's subtree
* ``POST /api/v1/directives/<id>/ack`` ``{"note", "name"}`` — 签收
* ``POST /api/v1/directives/<id>/reports`` ``{"text", "counts", "attachments", "name"}`` → 201
* ``GET /api/v1/directives/<id>/reports``
* ``POST /api/v1/directives/<id>/update`` and ``/cancel`` (at the issuer)
* ``POST /api/v1/directives/from-case/<case_id>`` — R3.4, a case to the bureau where it happened
* ``GET /api/v1/plans`` and ``GET /api/v1/plans/<id>`` — emergency plans (预案, R3.3)
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from node import directives
from node.errors import invalid, not_found
from node.web.auth import current_node, current_user
from node.web.body import json_body

bp = Blueprint("directives", __name__, url_prefix="/api/v1")


def _optional_body() -> dict:
    return json_body() if request.get_data(cache=True) else {}


@bp.post("/directives")
def issue():
    user = current_user(*directives.ISSUE_ROLES)
    doc = directives.issue(current_node(), json_body(), user)
    return jsonify(doc), 201


@bp.get("/directives")
def list_():
    user = current_user()
    return jsonify(directives.list_directives(current_node(), request.args, user))


@bp.get("/directives/<directive_id>")
def get(directive_id: str):
    user = current_user()
    return jsonify(directives.get(current_node(), directive_id, user))


@bp.post("/directives/<directive_id>/ack")
def ack(directive_id: str):
    user = current_user(*directives.ACK_ROLES)
    return jsonify(directives.acknowledge(current_node(), directive_id, _optional_body(), user))


@bp.post("/directives/<directive_id>/reports")
def report(directive_id: str):
    user = current_user(*directives.ACK_ROLES)
    return jsonify(directives.add_report(current_node(), directive_id, json_body(), user)), 201


@bp.get("/directives/<directive_id>/reports")
def reports(directive_id: str):
    user = current_user()
    return jsonify(directives.reports(current_node(), directive_id, user))


@bp.post("/directives/<directive_id>/update")
def update(directive_id: str):
    user = current_user(*directives.ISSUE_ROLES)
    return jsonify(directives.update(current_node(), directive_id, json_body(), user))


@bp.post("/directives/<directive_id>/cancel")
def cancel(directive_id: str):
    user = current_user(*directives.ISSUE_ROLES)
    return jsonify(directives.cancel(current_node(), directive_id, _optional_body(), user))


@bp.post("/directives/from-case/<case_id>")
def from_case(case_id: str):
    user = current_user(*directives.ISSUE_ROLES)
    return jsonify(directives.directive_from_case(current_node(), case_id, user, _optional_body())), 201


@bp.get("/plans")
def plans():
    current_user()
    return jsonify({"items": directives.list_plans(current_node())})


@bp.get("/plans/<plan_id>")
def plan(plan_id: str):
    current_user()
    node = current_node()
    version = request.args.get("version")
    if version is not None and not version.isdigit():
        raise invalid("version", "version 须为整数 / version must be a number")
    if plan_id not in {p["id"] for p in directives.list_plans(node)}:
        raise not_found(f"预案 {plan_id} 不存在 / no emergency plan {plan_id}")
    found = directives.get_plan(node, plan_id, int(version) if version else None, field_name="plan_id")
    doc = found.to_dict()
    doc["versions"] = [p.version for p in directives.load_plans().get(plan_id, [])]
    return jsonify(doc)
