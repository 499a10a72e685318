"""Sign-in, sign-out and the home page of the desk (issue 11 items 1–2; CONTRACT §9).

``GET /desk/`` without a session redirects to ``/desk/login``; the form posts ``login`` and
``password``; a wrong one shows the form again with the message and starts no session.
Every attempt is recorded and five failures lock the login for 15 minutes
(``node.accounts.sign_in``).
"""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, redirect, request

from node.accounts import sign_in
from node.desk import home
from node.errors import NodeError
from node.web import session as desk_session
from node.web.i18n import N_, localize
from node.web.pages import current_node, page, render

bp = Blueprint("desk", __name__, url_prefix="/desk")

REASONS = {"idle": N_("Your session ended after a time without use. Please sign in again."),
           "ended": N_("Your session has ended. Please sign in again.")}


def _safe_next(target: str | None) -> str:
    """Only a path on this node's desk (no open redirect)."""
    if not target:
        return "/desk/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/desk/") or "\\" in target:
        return "/desk/"
    return target


@bp.get("/login")
def login_form():
    return render("desk/login.html", reason=REASONS.get(request.args.get("reason", "")),
                  next=_safe_next(request.args.get("next")), login="")


@bp.post("/login")
def login():
    node = current_node()
    form = request.form
    settings = node.config.desk
    try:
        with node.activate():
            user = sign_in(form.get("login", ""), form.get("password", ""), address=desk_session.client_address(),
                           now=node.now(), attempts=settings.lockout_attempts, lock_minutes=settings.lockout_minutes)
    except NodeError as exc:
        return render("desk/login.html", status=exc.status, error=localize(exc.message),
                      next=_safe_next(form.get("next")), login=form.get("login", "")[:64])
    desk_session.start(user, node.now().timestamp())
    return redirect(_safe_next(form.get("next")))


@bp.post("/logout")
def logout():
    desk_session.end()
    return redirect("/desk/login")


@bp.get("/")
@page()
def index(user):
    return render("desk/home.html", tiles=home.tiles(current_node(), user))
