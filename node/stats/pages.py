"""数据看板 — the dashboards of the staff desk (issue 11 item 8)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stats_pages", __name__, url_prefix="/desk")
