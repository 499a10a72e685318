"""Reading a request body: one JSON object or a 400 naming the problem (CONTRACT §5)."""
from __future__ import annotations

import json

from flask import request

from node.errors import NodeError


def json_body(max_depth: int = 8) -> dict:
    """Parse the request body as a JSON object or raise 400 naming the problem."""
    raw = request.get_data(cache=True)
    if not raw:
        raise NodeError(400, "malformed", "请求体为空，需要 JSON 对象 / empty body; a JSON object is required")
    try:
        data = json.loads(raw, parse_float=_keep_float_marker)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NodeError(400, "malformed", f"JSON 格式错误：{exc} / malformed JSON") from None
    if not isinstance(data, dict):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    return data


class FloatMarker(float):
    """A JSON number with a fraction, kept recognisable so money checks can refuse it."""


def _keep_float_marker(s: str) -> FloatMarker:
    return FloatMarker(s)
