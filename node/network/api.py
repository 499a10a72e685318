"""``GET /api/v1/status`` (admin): what ``n12315 status --json`` prints (CONTRACT §2)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from node.network.status import collect
from node.web.auth import current_node, current_user

bp = Blueprint("network", __name__, url_prefix="/api/v1")


@bp.get("/status")
def status():
    current_user("admin")
    return jsonify(collect(current_node()))
