"""Paging a list: the one ``limit`` parser and opaque, signed cursors (CONTRACT §5 "Lists take
``limit`` (default 50, at most 200; more is cut to 200)"; issue 13 "found from outside").

* ``parse_limit`` — every list endpoint reads ``limit`` here: a whole number written in ASCII
  digits, 1 or more; above the list's maximum it is cut to the maximum (the contract), and a
  number beyond ``LIMIT_CEILING`` or anything else is a 400 naming ``limit``. Before this,
  ``limit=-1`` was refused by the case list and taken as 1 by the directive list.
* ``seal_cursor`` / ``open_cursor`` — a cursor is ``base64url(JSON position)`` + "." +
  ``base64url(HMAC-SHA256)`` over the position *and the query it belongs to* (a digest of the
  filters and the order), keyed by a secret derived from the node's own key file. A cursor
  changed by hand, made up, taken to another node or to another query is a 400 naming
  ``cursor``: a made-up position used to reach the database as a number too large for a column
  (an OverflowError, a 500).

Pure functions without Flask; the node's secret is read once per node and kept in
``node.extras``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from node.errors import bad_request

DEFAULT_LIMIT = 50
LIMIT_CEILING = 10_000       # more than this is a mistake, not a wish for "everything"
MAC_BYTES = 16
_KEY_SLOT = "cursor_key"
CURSOR_MESSAGE = "分页游标无效或不属于本查询，请从第一页重新开始 / invalid cursor: use next_cursor as returned, with the same query"


def parse_limit(raw: Any, *, default: int = DEFAULT_LIMIT, maximum: int = 200) -> int:
    """``limit`` as given (a query string value or an int from the desk) → 1..``maximum``."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        n = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= len(str(LIMIT_CEILING)):
        n = int(raw)
    else:
        n = -1
    if not 1 <= n <= LIMIT_CEILING:
        raise bad_request(f"limit 须为 1 到 {maximum} 的整数（更大的数按 {maximum} 计）/ limit must be a whole number "
                          f"from 1 to {maximum} (larger ones count as {maximum})", "limit", code="invalid_limit")
    return min(n, maximum)


def query_digest(filters: Mapping[str, Any], **extra: Any) -> str:
    """The query a cursor belongs to: the non-blank filters and ``extra`` (e.g. the order)."""
    shown = {str(k): str(v) for k, v in {**filters, **extra}.items() if v not in (None, "")}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _key(node: Any) -> bytes:
    key = node.extras.get(_KEY_SLOT)
    if key is None:
        from node.web.session import load_secret  # the node's 0600 secret; lazily: it imports Flask
        key = hmac.new(load_secret(node.config.home_path), b"n12315 list cursor v1", hashlib.sha256).digest()
        node.extras[_KEY_SLOT] = key
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(node: Any, scope: str, position: bytes) -> bytes:
    return hmac.new(_key(node), scope.encode() + b"\0" + position, hashlib.sha256).digest()[:MAC_BYTES]


def seal_cursor(node: Any, scope: str, position: Mapping[str, Any]) -> str:
    """An opaque cursor for ``position`` that only this node accepts, and only for ``scope``
    (``query_digest`` of the same query)."""
    raw = json.dumps(position, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(raw)}.{_b64(_mac(node, scope, raw))}"


def open_cursor(node: Any, scope: str, cursor: str) -> dict[str, Any]:
    """The position sealed in ``cursor``, or a 400 naming ``cursor``."""
    try:
        body, mac = cursor.split(".")
        raw = _unb64(body)
        if not hmac.compare_digest(_unb64(mac), _mac(node, scope, raw)):
            raise ValueError
        position = json.loads(raw)
        if not isinstance(position, dict):
            raise ValueError
        return position
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_request(CURSOR_MESSAGE, "cursor", code="invalid_cursor") from None


def bad_cursor():
    """The one refusal of a cursor whose signed position still makes no sense here."""
    return bad_request(CURSOR_MESSAGE, "cursor", code="invalid_cursor")
