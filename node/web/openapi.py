"""The node's HTTP API as an OpenAPI 3.1 document (``GET /api/v1/openapi.json``).

Hand-kept on purpose: the description is written for integrators (Chinese first, then
English), not generated from handler signatures. ``tests/node/test_openapi.py`` walks
``app.url_map`` and fails when a route is missing here (or described here but not served), so
**whoever adds a route adds its entry to ``PATHS``** — here, or from the blueprint's own module
with ``register_paths`` (``node/web/stats.py`` does that). Enums come from the data standard
(``node.cases.standard``) so they cannot drift from the validator.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from node.cases import standard

_ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER = [{"bearer": []}]


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "请求体格式错误 / malformed body", 401: "缺少或无效令牌 / no or bad token",
            403: "角色无权 / role may not do this", 404: "不存在或不可见 / not found (or not visible)",
            409: "状态不允许或并发修改 / illegal transition or concurrent change",
            413: "请求体超过 1 MiB / body over 1 MiB", 422: "校验失败（field 指明字段）/ validation error naming the field",
            429: "繁忙，见 Retry-After / busy, see Retry-After"}
    return {str(c): _resp(text[c], _ERROR) for c in codes}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


_CASE_ID = {"name": "case_id", "in": "path", "required": True,
            "description": "案件编号 / case id, e.g. 440305-20260929-000001",
            "schema": {"type": "string", "pattern": standard.CASE_ID_RE.pattern}}

PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {"summary": "存活检查 / liveness and readiness (no token)", "security": [],
                "responses": {"200": _resp("节点正常 / node is up", {"type": "object"})}},
    },
    "/api/v1/cases": {
        "post": {
            "summary": "登记案件 / register a case (roles intake, handler, admin)",
            "description": "CONTRACT §5. `also_report: true` on a complaint registers a linked report "
                           "too (two-track intake, Order 20 Art. 8). Triage may raise `urgency` (R1.4).",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CaseInput"}}}},
            "responses": {"201": _resp("已登记 / registered", {"$ref": "#/components/schemas/Case"}),
                          **_errors(400, 401, 403, 413, 422)},
        },
        "get": {
            "summary": "案件列表 / list the cases this node holds (any staff role)",
            "parameters": [
                _query("status", "状态 / status", {"type": "string", "enum": list(standard.STATUSES)}),
                _query("kind", "类型 / kind", {"type": "string", "enum": list(standard.ALL_KINDS)}),
                _query("urgency", "紧急程度 / urgency",
                       {"type": "string", "enum": [u.value for u in standard.URGENCIES]}),
                _query("q", "全文检索（子串）/ substring search over summary, description, respondent name"),
                _query("overdue", "仅超期 / overdue only", {"type": "string", "enum": ["true", "false"]}),
                _query("handling_node", "承办节点 / handling node code"),
                _query("accepting_node", "登记节点 / accepting node code"),
                _query("department", "承办机构 / department",
                       {"type": "string", "enum": ["consumer_protection", "enforcement", "discipline"]}),
                _query("limit", "每页条数，默认 50，最多 200 / page size (default 50, at most 200)",
                       {"type": "integer", "minimum": 1}),
                _query("cursor", "上一页的 next_cursor / the next_cursor of the previous page"),
            ],
            "responses": {"200": _resp("一页案件 / one page", {"$ref": "#/components/schemas/CaseList"}),
                          **_errors(401, 403, 422)},
        },
    },
    "/api/v1/cases/{case_id}": {
        "get": {"summary": "查看案件 / one case (any staff role; staff reports: discipline only)",
                "parameters": [_CASE_ID],
                "responses": {"200": _resp("案件 / the case", {"$ref": "#/components/schemas/Case"}),
                              **_errors(401, 403, 404)}},
    },
    "/api/v1/cases/{case_id}/actions": {
        "post": {"summary": "办理操作 / apply an action (roles handler, admin; discipline for staff reports)",
                 "parameters": [_CASE_ID],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/Action"}}}},
                 "responses": {"200": _resp("更新后的案件 / the updated case", {"$ref": "#/components/schemas/Case"}),
                               **_errors(400, 401, 403, 404, 409, 413, 422)}},
    },
    "/api/v1/categories": {
        "get": {"summary": "商品服务分类表 / the category table (no token)", "security": [],
                "responses": {"200": _resp("分类 / categories", {"type": "object", "properties": {
                    "version": {"type": ["string", "null"]},
                    "items": {"type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"},
                        "name_en": {"type": "string"}, "parent": {"type": ["string", "null"]}}}}}})}},
    },
    "/api/v1/openapi.json": {
        "get": {"summary": "本文档 / this document (no token)", "security": [],
                "responses": {"200": _resp("OpenAPI 3.1", {"type": "object"})}},
    },
    "/api/v1/leadership": {
        "get": {"summary": "领导看板：未办结的紧急、特别紧急案件 / open urgent and critical cases "
                           "(roles leader, supervisor, admin; R1.4, R3.4)",
                "responses": {"200": _resp("看板 / board", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
                    "counts": {"type": "object"}, "as_of": {"type": "string", "format": "date-time"}}}),
                    **_errors(401, 403)}},
    },
    "/api/v1/status": {
        "get": {"summary": "节点状态、链路、告警 / node, links, backlog, warnings (role admin)",
                "responses": {"200": _resp("状态 / status", {"type": "object"}), **_errors(401, 403)}},
    },
    "/federation/v1/node": {
        "get": {"summary": "本节点身份 / who this node is (public): code, level, name, url, public_key "
                           "(base64 of the raw 32-byte Ed25519 key)", "security": [],
                "responses": {"200": _resp("节点 / the node", {"type": "object", "properties": {
                    k: {"type": "string"} for k in ("code", "level", "name", "url", "public_key")}})}},
    },
    "/federation/v1/join": {
        "post": {"summary": "下级凭邀请加入 / a child joins with a one-time invite token "
                            "(signed with the key its body carries; CONTRACT §3)",
                 "security": [{"httpsig": []}],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"type": "object"}}}},
                 "responses": {"200": _resp("已链接：节点记录与证书链 / linked: the child's signed record "
                                            "and the chain up to the root", {"type": "object"}),
                               **_errors(400, 401, 403, 409, 413, 422)}},
    },
    "/federation/v1/push": {
        "post": {"summary": "节点间推送一批文档 / a linked node pushes a batch (RFC 9421 signed)",
                 "security": [{"httpsig": []}],
                 "responses": {"200": _resp("累计确认 / cumulative acknowledgement", {"type": "object"}),
                               **_errors(400, 401, 403, 413, 429)}},
    },
    "/federation/v1/pull": {
        "post": {"summary": "节点间拉取 / a linked node pulls what waits for it (RFC 9421 signed)",
                 "security": [{"httpsig": []}],
                 "responses": {"200": _resp("一批文档 / a batch", {"type": "object"}),
                               **_errors(400, 401, 403, 429)}},
    },
}


_ID = {"type": "string"}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or _ID}


def _json_body(description: str = "JSON 对象 / a JSON object", required: bool = True) -> dict[str, Any]:
    return {"required": required, "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}}}


_OBJ = {"type": "object"}
_LIST = {"type": "object", "properties": {"items": {"type": "array", "items": _OBJ}}}
_XML = {"description": "CAP 1.2 XML", "content": {"application/cap+xml": {"schema": {"type": "string"}}}}
_DIRECTIVE_ID = _path("directive_id", "指令编号 / directive id")
_WARNING_ID = _path("warning_id", "预警编号 / warning id")

# Emergency dispatch (R3, CONTRACT §6), consumer warnings (R4.4, R6.4), CAP renderings.
PATHS.update({
    "/api/v1/directives": {
        "post": {"summary": "下达应急指令 / issue a directive (roles leader, admin; CONTRACT §6)",
                 "requestBody": _json_body(), "responses": {"201": _resp("已下达 / issued", _OBJ),
                                                            **_errors(400, 401, 403, 413, 422)}},
        "get": {"summary": "指令列表 / directives at this node (any staff role)",
                "parameters": [_query("status", "状态 / status"), _query("role", "issuer | target"),
                               _query("case_id", "关联案件 / related case"),
                               _query("limit", "条数 / page size", {"type": "integer"})],
                "responses": {"200": _resp("列表 / list", _LIST), **_errors(401, 422)}},
    },
    "/api/v1/directives/{directive_id}": {
        "get": {"summary": "指令及下辖进度 / a directive with progress over the subtree",
                "parameters": [_DIRECTIVE_ID],
                "responses": {"200": _resp("指令 / directive", _OBJ), **_errors(401, 404)}},
    },
    "/api/v1/directives/{directive_id}/ack": {
        "post": {"summary": "签收 / acknowledge ({\"note\"})", "parameters": [_DIRECTIVE_ID],
                 "requestBody": _json_body(required=False),
                 "responses": {"200": _resp("已签收 / acknowledged", _OBJ), **_errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/directives/{directive_id}/reports": {
        "post": {"summary": "报告处置进展 / report on action", "parameters": [_DIRECTIVE_ID],
                 "requestBody": _json_body(),
                 "responses": {"201": _resp("已报告 / reported", _OBJ), **_errors(400, 401, 403, 404, 422)}},
        "get": {"summary": "处置报告 / the reports on a directive", "parameters": [_DIRECTIVE_ID],
                "responses": {"200": _resp("报告 / reports", _OBJ), **_errors(401, 404)}},
    },
    "/api/v1/directives/{directive_id}/update": {
        "post": {"summary": "更新指令（签发节点）/ update a directive at its issuer", "parameters": [_DIRECTIVE_ID],
                 "requestBody": _json_body(),
                 "responses": {"200": _resp("已更新 / updated", _OBJ), **_errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/directives/{directive_id}/cancel": {
        "post": {"summary": "撤销指令（签发节点）/ cancel a directive at its issuer", "parameters": [_DIRECTIVE_ID],
                 "requestBody": _json_body(required=False),
                 "responses": {"200": _resp("已撤销 / cancelled", _OBJ), **_errors(400, 401, 403, 404, 409)}},
    },
    "/api/v1/directives/from-case/{case_id}": {
        "post": {"summary": "据重大案件向属地下达指令 / a directive to the bureau where a case happened (R3.4)",
                 "parameters": [_CASE_ID], "requestBody": _json_body(required=False),
                 "responses": {"201": _resp("已下达 / issued", _OBJ), **_errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/plans": {
        "get": {"summary": "应急预案 / emergency plans (R3.3)",
                "responses": {"200": _resp("预案 / plans", _LIST), **_errors(401)}},
    },
    "/api/v1/plans/{plan_id}": {
        "get": {"summary": "一个应急预案 / one emergency plan", "parameters": [_path("plan_id", "预案编号 / plan id")],
                "responses": {"200": _resp("预案 / plan", _OBJ), **_errors(401, 404)}},
    },
    "/api/v1/warnings": {
        "post": {"summary": "发布消费警示 / publish a consumer warning or tip (roles leader, admin; R4.4)",
                 "requestBody": _json_body(),
                 "responses": {"201": _resp("已发布 / published", _OBJ), **_errors(400, 401, 403, 413, 422)}},
        "get": {"summary": "本节点发布的警示（含已撤回）/ warnings of this node, withdrawn included",
                "responses": {"200": _resp("列表 / list", _LIST), **_errors(401)}},
    },
    "/api/v1/warnings/{warning_id}/withdraw": {
        "post": {"summary": "撤回警示 / withdraw a warning ({\"reason\"})", "parameters": [_WARNING_ID],
                 "requestBody": _json_body(),
                 "responses": {"200": _resp("已撤回 / withdrawn", _OBJ), **_errors(400, 401, 403, 404, 409, 422)}},
    },
    "/public/": {
        "get": {"summary": "公众页面 / public HTML page (no token)", "security": [],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}},
    },
    "/public/v1/warnings": {
        "get": {"summary": "消费警示与提示（JSON）/ published warnings and tips (no token; R4.4, R6.4)",
                "security": [], "parameters": [_query("kind", "warning | tip | typical_case | hotspot | notice")],
                "responses": {"200": _resp("列表 / list", _LIST)}},
    },
    "/public/v1/warnings.atom": {
        "get": {"summary": "消费警示 Atom 订阅 / the same as an Atom 1.0 feed (no token)", "security": [],
                "responses": {"200": {"description": "Atom 1.0",
                                      "content": {"application/atom+xml": {"schema": {"type": "string"}}}}}},
    },
    "/public/v1/warnings.html": {
        "get": {"summary": "消费警示网页 / the same as an HTML page (no token)", "security": [],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}},
    },
    "/public/v1/warnings/{warning_id}": {
        "get": {"summary": "一条消费警示 / one warning (no token)", "security": [], "parameters": [_WARNING_ID],
                "responses": {"200": _resp("警示 / warning", _OBJ), **_errors(404)}},
    },
    "/cap/v1/warnings/{warning_id}.xml": {
        "get": {"summary": "警示的 CAP 1.2 格式 / a warning as CAP 1.2 (public scope; no token)",
                "security": [], "parameters": [_WARNING_ID], "responses": {"200": _XML, **_errors(404)}},
    },
    "/cap/v1/directives/{directive_id}.xml": {
        "get": {"summary": "指令的 CAP 1.2 格式 / a directive's latest message as CAP 1.2 (staff)",
                "parameters": [_DIRECTIVE_ID], "responses": {"200": _XML, **_errors(401, 404)}},
    },
    "/cap/v1/directives/{directive_id}/v{version}.xml": {
        "get": {"summary": "指令某一版本的 CAP 1.2 / one version of a directive as CAP 1.2 (staff)",
                "parameters": [_DIRECTIVE_ID, _path("version", "版本 / version", {"type": "integer"})],
                "responses": {"200": _XML, **_errors(401, 404)}},
    },
    "/cap/v1/directives/{directive_id}/acks/{code}.xml": {
        "get": {"summary": "某节点签收的 CAP Ack / a node's acknowledgement as CAP Ack (staff)",
                "parameters": [_DIRECTIVE_ID, _path("code", "节点代码 / node code")],
                "responses": {"200": _XML, **_errors(401, 404)}},
    },
})


def register_paths(paths: dict[str, dict[str, Any]]) -> None:
    """Let a blueprint module describe its own routes (``node/web/stats.py`` does)."""
    for path, ops in paths.items():
        PATHS.setdefault(path, {}).update(ops)


# Public names for modules that describe their own routes.
resp, errors, query = _resp, _errors, _query


def _input_schema() -> dict[str, Any]:
    def enum(name: str) -> dict[str, Any]:
        return {"type": "string", "enum": list(standard.SPECS_BY_NAME[name].enum_values)}
    money = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}
    return {
        "type": "object", "additionalProperties": False,
        "required": ["kind", "channel", "summary", "category"],
        "properties": {
            "kind": enum("kind"), "report_target": {**enum("report_target"), "type": ["string", "null"]},
            "channel": enum("channel"), "received_at": {"type": "string", "format": "date-time"},
            "urgency": enum("urgency"),
            "complainant": {"type": ["object", "null"], "additionalProperties": False, "properties": {
                "name": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]},
                "address": {"type": ["string", "null"]}, "anonymous": {"type": "boolean"}}},
            "respondent": {"type": ["object", "null"], "additionalProperties": False, "properties": {
                "name": {"type": ["string", "null"]}, "uscc": {"type": ["string", "null"]},
                "region_code": {"type": ["string", "null"]}, "address": {"type": ["string", "null"]}}},
            "category": {"type": "string"}, "summary": {"type": "string", "maxLength": 200},
            "description": {"type": ["string", "null"], "maxLength": 20000},
            "amount": money, "amount_recovered": money, "extensions": {"type": "object"},
            "also_report": {"type": "boolean", "description": "双轨受理 / two-track intake (complaints)"},
        },
    }


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
        "Event": {"type": "object", "properties": {k: {"type": ["string", "null"]} for k in (
            "at", "node", "actor", "action", "from_status", "to_status", "note")}},
        "Case": {"type": "object", "properties": {
            "id": {"type": "string"}, "kind": {"type": "string"}, "report_target": {"type": ["string", "null"]},
            "channel": {"type": "string"}, "received_at": {"type": "string", "format": "date-time"},
            "urgency": {"type": "string"}, "complainant": {"type": ["object", "null"]},
            "respondent": {"type": ["object", "null"]}, "category": {"type": "string"},
            "summary": {"type": "string"}, "description": {"type": ["string", "null"]},
            "amount": {"type": ["string", "null"]}, "amount_recovered": {"type": ["string", "null"]},
            "extensions": {"type": "object"}, "status": {"type": "string", "enum": list(standard.STATUSES)},
            "accepting_node": {"type": "string"}, "handling_node": {"type": "string"},
            "rule_set": {"type": "string"}, "deadlines": {"type": "object"},
            "outcome": {"type": ["object", "null"]},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "linked_case": {"type": ["string", "null"]}, "department": {"type": "string"},
            "overdue": {"type": "boolean"}, "version": {"type": "integer"}}},
        "CaseList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
            "next_cursor": {"type": ["string", "null"]}}},
        "Action": {"type": "object", "required": ["action"], "properties": {
            "action": {"type": "string", "enum": [
                "accept", "decline", "route", "escalate", "return", "refer", "mediate", "conclude",
                "verify", "file", "not_file", "answer", "feedback", "notify", "pause", "resume",
                "extend", "close"]},
            "mode": {"type": "string", "enum": ["mediation", "investigation"]},
            "reason": {"type": "string", "description": "decline: a decline-ground code; conclude "
                                                        "not_mediated: a mediation-end-ground code; else text"},
            "body": {"type": "string"}, "to": {"type": "string"},
            "outcome": {"type": "string", "enum": list(standard.OUTCOMES)},
            "amount_recovered": {"type": "string"},
            "satisfaction": {"type": "string", "enum": list(standard.SATISFACTION)},
            "text": {"type": "string"}, "note": {"type": "string"},
            "clock": {"type": "string"}, "days": {"type": "integer"}, "approved_by": {"type": "string"}}},
    },
}
COMPONENTS["schemas"]["CaseInput"] = _input_schema()


def spec(node: Any = None) -> dict[str, Any]:
    """The document; ``servers`` names the node when one is given."""
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "n12315 节点 API / n12315 node API", "version": "1",
                 "description": "全国12315行政执法体系联网节点 / a node of the federated 12315 network. "
                                "Errors: {\"error\": {\"code\", \"message\", \"field\"}}."},
        "security": _BEARER,
        "paths": copy.deepcopy(PATHS),
        "components": copy.deepcopy(COMPONENTS),
    }
    if node is not None:
        doc["servers"] = [{"url": node.config.url, "description": f"{node.code} {node.config.name}"}]
    return doc


_CONVERTER = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def rule_to_path(rule: str) -> str:
    """A Werkzeug rule (``/api/v1/cases/<case_id>``) as an OpenAPI path (``…/{case_id}``)."""
    return _CONVERTER.sub(r"{\1}", rule)
