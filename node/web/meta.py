"""``GET /api/v1/openapi.json`` (no token): every endpoint of the app, from the hand-kept
description each domain registers in ``node/web/openapi.py`` (a test fails when a route is
missing from it)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from node.web.auth import current_node
from node.web.openapi import spec

bp = Blueprint("meta", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec(current_node(), current_app.config.get("OPENAPI_DESCRIBERS", ())))
