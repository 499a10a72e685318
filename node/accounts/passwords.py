"""Desk passwords and sign-in (issue 11 "staff desk"; CONTRACT §9).

Passwords are kept only as argon2id hashes (``argon2-cffi``'s ``PasswordHasher``: RFC 9106
parameters, a memory-hard KDF). ``sign_in`` is the one way a password is checked: every
attempt is recorded (login, time, address, outcome) in ``LoginEvent``; after
``desk.lockout_attempts`` consecutive failures the login is locked for
``desk.lockout_minutes``, and while locked even the right password is refused. Unknown logins
and wrong passwords get the same answer, so the form does not tell which logins exist.

Setting a password bumps ``session_epoch``: every desk session of that user ends at its next
request (a stolen session does not outlive a password change).

Both write to the audit log (issue 13 items 4-5): ``password.set``, ``desk.sign_in``,
``desk.sign_in_failed`` (with the outcome) and ``desk.lockout`` when a failure locks the login.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from node.accounts.models import LoginEvent, User
from node.audit import append as audit
from node.db import write_tx
from node.errors import NodeError

MIN_LENGTH = 8
MAX_LENGTH = 256          # argon2 takes any length; a bound keeps a 1 MiB "password" from costing CPU
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB, 3 passes)
# Verified against when the login is unknown, so both answers take the same time.
_DUMMY_HASH = _HASHER.hash("n12315-no-such-user")

_SHANGHAI = ZoneInfo("Asia/Shanghai")
BAD_LOGIN = "登录名或密码错误 / wrong login or password"


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise NodeError(422, "invalid", f"密码至少 {MIN_LENGTH} 个字符 / the password needs at least {MIN_LENGTH} characters",
                        "password")
    if len(password) > MAX_LENGTH:
        raise NodeError(422, "invalid", f"密码最长 {MAX_LENGTH} 个字符 / the password may hold at most {MAX_LENGTH} characters",
                        "password")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise NodeError(422, "invalid", "密码不能含控制字符 / the password may not hold control characters", "password")


def set_password(login: str, password: str, *, now: datetime | None = None, actor: str = "cli") -> None:
    """Set (or replace) a user's desk password; ends every session of that user."""
    check_password_rules(password)
    digest = _HASHER.hash(password)
    with write_tx(User._meta.database):
        user = User.get_or_none(User.login == login)
        if user is None:
            raise NodeError(404, "no_user", f"用户 {login} 不存在 / no user {login}", "login")
        (User.update(password_hash=digest, failed_logins=0, locked_until=None,
                     session_epoch=User.session_epoch + 1)
             .where(User.login == login)
             .execute())
        audit(actor, "password.set", login, None, now=now or datetime.now(UTC))


def _record(login: str, now: datetime, address: str, outcome: str, locked: bool = False) -> None:
    LoginEvent.create(login=login[:64], at=_naive(now), address=address[:64], outcome=outcome)
    detail = {"ip": address[:64]} if outcome == "ok" else {"ip": address[:64], "outcome": outcome}
    if outcome == "ok":
        audit(login[:64], "desk.sign_in", login[:64], detail, now=now)
    else:   # who typed it is not known: the login tried is the target, never the actor
        audit("anonymous", "desk.sign_in_failed", login[:64], detail, now=now)
    if locked:
        audit("system", "desk.lockout", login[:64], {"ip": address[:64]}, now=now)


def sign_in(login: str, password: str, *, address: str, now: datetime, attempts: int, lock_minutes: int) -> User:
    """The user whose password this is, or ``NodeError`` 401 (wrong) / 423 (locked).

    The attempt is recorded whatever its outcome; the failure count and the lock are committed
    with the record before the refusal is raised (a refusal must not roll them back)."""
    login = (login or "").strip()
    password = password or ""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH + 1]   # still wrong, without hashing megabytes
    with write_tx(User._meta.database):
        error = _check(login, password, address=address, now=now, attempts=attempts, lock_minutes=lock_minutes)
    if error is not None:
        raise error
    return User.get(User.login == login)


def _check(login: str, password: str, *, address: str, now: datetime, attempts: int,
           lock_minutes: int) -> NodeError | None:
    user = User.get_or_none(User.login == login) if login else None
    if user is None or user.disabled or not user.password_hash:
        try:
            _HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        _record(login, now, address,
                "unknown_login" if user is None else ("disabled" if user.disabled else "no_password"))
        return NodeError(401, "bad_login", BAD_LOGIN, "password")
    if user.locked_until is not None and user.locked_until > _naive(now):
        _record(login, now, address, "locked")
        return _locked(user.locked_until, None)
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError, VerificationError):
        failed = user.failed_logins + 1
        locked = _naive(now) + timedelta(minutes=lock_minutes) if failed >= attempts else None
        (User.update(failed_logins=0 if locked else failed, locked_until=locked)
             .where(User.login == login)
             .execute())
        _record(login, now, address, "bad_password", locked=locked is not None)
        return _locked(locked, attempts) if locked is not None else NodeError(401, "bad_login", BAD_LOGIN, "password")
    changes: dict = {}
    if user.failed_logins or user.locked_until is not None:
        changes.update(failed_logins=0, locked_until=None)
    if _HASHER.check_needs_rehash(user.password_hash):
        changes["password_hash"] = _HASHER.hash(password)
    if changes:
        User.update(**changes).where(User.login == login).execute()
    _record(login, now, address, "ok")
    return None


def _locked(until: datetime, attempts: int | None) -> NodeError:
    shown = until.replace(tzinfo=UTC).astimezone(_SHANGHAI).strftime("%H:%M")
    why = f"连续登录失败 {attempts} 次" if attempts else "连续登录失败次数过多"
    return NodeError(423, "locked", f"{why}，账号已锁定至 {shown} / too many failed attempts; this login is "
                                    f"locked until {shown}", "login")


def login_events(login: str | None = None, limit: int = 100) -> list[dict]:
    query = LoginEvent.select().order_by(LoginEvent.id.desc()).limit(limit)
    if login:
        query = query.where(LoginEvent.login == login)
    return [{"login": e.login, "at": e.at.replace(tzinfo=UTC).isoformat(), "address": e.address,
             "outcome": e.outcome} for e in query]

