"""应急指挥 — the emergency-command pages of the staff desk (issue 11 item 7)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("directives_pages", __name__, url_prefix="/desk")
