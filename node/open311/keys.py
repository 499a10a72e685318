"""Open311 API keys (issue 12 item 5; CONTRACT §10 ``n12315 open311 key add NAME``).

A key lets one partner system POST service requests. Only the SHA-256 of a key is stored;
the key itself is returned once, by ``add_key``, for the operator to hand over. Every POST
looks its key up (one indexed read), so a revocation made by the CLI in another process takes
effect at the next request. Reading (the service list, the requests) needs no key: the GeoReport
v2 standard keeps reads public, and nothing personal is ever shown (docs/open311.md).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from peewee import IntegrityError

from node.errors import NodeError, invalid
from node.open311.models import ApiKey

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_PREFIX = "o311_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC).isoformat() if value.tzinfo is None else value.isoformat()


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise invalid("name", "密钥名称须为 1–64 位字母、数字、点、下划线或连字符，以字母或数字开头 / the key name "
                              "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def add_key(name: str, now: datetime) -> str:
    """Create the key ``name`` and return the key (printed once, never stored in clear)."""
    check_name(name)
    if ApiKey.by_name(name) is not None:
        raise NodeError(409, "exists", f"密钥 {name} 已存在 / key {name} already exists", "name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        ApiKey.create(name=name, key_hash=hash_key(key), created_at=_db_time(now))
    except IntegrityError:   # the same name added at the same moment by another process
        raise NodeError(409, "exists", f"密钥 {name} 已存在 / key {name} already exists", "name") from None
    return key


def revoke_key(name: str, now: datetime) -> None:
    """Revoke ``name``: its POSTs are refused (403) from the next request on."""
    row = ApiKey.by_name(name)
    if row is None:
        raise NodeError(404, "not_found", f"密钥 {name} 不存在 / no key named {name}", "name")
    if row.revoked_at is None:
        (ApiKey.update(revoked_at=_db_time(now))
         .where(ApiKey.id == row.id)
         .execute())


def list_keys() -> list[dict[str, Any]]:
    """Every key's name and dates (never the hash)."""
    return [{"name": r.name, "created_at": _shown(r.created_at), "revoked_at": _shown(r.revoked_at),
             "active": r.revoked_at is None}
            for r in ApiKey.select().order_by(ApiKey.name)]


def key_name(key: str | None) -> str:
    """The name of a valid key; 400 when none was sent, 403 when it is unknown or revoked."""
    if not key:
        raise NodeError(400, "required", "缺少 api_key / api_key is required", "api_key")
    row = ApiKey.by_hash(hash_key(key))
    if row is None or row.revoked_at is not None:
        raise NodeError(403, "forbidden", "api_key 无效或已吊销 / invalid or revoked api_key", "api_key")
    return str(row.name)
