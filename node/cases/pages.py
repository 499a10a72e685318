"""The case pages of the staff desk (issue 11 items 3–5): intake form, case list, case page.

Thin handlers (STYLE.md "Pages"): parse the form, call the same functions as the JSON API
(``node.cases``), render or redirect.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cases_pages", __name__, url_prefix="/desk")
