"""The Open311 GeoReport v2 routes in the OpenAPI document (issue 12 item 5; docs/open311.md)."""
from __future__ import annotations

from typing import Any

from node.web import openapi as oa

FMT = oa.path_param("fmt", "json 或 xml（XML 为标准要求的格式）/ json or xml (XML is the standard's required format)",
                    {"type": "string", "enum": ["json", "xml"]})
JURISDICTION = oa.query("jurisdiction_id", "本节点代码，可省略；其他值 404 / this node's code, may be omitted; "
                                           "any other value → 404")
NO_TOKEN: list[dict[str, list[str]]] = []


def _content(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema}, "text/xml": {"schema": {"type": "string"}}}}


ERRORS = {"type": "array", "items": {"type": "object", "required": ["code", "description"],
                                     "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}
SERVICE_REQUEST = {"type": "object", "properties": {k: {"type": ["string", "null"]} for k in (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url")}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "缺少或无效字段（description 指明字段）/ a missing or invalid field, named",
            403: "api_key 无效或已吊销 / bad or revoked api_key",
            404: "未知服务、请求或辖区 / unknown service, request or jurisdiction"}
    return {str(c): _content(text[c], ERRORS) for c in codes}


PATHS: dict[str, dict[str, Any]] = {
    "/open311/v2/discovery.{fmt}": {"get": {
        "summary": "Open311 服务发现 / GeoReport v2 service discovery (no token)", "security": NO_TOKEN,
        "parameters": [FMT], "responses": {"200": _content("发现文档 / discovery document", {"type": "object"}),
                                           **_errors(404)}}},
    "/open311/v2/services.{fmt}": {"get": {
        "summary": "服务列表（本节点的分类表）/ service list: the node's category table (no token)", "security": NO_TOKEN,
        "parameters": [FMT, JURISDICTION],
        "responses": {"200": _content("服务 / services", {"type": "array", "items": {"type": "object"}}),
                      **_errors(404)}}},
    "/open311/v2/services/{code}.{fmt}": {"get": {
        "summary": "服务定义（属性）/ service definition: its attributes (no token)", "security": NO_TOKEN,
        "parameters": [oa.path_param("code", "分类代码 / category code"), FMT, JURISDICTION],
        "responses": {"200": _content("服务定义 / service definition", {"type": "object"}), **_errors(404)}}},
    "/open311/v2/requests.{fmt}": {
        "get": {
            "summary": "经 Open311 提交的服务请求（无个人信息）/ service requests that came in through Open311, "
                       "without personal data (no token)", "security": NO_TOKEN,
            "parameters": [FMT, JURISDICTION,
                           oa.query("service_request_id", "编号，逗号分隔；优先于其他条件 / ids, comma list; overrides "
                                                          "the other filters"),
                           oa.query("service_code", "服务代码，逗号分隔 / service codes, comma list"),
                           oa.query("start_date", "W3C 日期时间；默认近 90 天 / W3C date-time; default the last 90 days"),
                           oa.query("end_date", "W3C 日期时间，与 start_date 相隔至多 90 天 / at most 90 days after "
                                                "start_date"),
                           oa.query("status", "open 或 closed，逗号分隔 / open or closed, comma list")],
            "responses": {"200": _content("至多 1000 条，最新在前 / at most 1000, newest first",
                                          {"type": "array", "items": SERVICE_REQUEST}), **_errors(400, 404)}},
        "post": {
            "summary": "提交服务请求：登记为案件（channel open311）/ post a service request: registered as a case "
                       "(channel open311); api_key from `n12315 open311 key add`", "security": NO_TOKEN,
            "parameters": [FMT, JURISDICTION],
            "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["api_key", "service_code", "description"],
                "properties": {k: {"type": "string"} for k in (
                    "api_key", "jurisdiction_id", "service_code", "description", "first_name", "last_name", "phone",
                    "email", "address_string", "lat", "long", "media_url", "attribute[kind]",
                    "attribute[respondent_name]", "attribute[respondent_uscc]", "attribute[respondent_region_code]",
                    "attribute[respondent_address]", "attribute[amount]", "attribute[demand]")}}}}},
            "responses": {"201": _content("已登记 / registered", {"type": "array", "items": {
                "type": "object", "properties": {"service_request_id": {"type": "string"},
                                                 "service_notice": {"type": "string"},
                                                 "account_id": {"type": "null"}}}}),
                          **_errors(400, 403, 404)}},
    },
    "/open311/v2/requests/{request_id}.{fmt}": {"get": {
        "summary": "一个服务请求 / one service request (no token)", "security": NO_TOKEN,
        "parameters": [oa.path_param("request_id", "案件编号 / case number"), FMT, JURISDICTION],
        "responses": {"200": _content("一条 / a list of one", {"type": "array", "items": SERVICE_REQUEST}),
                      **_errors(404)}}},
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
