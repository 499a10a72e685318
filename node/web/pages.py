"""What every desk page shares (issue 11): the role menu, the page decorator, rendering with
the layout, and the headers pages are served with.

A page handler is as thin as an API handler (STYLE.md "Pages"): ``@page(*roles)`` resolves
the signed-in user (or redirects to the sign-in form), checks the role (403 page, nothing
done), and the handler parses the form, calls the domain function and renders or redirects.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import current_app, g, redirect, render_template, request
from werkzeug.wrappers import Response

from node.errors import NodeError
from node.web import session as desk_session
from node.web.i18n import N_, localize

ALL_ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")

# (path, msgid, roles that see it) — CONTRACT §4 roles; a page checks its roles again itself.
MENU: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/desk/", N_("My desk"), ALL_ROLES),
    ("/desk/cases/new", N_("Register"), ("intake", "handler", "admin")),
    ("/desk/cases", N_("Cases"), ALL_ROLES),
    ("/desk/supervision", N_("Supervision"), ("supervisor", "leader", "admin", "handler")),
    ("/desk/directives", N_("Emergency command"), ("leader", "admin", "supervisor", "handler", "intake")),
    ("/desk/stats", N_("Dashboards"), ("analyst", "leader", "admin")),
    ("/desk/admin", N_("Administration"), ("admin",)),
)


ROLE_LABELS = {"admin": N_("Administrator"), "intake": N_("Intake operator"), "handler": N_("Handler"),
               "supervisor": N_("Supervisor"), "leader": N_("Leader"), "discipline": N_("Discipline inspection"),
               "analyst": N_("Analyst"), "monitor": N_("Monitoring (metrics only)")}


def menu_for(role: str) -> list[tuple[str, str]]:
    return [(path, label) for path, label, roles in MENU if role in roles]


def current_node() -> Any:
    return current_app.config["NODE"]


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    user = getattr(g, "desk_user", None)
    return render_template(template, user=user, menu=menu_for(user.role) if user else [], role_labels=ROLE_LABELS,
                           node=current_node(), path=request.path, **context), status


def _sign_in_redirect(reason: str) -> Response:
    target = request.full_path if request.method == "GET" else "/desk/"
    query = f"?next={quote(target.rstrip('?'))}" + (f"&reason={reason}" if reason else "")
    return redirect("/desk/login" + query)


def page(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A desk page for these roles (none: any signed-in user)."""
    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            node = current_node()
            try:
                user = desk_session.current_desk_user(node.config.desk.idle_timeout_minutes,
                                                      node.now().timestamp())
            except desk_session.SignInRequired as needed:
                return _sign_in_redirect(needed.reason)
            try:
                desk_session.require_roles(user, *roles)
                with node.activate():
                    return view(user, *args, **kwargs)
            except NodeError as exc:
                if exc.status in (401, 403, 404):
                    return render("desk/error.html", status=exc.status, error=localize(exc.message),
                                  code=exc.status)
                raise
        return run
    return wrap


def page_headers(response: Response) -> Response:
    """Headers for every page: no outside resource (CSP), no sniffing, no framing, no caching
    of staff data."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers["Cache-Control"] = "no-store"
    return response
