"""What every public page shares (issue 12): the portal layout, rendering and the error page.

Public pages (``/public/``) have no sign-in: ``public_page`` binds the node's database for the
request and turns a ``NodeError`` into the portal's error page (a person reads it), never a
traceback. Forms on them are CSRF-checked like the desk's (``node.app``): the token lives in
the anonymous session cookie.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, render_template, request

from node.errors import NodeError
from node.web.i18n import N_, localize

# (path, msgid) — the portal's top menu
PUBLIC_MENU: tuple[tuple[str, str], ...] = (
    ("/public/", N_("Home")),
    ("/public/complaint", N_("Complain or report")),
    ("/public/track", N_("Follow my case")),
    ("/public/disclosures", N_("Complaint publicity")),
    ("/public/warnings", N_("Consumer warnings")),
)


def render_public(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, node=current_app.config["NODE"], path=request.path, public_menu=PUBLIC_MENU,
                           **context), status


def error_page(err: NodeError) -> Any:
    body, status = render_public("public/error.html", status=err.status, error=localize(err.message),
                                 code=err.status, field=err.field)
    headers = {"Retry-After": str(err.retry_after)} if getattr(err, "retry_after", None) else {}
    return body, status, headers


def public_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A portal page: the node's database bound, a ``NodeError`` shown as the portal's page."""
    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        node = current_app.config["NODE"]
        try:
            with node.activate():
                return view(node, *args, **kwargs)
        except NodeError as exc:
            return error_page(exc)
    return run
