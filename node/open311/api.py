"""``/open311/v2/`` — skeleton."""
from flask import Blueprint

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
