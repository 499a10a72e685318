"""Case endpoints (CONTRACT §5; R1.1-R1.4, R2.3, R2.6) — thin: parse, authenticate, call
the names of ``node/cases/__init__.py``, answer.

``GET /api/v1/categories`` (no token) — the node's category table (R7.3);
``GET /api/v1/leadership`` (leader, supervisor, admin) — open urgent and critical cases at
once (R1.4 graded handling, R3.4 major information to the leadership);
``POST /api/v1/cases`` → 201 with the case; ``GET /api/v1/cases/<id>``; ``GET /api/v1/cases``
(``status, kind, urgency, q, overdue, handling_node, accepting_node, department, limit,
cursor``) → ``{"items", "next_cursor"}``; ``POST /api/v1/cases/<id>/actions``;
``POST /api/v1/cases/<id>/personal`` ``{"reason"}`` → the case in full, recorded as ``pii.read``.
Every case answered is masked by role (issue 13 item 3: ``personal_view``). Errors come out in
the one shape through ``node/web/errors.py``.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

import node.cases as cases
from node.cases.personal_view import present
from node.web.auth import current_node, current_user
from node.web.body import json_body

bp = Blueprint("cases", __name__, url_prefix="/api/v1/cases")
reference = Blueprint("case_reference", __name__, url_prefix="/api/v1")


@reference.get("/categories")
def categories():
    node = current_node()
    doc = node.cache.get("categories_doc")
    if doc is None:
        table = cases.categories(node)
        doc = {"version": table.version, "items": table.items()}
        node.cache["categories_doc"] = doc
    return jsonify(doc)


@reference.get("/leadership")
def leadership():
    user = current_user(*cases.LEADERSHIP_ROLES)
    return jsonify(cases.leadership_board(current_node(), user))


@bp.post("")
def create():
    user = current_user(*cases.CREATE_ROLES)
    case = cases.create_case(current_node(), json_body(), user)
    resp = jsonify(case)
    resp.status_code = 201
    resp.headers["Location"] = f"/api/v1/cases/{case['id']}"
    return resp


@bp.get("")
def list_():
    user = current_user(*cases.READ_ROLES)
    args = request.args.to_dict(flat=True)
    limit = args.pop("limit", None)
    cursor = args.pop("cursor", None)
    return jsonify(cases.list_cases(current_node(), args, user, limit=limit, cursor=cursor))


@bp.get("/<case_id>")
def get(case_id: str):
    user = current_user(*cases.READ_ROLES)
    return jsonify(cases.read_case(current_node(), case_id, user))


@bp.post("/<case_id>/personal")
def personal(case_id: str):
    """The case in full for a deliberate read with a reason (issue 13 items 3-4)."""
    user = current_user(*cases.READ_ROLES)
    return jsonify(cases.reveal_case(current_node(), case_id, user, json_body(), via="api"))


@bp.post("/<case_id>/actions")
def action(case_id: str):
    user = current_user(*cases.ANY_ACT_ROLES)   # each action checks its own roles
    node = current_node()
    result = cases.act(node, case_id, json_body(), user)
    result = present(node, result, user)   # the updated case (or the copy and its proposal), as this user reads it
    resp = jsonify(result)
    if "proposal" in result:   # held as a copy here: sent to the handling node (202)
        resp.status_code = 202
    return resp
