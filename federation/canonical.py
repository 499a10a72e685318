"""Canonical JSON: the one byte form that origin signatures and digests are computed over.

Serves RELIABILITY rule 12 (document signatures over canonical JSON: sorted keys, compact,
UTF-8, no floats) and CONTRACT §3 (documents that travel further than one hop carry their
origin's signature). Two nodes must produce identical bytes for the same document, days
apart and on different Python builds, or a relayed copy stops verifying.

The form is ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
in UTF-8. Keys sort by code point (Python's ``str`` order), not by UTF-16 unit as RFC 8785
does; it is our own form, fixed here, and only this module produces it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

__all__ = ["canonical_bytes", "digest_b64"]

# Floats are refused because their text form is not stable across producers (1.0 vs 1,
# 1e16 vs 10000000000000000) and money must travel as decimal strings. Anything else json
# cannot encode (Decimal, datetime, set) is refused here too, so the error names the path.
_SCALARS = (str, int, type(None))  # bool is an int


def _check(value: Any, path: str) -> None:
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"canonical JSON needs string keys: {type(key).__name__} key {key!r} at {path}"
                )
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if isinstance(value, float):
        raise TypeError(
            f"canonical JSON refuses float {value!r} at {path} (send money and measures as "
            "decimal strings)"
        )
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__} at {path}")


def _fine(value: Any) -> bool:
    """Fast check, no path strings: this runs on every document at every hop."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        else:
            return False
    return True


def canonical_bytes(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON bytes of ``obj``.

    Raises ``TypeError`` naming the path (``$.items[2].amount``) of the first float,
    non-string key or unsupported value, and ``ValueError`` for a string that is not
    valid Unicode (a lone surrogate).
    """
    if not _fine(obj):
        _check(obj, "$")  # the slow walk names the path of the offending value
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"canonical JSON: a string is not valid Unicode ({exc.reason})") from exc


def digest_b64(obj: Any) -> str:
    """Return the standard base64 of the SHA-256 of ``canonical_bytes(obj)``."""
    return base64.b64encode(hashlib.sha256(canonical_bytes(obj)).digest()).decode("ascii")
