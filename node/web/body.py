"""Reading a request body: one JSON object or a 400 naming the problem (CONTRACT §5).

Refused before any domain code sees it: a body not declared JSON (415), invalid UTF-8, malformed JSON, nesting deeper than
``MAX_DEPTH`` (a 10,000-deep body used to end in a RecursionError and a 500), a key given twice
(JSON parsers differ on which one wins, so the body is ambiguous) and a lone UTF-16 surrogate
anywhere (it cannot be stored or written as UTF-8 later: the Atom feed, CAP XML, the database).
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from node.errors import NodeError

MAX_DEPTH = 32          # the deepest staff-API object (a case with extensions) is far shallower
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_body() -> dict:
    """Parse the request body as a JSON object or raise 400 naming the problem; a body not
    declared ``application/json`` is a 415 (issue 13: ``text/plain`` was parsed as JSON, which
    lets a plain HTML form on any site post to the API without a CORS preflight)."""
    if not is_json_type(request.mimetype):
        raise NodeError(415, "unsupported_media_type",
                        "请求体须为 JSON，请设置 Content-Type: application/json / the body must be sent with "
                        "Content-Type: application/json")
    return parse_json_object(request.get_data(cache=True))


def is_json_type(mimetype: str) -> bool:
    """``application/json`` or a ``+json`` type (parameters such as ``charset`` are ignored)."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def parse_json_object(raw: bytes, *, parse_float: Any = None) -> dict:
    if not raw:
        raise NodeError(400, "malformed", "请求体为空，需要 JSON 对象 / empty body; a JSON object is required")
    try:
        data = json.loads(raw, parse_float=parse_float or _keep_float_marker, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise NodeError(400, "malformed", f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）/ JSON nested too deep "
                                          f"(at most {MAX_DEPTH} levels)") from None
    except NodeError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise NodeError(400, "malformed", f"JSON 格式错误：{str(exc)[:200]} / malformed JSON") from None
    if not isinstance(data, dict):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    _check(data, "", 0)
    return data


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise NodeError(400, "malformed", f"JSON 键重复：{key[:64]} / a key appears twice", key[:64])
        out[key] = value
    return out


def _check(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise NodeError(400, "malformed", f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）/ JSON nested too deep "
                                          f"(at most {MAX_DEPTH} levels)", path or None)
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise NodeError(400, "malformed", "文本含无效的 Unicode 代理字符 / text holds a lone UTF-16 surrogate",
                            path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                raise NodeError(400, "malformed", "键含无效的 Unicode 代理字符 / a key holds a lone UTF-16 surrogate",
                                path or None)
            _check(item, where[:200], depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", depth + 1)


class FloatMarker(float):
    """A JSON number with a fraction, kept recognisable so money checks can refuse it."""


def _keep_float_marker(s: str) -> FloatMarker:
    return FloatMarker(s)
