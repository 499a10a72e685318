"""Liveness and readiness: ``GET /healthz`` (no token)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from node.web.auth import current_node

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    node = current_node()
    node.db.execute_sql("SELECT 1")
    return jsonify({"status": "ok", "code": node.code, "level": node.level, "name": node.config.name,
                    "time": node.now().isoformat()})
