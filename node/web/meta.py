"""Node-level read endpoints: categories, the API description, the leadership board, status.

* ``GET /api/v1/categories`` (no token) — the node's category table (CONTRACT §5, R7.3);
* ``GET /api/v1/openapi.json`` (no token) — every endpoint of the app, from the hand-kept
  spec in ``node/web/openapi.py`` (a test fails when a route is missing from it);
* ``GET /api/v1/leadership`` (leader, supervisor, admin) — open urgent and critical cases at
  once (R1.4 graded handling, R3.4 major information to the leadership);
* ``GET /api/v1/status`` (admin) — what ``n12315 status --json`` prints (CONTRACT §2).
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from node.services import cases
from node.web.auth import current_node, current_user
from node.web.openapi import spec

bp = Blueprint("meta", __name__, url_prefix="/api/v1")


@bp.get("/categories")
def categories():
    node = current_node()
    doc = node.cache.get("categories_doc")
    if doc is None:
        table = cases.categories(node)
        doc = {"version": table.version, "items": table.items()}
        node.cache["categories_doc"] = doc
    return jsonify(doc)


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec(current_node()))


@bp.get("/leadership")
def leadership():
    user = current_user(*cases.LEADERSHIP_ROLES)
    return jsonify(cases.leadership_board(current_node(), user))


@bp.get("/status")
def status():
    current_user("admin")
    from node.services.status import collect
    return jsonify(collect(current_node()))
