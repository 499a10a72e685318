"""Staff accounts, roles and API tokens (CONTRACT §4; R2.3 confidentiality of staff reports).

Only the SHA-256 of a token is stored (``tokens.py``: expiry, listing, revocation). Every
request looks its token up, so a new token, or a disabled user, takes effect at the next request
in every process. Every change here is written to the audit log in the same transaction
(issue 13 item 4): ``actor`` is the login that did it, ``"cli"`` for ``n12315 user``.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

from node.accounts.models import User
from node.accounts.tokens import (  # noqa: F401  (authenticate, hash_token, new_token: older callers import them here)
    DEFAULT_TOKEN_DAYS,
    authenticate,
    hash_token,
    issue,
    new_token,
    revoke_active,
)
from node.audit import append as audit
from node.db import write_tx
from node.errors import NodeError

ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst",
         "monitor")   # monitor: scrapes /metrics and nothing else (issue 14, docs/metrics.md)
# Roles that pass only where a route names them, never where "any signed-in user" will do: a
# scraper's token must not open directives, plans or desk pages.
SCOPED_ROLES = ("monitor",)
ROLE_NAMES_ZH = {"admin": "系统管理员", "intake": "受理登记员", "handler": "承办人", "supervisor": "督办员",
                 "leader": "领导", "discipline": "纪检监察", "analyst": "统计分析员",
                 "monitor": "运行监控"}
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def add_user(login: str, role: str, now: datetime, display_name: str = "", *,
             token_days: int = DEFAULT_TOKEN_DAYS, actor: str = "cli") -> str:
    """Create a user and return its API token (printed once, never stored in clear)."""
    if not LOGIN_RE.match(login or ""):
        raise NodeError(422, "invalid", "登录名只能含字母、数字和 _.@-，最长 64 / login may hold letters, digits and _.@- (max 64)",
                        "login")
    if role not in ROLES:
        raise NodeError(422, "invalid", f"未知角色 {role}；可用：{', '.join(ROLES)} / unknown role", "role")
    with write_tx(User._meta.database):
        if User.get_or_none(User.login == login):
            raise NodeError(409, "user_exists", f"用户 {login} 已存在 / user {login} already exists", "login")
        audit(actor, "user.add", login, {"role": role}, now=now)
        token, row = issue(login, now, token_days, actor)
        User.create(login=login, role=role, token_hash=row.token_hash, created_at=now,
                    display_name=display_name)
    return token


def reissue_token(login: str, cache: dict | None = None, *, now: datetime | None = None,
                  token_days: int = DEFAULT_TOKEN_DAYS, actor: str = "cli") -> str:
    """A new token for ``login``; every older one stops at the next request (CONTRACT §4)."""
    now = _now(now)
    with write_tx(User._meta.database):
        user = User.get_or_none(User.login == login)
        if user is None:
            raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
        ended = revoke_active(login, now)
        if ended:
            audit(actor, "token.revoke", login, {"token_ids": ended, "reason": "reissued"}, now=now)
        token, row = issue(login, now, token_days, actor)
        User.update(token_hash=row.token_hash).where(User.login == login).execute()
    return token


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise NodeError(403, "forbidden",
                        f"角色 {user.role} 无权执行此操作（需要：{'/'.join(roles)}） / role {user.role} may not do this")


def list_users() -> list[dict]:
    return [{"login": u.login, "role": u.role, "created_at": u.created_at.isoformat() if u.created_at else None,
             "disabled": u.disabled}
            for u in User.select().order_by(User.login)]


# -- administration (issue 11 item 9: the desk's user pages; CONTRACT §4) -----------------------
def _utc(value: datetime | None) -> datetime | None:
    """A stored time (naive UTC on some databases) as an aware UTC datetime."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _summary(user: User, now: datetime) -> dict:
    """What an administrator may see of an account: never the token hash, never the password hash."""
    locked = _utc(user.locked_until)
    return {"login": user.login, "role": user.role, "display_name": user.display_name or "",
            "disabled": bool(user.disabled), "has_password": bool(user.password_hash),
            "locked_until": locked if locked is not None and locked > now else None,
            "failed_logins": user.failed_logins, "created_at": _utc(user.created_at)}


def user_summaries(now: datetime) -> list[dict]:
    """Every account, by login, as the user pages list them (``locked_until`` only while locked)."""
    return [_summary(u, now) for u in User.select().order_by(User.login)]


def user_summary(login: str, now: datetime) -> dict:
    user = User.get_or_none(User.login == login)
    if user is None:
        raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
    return _summary(user, now)


def check_new_user(login: str, role: str) -> None:
    """The refusals ``add_user`` would give, without creating anything (a confirmation page is
    shown only for an account that can be made)."""
    if not LOGIN_RE.match(login or ""):
        raise NodeError(422, "invalid", "登录名只能含字母、数字和 _.@-，最长 64 / login may hold letters, digits and _.@- (max 64)",
                        "login")
    if role not in ROLES:
        raise NodeError(422, "invalid", f"未知角色 {role}；可用：{', '.join(ROLES)} / unknown role", "role")
    if User.get_or_none(User.login == login):
        raise NodeError(409, "user_exists", f"用户 {login} 已存在 / user {login} already exists", "login")


def _existing(login: str) -> User:
    user = User.get_or_none(User.login == login)
    if user is None:
        raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
    return user


def check_role_change(login: str, role: str, actor: str | None = None) -> None:
    """Refuse an unknown role, no change, or an administrator taking away their own admin role
    (a node must not lose the account that administers it by a slip)."""
    user = _existing(login)
    if role not in ROLES:
        raise NodeError(422, "invalid", f"未知角色 {role}；可用：{', '.join(ROLES)} / unknown role", "role")
    if user.role == role:
        raise NodeError(422, "same_role", f"用户 {login} 的角色已是 {role} / user {login} already has role {role}", "role")
    if actor is not None and actor == login and role != "admin":
        raise NodeError(409, "own_account", "不能降低自己账号的角色，请由另一位管理员操作 / you cannot demote your own account; "
                                            "ask another administrator", "role")


def set_role(login: str, role: str, actor: str | None = None, *, now: datetime | None = None) -> None:
    """Give ``login`` another role; it takes effect at the user's next request (the role is read
    from the database on every API request and every page)."""
    with write_tx(User._meta.database):
        check_role_change(login, role, actor)
        old = User.get(User.login == login).role
        User.update(role=role).where(User.login == login).execute()
        audit(actor or "cli", "user.role", login, {"from": old, "to": role}, now=_now(now))


def check_disable(login: str, disabled: bool, actor: str | None = None) -> None:
    user = _existing(login)
    if disabled and actor is not None and actor == login:
        raise NodeError(409, "own_account", "不能停用自己的账号，请由另一位管理员操作 / you cannot disable your own account; "
                                            "ask another administrator", "login")
    if bool(user.disabled) == disabled:
        raise NodeError(409, "no_change", f"用户 {login} 已停用 / user {login} is already disabled" if disabled
                        else f"用户 {login} 已启用 / user {login} is already enabled", "login")


def set_disabled(login: str, disabled: bool, actor: str | None = None, *, now: datetime | None = None) -> None:
    """Disable or enable ``login``. Disabled, its API token is refused at the next request
    (``authenticate`` reads the row every time) and its desk sessions end there too; the session
    epoch moves, so enabling the account again does not bring an old session back."""
    with write_tx(User._meta.database):
        check_disable(login, disabled, actor)
        changes: dict = {"disabled": disabled}
        if disabled:
            changes["session_epoch"] = User.session_epoch + 1
        User.update(**changes).where(User.login == login).execute()
        audit(actor or "cli", "user.disable" if disabled else "user.enable", login, None, now=_now(now))
