"""用户管理 — the user pages of the desk's administration (issue 11 item 9; CONTRACT §4, §9).

Admin role only. What ``n12315 user add|password|token`` do, through the same functions, and
what the CLI cannot do yet: change a role, disable and enable an account. Every change is
confirmed first (the first POST shows what will happen, the second, with ``confirmed=1``, does
it). A new API token is shown once, on the page that answers the confirmed POST (never stored in
clear, never put in a redirect or the session). No page shows a password hash or a token hash.

``GET  /desk/admin/users``                    every account
``GET  /desk/admin/users/new``                the add form; ``POST`` adds (token shown once)
``GET  /desk/admin/user/<login>``             one account: its sign-ins and the forms below
``POST /desk/admin/user/<login>/role``        change the role (not one's own away from admin)
``POST /desk/admin/user/<login>/password``    set a new desk password; ends the user's sessions
``POST /desk/admin/user/<login>/disable``     token and sessions stop at the next request (not one's own)
``POST /desk/admin/user/<login>/enable``
``POST /desk/admin/user/<login>/token``       a new API token (shown once); the old one stops
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from node.accounts.models import User
from node.accounts.passwords import check_password_rules, login_events, set_password
from node.accounts.service import (
    ROLES,
    add_user,
    check_disable,
    check_new_user,
    check_role_change,
    reissue_token,
    set_disabled,
    set_role,
    user_summaries,
    user_summary,
)
from node.errors import NodeError
from node.web import session as desk_session
from node.web.i18n import N_, localize
from node.web.pages import ROLE_LABELS, current_node, page, render

log = logging.getLogger(__name__)
bp = Blueprint("accounts_pages", __name__, url_prefix="/desk")

MAX_DISPLAY_NAME = 100
DONE = {"role": N_("The role was changed. It applies from the user's next request."),
        "password": N_("The desk password was set. Every desk session of this user has ended."),
        "disable": N_("The account was disabled. Its API token and desk sessions no longer work."),
        "enable": N_("The account was enabled again.")}
OUTCOMES = {"ok": N_("Signed in"), "bad_password": N_("Wrong password"), "unknown_login": N_("Unknown login"),
            "locked": N_("Refused: locked"), "no_password": N_("No desk password"), "disabled": N_("Account disabled")}


def _role_options() -> list[tuple[str, str]]:
    return [(r, _(ROLE_LABELS.get(r, r))) for r in ROLES]


def _user_url(login: str) -> str:
    return f"/desk/admin/user/{login}"


# -- list and add ----------------------------------------------------------------------------
@bp.get("/admin/users")
@page("admin")
def users(user):
    return render("accounts/users.html", users=user_summaries(current_node().now()),
                  added=request.args.get("added", ""))


def _new_form(status: int = 200, values: dict | None = None, errors: dict | None = None):
    return render("accounts/new.html", status=status, values=values or {"role": "handler"}, errors=errors or {},
                  roles=_role_options())


@bp.get("/admin/users/new")
@page("admin")
def new_user(user):
    return _new_form()


def _password_errors(password: str, again: str, required: bool) -> dict[str, str]:
    """The new password (typed twice) checked before anything changes; ``{}`` when good."""
    if not password and not again and not required:
        return {}
    if password != again:
        return {"password_again": _("The two passwords are not the same.")}
    try:
        check_password_rules(password)
    except NodeError as exc:
        return {"password": localize(exc.message)}
    return {}


@bp.post("/admin/users/new")
@page("admin")
def add(user):
    form = request.form
    values = {k: (form.get(k) or "").strip() for k in ("login", "role", "display_name")}
    password, again = form.get("password") or "", form.get("password_again") or ""
    errors: dict[str, str] = {}
    status = 422
    try:
        check_new_user(values["login"], values["role"])
    except NodeError as exc:
        errors[exc.field or "login"] = localize(exc.message)
        status = exc.status
    if len(values["display_name"]) > MAX_DISPLAY_NAME:
        errors["display_name"] = _("The name may hold at most %(n)s characters.", n=MAX_DISPLAY_NAME)
    errors.update(_password_errors(password, again, required=False))
    if errors:
        return _new_form(status, values, errors)
    if form.get("confirmed") != "1":
        return render("accounts/confirm.html", action="add", target=values["login"],
                      url="/desk/admin/users/new", cancel="/desk/admin/users",
                      fields={**values, "password": password, "password_again": again},
                      role_label=ROLE_LABELS.get(values["role"], values["role"]), has_password=bool(password))
    node = current_node()
    try:
        token = add_user(values["login"], values["role"], node.now(), values["display_name"],
                         token_days=node.config.accounts.token_days, actor=user.login)
    except NodeError as exc:   # made meanwhile by someone else
        return _new_form(exc.status, values, {exc.field or "login": localize(exc.message)})
    if password:
        set_password(values["login"], password, now=node.now(), actor=user.login)
    log.info("desk: %s added user %s (%s)", user.login, values["login"], values["role"])
    return render("accounts/token.html", login=values["login"], token=token, added=True)


# -- one account -----------------------------------------------------------------------------
def _account(login: str, user: Any, status: int = 200, **context: Any):
    node = current_node()
    summary = user_summary(login, node.now())
    events = [{**e, "at": datetime.fromisoformat(e["at"])} for e in login_events(login, limit=20)]
    return render("accounts/user.html", status=status, u=summary, events=events, roles=_role_options(),
                  itself=(login == user.login), outcomes=OUTCOMES, errors=context.pop("errors", {}),
                  done=DONE.get(request.args.get("done", "")) if request.method == "GET" else None, **context)


@bp.get("/admin/user/<login>")
@page("admin")
def account(user, login: str):
    return _account(login, user)


def _confirm(action: str, login: str, **context: Any):
    return render("accounts/confirm.html", action=action, target=login, url=f"{_user_url(login)}/{action}",
                  cancel=_user_url(login), **context)


@bp.post("/admin/user/<login>/role")
@page("admin")
def change_role(user, login: str):
    role = (request.form.get("role") or "").strip()
    current = user_summary(login, current_node().now())
    try:
        check_role_change(login, role, user.login)
    except NodeError as exc:
        if exc.status == 404:
            raise
        return _account(login, user, status=exc.status, errors={"role": localize(exc.message)})
    if request.form.get("confirmed") != "1":
        return _confirm("role", login, fields={"role": role}, old_label=ROLE_LABELS.get(current["role"], current["role"]),
                        role_label=ROLE_LABELS.get(role, role))
    set_role(login, role, user.login, now=current_node().now())
    log.info("desk: %s changed the role of %s to %s", user.login, login, role)
    return redirect(f"{_user_url(login)}?done=role")


@bp.post("/admin/user/<login>/password")
@page("admin")
def reset_password(user, login: str):
    user_summary(login, current_node().now())           # 404 for an unknown login
    password, again = request.form.get("password") or "", request.form.get("password_again") or ""
    errors = _password_errors(password, again, required=True)
    if errors:
        return _account(login, user, status=422, errors=errors)
    if request.form.get("confirmed") != "1":
        return _confirm("password", login, fields={"password": password, "password_again": again},
                        itself=(login == user.login))
    set_password(login, password, now=current_node().now(), actor=user.login)
    if login == user.login:   # one's own: this session goes on with the new epoch, the others end
        desk_session.start(User.get(User.login == login), current_node().now().timestamp())
    log.info("desk: %s set a new desk password for %s", user.login, login)
    return redirect(f"{_user_url(login)}?done=password")


def _toggle(user: Any, login: str, disabled: bool) -> Response | tuple[str, int]:
    action = "disable" if disabled else "enable"
    try:
        check_disable(login, disabled, user.login)
    except NodeError as exc:
        if exc.status == 404:
            raise
        return _account(login, user, status=exc.status, action_error=localize(exc.message))
    if request.form.get("confirmed") != "1":
        return _confirm(action, login, fields={})
    set_disabled(login, disabled, user.login, now=current_node().now())
    log.info("desk: %s %sd user %s", user.login, action, login)
    return redirect(f"{_user_url(login)}?done={action}")


@bp.post("/admin/user/<login>/disable")
@page("admin")
def disable(user, login: str):
    return _toggle(user, login, True)


@bp.post("/admin/user/<login>/enable")
@page("admin")
def enable(user, login: str):
    return _toggle(user, login, False)


@bp.post("/admin/user/<login>/token")
@page("admin")
def new_token(user, login: str):
    user_summary(login, current_node().now())           # 404 for an unknown login
    if request.form.get("confirmed") != "1":
        return _confirm("token", login, fields={})
    node = current_node()
    token = reissue_token(login, now=node.now(), token_days=node.config.accounts.token_days, actor=user.login)
    log.info("desk: %s issued a new API token for %s", user.login, login)
    return render("accounts/token.html", login=login, token=token, added=False)
