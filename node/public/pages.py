"""``/public/`` pages — skeleton."""
from flask import Blueprint

bp = Blueprint("public_pages", __name__, url_prefix="/public")
