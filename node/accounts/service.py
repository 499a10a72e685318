"""Staff accounts, roles and API tokens (CONTRACT §4; R2.3 confidentiality of staff reports).

Only the SHA-256 of a token is stored. Every request looks its token up (one indexed read),
so a new token, or a disabled user, takes effect at the next request in every process.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from node.accounts.models import User
from node.db import write_tx
from node.errors import NodeError

ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")
ROLE_NAMES_ZH = {"admin": "系统管理员", "intake": "受理登记员", "handler": "承办人", "supervisor": "督办员",
                 "leader": "领导", "discipline": "纪检监察", "analyst": "统计分析员"}
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "n12315_" + secrets.token_urlsafe(32)


def add_user(login: str, role: str, now: datetime, display_name: str = "") -> str:
    """Create a user and return its API token (printed once, never stored in clear)."""
    if not LOGIN_RE.match(login or ""):
        raise NodeError(422, "invalid", "登录名只能含字母、数字和 _.@-，最长 64 / login may hold letters, digits and _.@- (max 64)",
                        "login")
    if role not in ROLES:
        raise NodeError(422, "invalid", f"未知角色 {role}；可用：{', '.join(ROLES)} / unknown role", "role")
    token = new_token()
    with write_tx(User._meta.database):
        if User.get_or_none(User.login == login):
            raise NodeError(409, "user_exists", f"用户 {login} 已存在 / user {login} already exists", "login")
        User.create(login=login, role=role, token_hash=hash_token(token), created_at=now,
                    display_name=display_name)
    return token


def reissue_token(login: str, cache: dict | None = None) -> str:
    token = new_token()
    with write_tx(User._meta.database):
        user = User.get_or_none(User.login == login)
        if user is None:
            raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
        old = user.token_hash
        user.token_hash = hash_token(token)
        user.save()
    if cache is not None:
        cache.pop(old, None)
    return token


def authenticate(token: str | None, cache: dict | None = None) -> User:
    """Return the user for a bearer token, or raise 401.

    Read from the database on every request, not from a per-process cache: ``n12315 user
    token`` and a disabled account run in another process than ``serve``, and the old token must
    stop working at the next request (CONTRACT §4, §11). One indexed lookup (``cache`` is
    accepted for callers written before, and ignored)."""
    if not token:
        raise NodeError(401, "unauthenticated", "缺少访问令牌 / missing bearer token")
    user = (User.select()
            .where(User.token_hash == hash_token(token))
            .limit(1)
            .first())
    if user is None or user.disabled:
        raise NodeError(401, "unauthenticated", "访问令牌无效 / invalid bearer token")
    return user


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise NodeError(403, "forbidden",
                        f"角色 {user.role} 无权执行此操作（需要：{'/'.join(roles)}） / role {user.role} may not do this")


def list_users() -> list[dict]:
    return [{"login": u.login, "role": u.role, "created_at": u.created_at.isoformat() if u.created_at else None,
             "disabled": u.disabled}
            for u in User.select().order_by(User.login)]
