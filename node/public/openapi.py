"""The portal's one JSON endpoint in the OpenAPI document (issue 12 item 1); its pages
(``/public/...`` outside ``/public/v1/``) are for people and are not described."""
from __future__ import annotations

from typing import Any

from node.web import openapi as oa

FIRM = {"type": "object", "properties": {"uscc": {"type": "string"}, "name": {"type": "string"},
                                         "region_code": {"type": ["string", "null"]}}}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"]["/public/v1/firms"] = {"get": {
        "summary": "按名称或统一社会信用代码查找经营者（公开表单用）/ find a business by name or USCC (the public form's "
                   "respondent look-up; businesses this node has registered cases against)",
        "security": [],
        "parameters": [oa.query("q", "名称片段（至少 2 字）或 18 位代码 / part of the name (2+ characters) or the 18-character "
                                     "code")],
        "responses": {"200": oa.resp("至多 8 个 / at most 8", {"type": "object", "properties": {
            "items": {"type": "array", "items": FIRM}}}), **oa.errors(400)}}}
