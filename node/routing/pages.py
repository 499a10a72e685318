"""督办 — the supervision page of the staff desk (issue 11 item 6)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("routing_pages", __name__, url_prefix="/desk")
