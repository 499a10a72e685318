"""Desk sessions (issue 11 "sign-in"; CONTRACT §9).

Flask's signed session cookie holds the login, the user's ``session_epoch`` and the time of
the last request; the cookie is ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` when the node
is served over HTTPS. Every request checks it against the user row: a disabled user, a
changed password (the epoch moves) or ``desk.idle_timeout_minutes`` without a request ends the
session at once. The signing key is a random file in the node's home (``keys/desk-secret``,
mode 0600), made on first start, so sessions survive a restart and differ between nodes.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g, request, session

from node.accounts import SCOPED_ROLES, User
from node.errors import NodeError

SECRET_FILE = "desk-secret"


def load_secret(home: Path) -> bytes:
    """The desk's signing key, created (0600) on first use."""
    path = home / "keys" / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return bytes.fromhex(key)


def configure(app: Flask, home: Path, https: bool) -> None:
    app.secret_key = load_secret(home)
    app.config.update(SESSION_COOKIE_NAME="n12315_desk", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=https,
                      SESSION_COOKIE_PATH="/", PERMANENT_SESSION_LIFETIME=12 * 3600)


@dataclass(frozen=True)
class DeskUser:
    login: str
    role: str
    display_name: str

    @property
    def shown(self) -> str:
        return self.display_name or self.login


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form (with ``reason``)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


def start(user: User, now_s: float) -> None:
    """Begin a session for ``user`` (after ``accounts.sign_in``); a new cookie, not the old one."""
    lang = session.get("lang")
    session.clear()
    session.update(login=user.login, epoch=user.session_epoch, seen=now_s)
    if lang:
        session["lang"] = lang
    session.permanent = True


def end() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_desk_user(idle_minutes: int, now_s: float) -> DeskUser:
    """The signed-in user of this request, or ``SignInRequired``."""
    cached = getattr(g, "desk_user", None)
    if cached is not None:
        return cached
    login = session.get("login")
    if not login:
        raise SignInRequired()
    if now_s - float(session.get("seen", 0)) > idle_minutes * 60:
        end()
        raise SignInRequired("idle")
    user = User.get_or_none(User.login == login)
    if user is None or user.disabled or user.session_epoch != session.get("epoch") or not user.password_hash:
        end()
        raise SignInRequired("ended")
    session["seen"] = now_s
    g.desk_user = DeskUser(user.login, user.role, user.display_name or "")
    return g.desk_user


def require_roles(user: DeskUser, *roles: str) -> None:
    if (roles or user.role in SCOPED_ROLES) and user.role not in roles:
        raise NodeError(403, "forbidden", f"角色 {user.role} 无权访问此页面或执行此操作 / role {user.role} may not do this")


def client_address() -> str:
    """The peer address as waitress saw it (forwarded headers are trusted only from configured
    proxies — issue "privacy and security"; none are trusted yet)."""
    return request.remote_addr or ""
