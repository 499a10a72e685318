"""Emergency dispatch (R3, CONTRACT §6), plans, consumer warnings (R4.4, R6.4) and the CAP
renderings in the OpenAPI document."""
from __future__ import annotations

from typing import Any

from node.cases import CASE_ID_RE
from node.web import openapi as oa

OBJ = {"type": "object"}
LIST = {"type": "object", "properties": {"items": {"type": "array", "items": OBJ}}}
XML = {"description": "CAP 1.2 XML", "content": {"application/cap+xml": {"schema": {"type": "string"}}}}
DIRECTIVE_ID = oa.path_param("directive_id", "指令编号 / directive id")
WARNING_ID = oa.path_param("warning_id", "预警编号 / warning id")
# both public feeds read ``limit`` through node/web/paging.py (a bad one is a 400 naming it)
FEED_LIMIT = oa.query("limit", "条数，默认 50，最多 200 / how many (default 50, at most 200)", {"type": "integer"})
CASE_ID = oa.path_param("case_id", "案件编号 / case id", {"type": "string", "pattern": CASE_ID_RE.pattern})


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/directives": {
        "post": {"summary": "下达应急指令 / issue a directive (roles leader, admin; CONTRACT §6)",
                 "requestBody": oa.json_body(), "responses": {"201": oa.resp("已下达 / issued", OBJ),
                                                            **oa.errors(400, 401, 403, 413, 422)}},
        "get": {"summary": "指令列表 / directives at this node (any staff role)",
                "parameters": [oa.query("status", "状态 / status"), oa.query("role", "issuer | target"),
                               oa.query("case_id", "关联案件 / related case"),
                               oa.query("limit", "条数 / page size", {"type": "integer"})],
                # 400: a bad limit (node/web/paging.py); 422: a bad filter value
                "responses": {"200": oa.resp("列表 / list", LIST), **oa.errors(400, 401, 422)}},
    },
    "/api/v1/directives/{directive_id}": {
        "get": {"summary": "指令及下辖进度 / a directive with progress over the subtree",
                "parameters": [DIRECTIVE_ID],
                "responses": {"200": oa.resp("指令 / directive", OBJ), **oa.errors(401, 404)}},
    },
    "/api/v1/directives/{directive_id}/ack": {
        "post": {"summary": "签收 / acknowledge ({\"note\"})", "parameters": [DIRECTIVE_ID],
                 "requestBody": oa.json_body(required=False),
                 "responses": {"200": oa.resp("已签收 / acknowledged", OBJ), **oa.errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/directives/{directive_id}/reports": {
        "post": {"summary": "报告处置进展 / report on action", "parameters": [DIRECTIVE_ID],
                 "requestBody": oa.json_body(),
                 "responses": {"201": oa.resp("已报告 / reported", OBJ), **oa.errors(400, 401, 403, 404, 422)}},
        "get": {"summary": "处置报告 / the reports on a directive", "parameters": [DIRECTIVE_ID],
                "responses": {"200": oa.resp("报告 / reports", OBJ), **oa.errors(401, 404)}},
    },
    "/api/v1/directives/{directive_id}/update": {
        "post": {"summary": "更新指令（签发节点）/ update a directive at its issuer", "parameters": [DIRECTIVE_ID],
                 "requestBody": oa.json_body(),
                 "responses": {"200": oa.resp("已更新 / updated", OBJ), **oa.errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/directives/{directive_id}/cancel": {
        "post": {"summary": "撤销指令（签发节点）/ cancel a directive at its issuer", "parameters": [DIRECTIVE_ID],
                 "requestBody": oa.json_body(required=False),
                 "responses": {"200": oa.resp("已撤销 / cancelled", OBJ),
                               **oa.errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/directives/from-case/{case_id}": {
        "post": {"summary": "据重大案件向属地下达指令 / a directive to the bureau where a case happened (R3.4)",
                 "parameters": [CASE_ID], "requestBody": oa.json_body(required=False),
                 "responses": {"201": oa.resp("已下达 / issued", OBJ), **oa.errors(400, 401, 403, 404, 409, 422)}},
    },
    "/api/v1/plans": {
        "get": {"summary": "应急预案 / emergency plans (R3.3)",
                "responses": {"200": oa.resp("预案 / plans", LIST), **oa.errors(401)}},
    },
    "/api/v1/plans/{plan_id}": {
        "get": {"summary": "一个应急预案 / one emergency plan", "parameters": [oa.path_param("plan_id", "预案编号 / plan id")],
                "responses": {"200": oa.resp("预案 / plan", OBJ), **oa.errors(401, 404)}},
    },
    "/api/v1/warnings": {
        "post": {"summary": "发布消费警示 / publish a consumer warning or tip (roles leader, admin; R4.4)",
                 "requestBody": oa.json_body(),
                 "responses": {"201": oa.resp("已发布 / published", OBJ), **oa.errors(400, 401, 403, 413, 422)}},
        "get": {"summary": "本节点发布的警示（含已撤回）/ warnings of this node, withdrawn included",
                "responses": {"200": oa.resp("列表 / list", LIST), **oa.errors(401)}},
    },
    "/api/v1/warnings/{warning_id}/withdraw": {
        "post": {"summary": "撤回警示 / withdraw a warning ({\"reason\"})", "parameters": [WARNING_ID],
                 "requestBody": oa.json_body(),
                 "responses": {"200": oa.resp("已撤回 / withdrawn", OBJ), **oa.errors(400, 401, 403, 404, 409, 422)}},
    },
    "/public/v1/warnings": {
        "get": {"summary": "消费警示与提示（JSON）/ published warnings and tips (no token; R4.4, R6.4)",
                "security": [], "parameters": [oa.query("kind", "warning | tip | typical_case | hotspot | notice"),
                                               FEED_LIMIT],
                "responses": {"200": oa.resp("列表 / list", LIST), **oa.errors(400, 422)}},
    },
    "/public/v1/warnings.atom": {
        "get": {"summary": "消费警示 Atom 订阅 / the same as an Atom 1.0 feed (no token)", "security": [],
                "parameters": [oa.query("kind", "warning | tip | typical_case | hotspot | notice"), FEED_LIMIT],
                "responses": {"200": {"description": "Atom 1.0",
                                      "content": {"application/atom+xml": {"schema": {"type": "string"}}}},
                              **oa.errors(400, 422)}},
    },
    "/public/v1/warnings.html": {
        "get": {"summary": "已迁移：重定向到门户的 /public/warnings / moved: redirects to the portal's /public/warnings",
                "security": [], "responses": {"301": {"description": "重定向 / redirect"}}},
    },
    "/public/v1/warnings/{warning_id}": {
        "get": {"summary": "一条消费警示 / one warning (no token)", "security": [], "parameters": [WARNING_ID],
                "responses": {"200": oa.resp("警示 / warning", OBJ), **oa.errors(404)}},
    },
    "/cap/v1/warnings/{warning_id}.xml": {
        "get": {"summary": "警示的 CAP 1.2 格式 / a warning as CAP 1.2 (public scope; no token)",
                "security": [], "parameters": [WARNING_ID], "responses": {"200": XML, **oa.errors(404)}},
    },
    "/cap/v1/directives/{directive_id}.xml": {
        "get": {"summary": "指令的 CAP 1.2 格式 / a directive's latest message as CAP 1.2 (staff)",
                "parameters": [DIRECTIVE_ID], "responses": {"200": XML, **oa.errors(401, 404)}},
    },
    "/cap/v1/directives/{directive_id}/v{version}.xml": {
        "get": {"summary": "指令某一版本的 CAP 1.2 / one version of a directive as CAP 1.2 (staff)",
                "parameters": [DIRECTIVE_ID, oa.path_param("version", "版本 / version", {"type": "integer"})],
                "responses": {"200": XML, **oa.errors(401, 404)}},
    },
    "/cap/v1/directives/{directive_id}/acks/{code}.xml": {
        "get": {"summary": "某节点签收的 CAP Ack / a node's acknowledgement as CAP Ack (staff)",
                "parameters": [DIRECTIVE_ID, oa.path_param("code", "节点代码 / node code")],
                "responses": {"200": XML, **oa.errors(401, 404)}},
    },
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
