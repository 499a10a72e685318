"""The node's HTTP API as an OpenAPI 3.1 document (``GET /api/v1/openapi.json``).

Hand-kept on purpose: the description is written for integrators (Chinese first, then
English), not generated from handler signatures. Each domain describes its own routes in its
package (``node/cases/openapi.py``, ``node/directives/openapi.py`` …) with a ``describe(doc)``
function; the app factory lists them in order and ``spec`` runs them over the shared base
below (a later describer may refine an earlier one's entries: routing adds its filters to the
case list). ``tests/node/test_openapi.py`` walks ``app.url_map`` and fails when a route is
missing (or described but not served), so **whoever adds a route describes it**.

This module knows no domain: it holds the helpers, the error shape and the security schemes.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER = [{"bearer": []}]
_ID = {"type": "string"}

Describer = Callable[[dict[str, Any]], None]


def resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def errors(*codes: int) -> dict[str, Any]:
    text = {400: "请求体格式错误 / malformed body", 401: "缺少或无效令牌 / no or bad token",
            403: "角色无权 / role may not do this", 404: "不存在或不可见 / not found (or not visible)",
            409: "状态不允许或并发修改 / illegal transition or concurrent change",
            413: "请求体超过 1 MiB / body over 1 MiB", 422: "校验失败（field 指明字段）/ validation error naming the field",
            429: "繁忙，见 Retry-After / busy, see Retry-After"}
    return {str(c): resp(text[c], ERROR) for c in codes}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def path_param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or _ID}


def json_body(description: str = "JSON 对象 / a JSON object", required: bool = True) -> dict[str, Any]:
    return {"required": required, "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}}}


# The routes of the shared web layer itself.
PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {"summary": "存活检查 / liveness and readiness (no token)", "security": [],
                "responses": {"200": resp("节点正常 / node is up", {"type": "object"})}},
    },
    "/api/v1/openapi.json": {
        "get": {"summary": "本文档 / this document (no token)", "security": [],
                "responses": {"200": resp("OpenAPI 3.1", {"type": "object"})}},
    },
}


# Underscore names kept for modules written before the split.
_resp, _errors, _query = resp, errors, query

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "n12315 user add / user token"},
        "httpsig": {"type": "apiKey", "in": "header", "name": "Signature",
                    "description": "RFC 9421 HTTP Message Signature, ed25519, keyid = node code"},
    },
    "schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "field"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "field": {"type": ["string", "null"]}}}}},
    },
}


def spec(node: Any = None, describers: Iterable[Describer] = ()) -> dict[str, Any]:
    """The document: the base, then each domain's ``describe`` in order; ``servers`` names the
    node when one is given."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "n12315 节点 API / n12315 node API", "version": "1",
                 "description": "全国12315行政执法体系联网节点 / a node of the federated 12315 network. "
                                "Errors: {\"error\": {\"code\", \"message\", \"field\"}}."},
        "security": _BEARER,
        "paths": copy.deepcopy(PATHS),
        "components": copy.deepcopy(COMPONENTS),
    }
    for describe in describers:
        describe(doc)
    if node is not None:
        doc["servers"] = [{"url": node.config.url, "description": f"{node.code} {node.config.name}"}]
    return doc


_CONVERTER = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def rule_to_path(rule: str) -> str:
    """A Werkzeug rule (``/api/v1/cases/<case_id>``) as an OpenAPI path (``…/{case_id}``)."""
    return _CONVERTER.sub(r"{\1}", rule)
