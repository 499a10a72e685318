"""API tokens that expire, can be listed and revoked (issue 13 item 5; CONTRACT §4, §11).

A token is shown once, when it is made; the node keeps its SHA-256 and its first characters.
Every request looks its token up (one indexed read, no per-process cache), so a revoked token,
an expired one or a disabled login is refused at the very next request, in every process —
``n12315 user …`` runs beside ``serve``. ``last_used_at`` is written at most once an hour per
token: a write per request would put every read behind the write lock.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from node.accounts.models import ApiToken, User
from node.audit import append as audit
from node.db import write_tx
from node.errors import NodeError

DEFAULT_TOKEN_DAYS = 90
PREFIX_LEN = 11                     # "n12315_" and four characters of the secret
LAST_USED_STEP = timedelta(hours=1)
EXPIRED = "访问令牌已过期，请管理员签发新令牌（n12315 user token）/ token expired; ask an administrator for a new one"
INVALID = "访问令牌无效 / invalid bearer token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "n12315_" + secrets.token_urlsafe(32)


def naive(dt: datetime) -> datetime:
    """UTC without tzinfo, as every database here stores it."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def issue(login: str, now: datetime, token_days: int, actor: str) -> tuple[str, ApiToken]:
    """Make a token for ``login`` inside the caller's write transaction; record it in the audit."""
    if token_days < 1:
        raise NodeError(422, "invalid", "令牌有效期至少 1 天 / accounts.token_days must be at least 1", "token_days")
    token = new_token()
    row = ApiToken.create(login=login, token_hash=hash_token(token), prefix=token[:PREFIX_LEN],
                          created_at=naive(now), expires_at=naive(now) + timedelta(days=token_days))
    audit(actor, "token.issue", login, {"token_id": row.id, "prefix": row.prefix,
                                       "expires_at": aware(row.expires_at).isoformat()}, now=now)
    return token, row


def revoke_active(login: str, now: datetime) -> list[int]:
    """End every token of ``login`` that still works (a new token replaces them: CONTRACT §4)."""
    ids = [t.id for t in ApiToken.select(ApiToken.id)
           .where((ApiToken.login == login) & ApiToken.revoked_at.is_null())]
    if ids:
        ApiToken.update(revoked_at=naive(now)).where(ApiToken.id.in_(ids)).execute()
    return ids


def revoke_token(login: str, token_id: int, *, now: datetime, actor: str = "cli") -> dict:
    """``n12315 user token-revoke LOGIN TOKEN_ID``: that token stops at the next request."""
    with write_tx(ApiToken._meta.database):
        row = ApiToken.get_or_none((ApiToken.id == token_id) & (ApiToken.login == login))
        if row is None:
            raise NodeError(404, "no_token", f"用户 {login} 没有编号为 {token_id} 的令牌 / {login} has no token {token_id}",
                            "token_id")
        if row.revoked_at is not None:
            raise NodeError(409, "no_change", f"令牌 {token_id} 已撤销 / token {token_id} is already revoked", "token_id")
        ApiToken.update(revoked_at=naive(now)).where(ApiToken.id == token_id).execute()
        audit(actor, "token.revoke", login, {"token_id": token_id, "prefix": row.prefix}, now=now)
    return token_view(ApiToken.get_by_id(token_id), now)


def token_view(row: ApiToken, now: datetime) -> dict:
    """What may be shown of a token: never its hash, never the secret."""
    expires = aware(row.expires_at)
    state = "revoked" if row.revoked_at is not None else ("expired" if expires <= now else "active")
    return {"id": row.id, "prefix": row.prefix, "created_at": aware(row.created_at).isoformat(),
            "expires_at": expires.isoformat(),
            "last_used_at": aware(row.last_used_at).isoformat() if row.last_used_at else None,
            "revoked_at": aware(row.revoked_at).isoformat() if row.revoked_at else None, "state": state}


def list_tokens(login: str, now: datetime) -> list[dict]:
    """``n12315 user tokens LOGIN``: every token the login was given, newest first."""
    if User.get_or_none(User.login == login) is None:
        raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
    return [token_view(row, now) for row in
            ApiToken.select().where(ApiToken.login == login).order_by(ApiToken.id.desc())]


def authenticate(token: str | None, cache: dict | None = None, *, now: datetime | None = None) -> User:
    """Return the user for a bearer token, or raise 401 (CONTRACT §4, §11).

    Read from the database on every request: a token revoked or reissued by ``n12315 user``
    in another process, a disabled account and an expired token fail at the next request.
    ``cache`` is accepted for callers written before, and ignored."""
    if not token:
        raise NodeError(401, "unauthenticated", "缺少访问令牌 / missing bearer token")
    now = now or datetime.now(UTC)
    row = (ApiToken.select()
           .where(ApiToken.token_hash == hash_token(token))
           .limit(1)
           .first())
    user = User.get_or_none(User.login == row.login) if row is not None and row.revoked_at is None else None
    if user is None:
        raise NodeError(401, "unauthenticated", INVALID)
    if user.disabled:
        raise NodeError(401, "account_disabled", "账号已停用 / this account is disabled")
    if row.expires_at <= naive(now):
        raise NodeError(401, "token_expired", EXPIRED)
    if row.last_used_at is None or naive(now) - row.last_used_at >= LAST_USED_STEP:
        with write_tx(ApiToken._meta.database):
            ApiToken.update(last_used_at=naive(now)).where(ApiToken.id == row.id).execute()
    return user


def migrate_tokens(db) -> None:
    """Give every existing login's current token a row (issue 13 item 5). Tokens made before
    expiry existed run for the default 90 days from the upgrade, not from their creation: an
    upgrade must not lock every long-standing account out at once."""
    with db.bind_ctx([User, ApiToken]):
        db.create_tables([ApiToken], safe=True)
        now = datetime.now(UTC).replace(tzinfo=None)
        known = {t.token_hash for t in ApiToken.select(ApiToken.token_hash)}
        for user in User.select():
            if user.token_hash in known:
                continue
            ApiToken.create(login=user.login, token_hash=user.token_hash, prefix="(legacy)",
                            created_at=naive(user.created_at) if isinstance(user.created_at, datetime) else now,
                            expires_at=now + timedelta(days=DEFAULT_TOKEN_DAYS))
