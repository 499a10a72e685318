"""系统管理 — the administration pages of the staff desk (issue 11 item 9): users, links and
their health, quarantine, node status."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("network_pages", __name__, url_prefix="/desk")
