"""The publicity routes in the OpenAPI document (issue 12 item 6; CONTRACT §10). No token."""
from __future__ import annotations

from typing import Any

from node.web import openapi as oa

FILTERS = [
    oa.query("q", "被投诉人名称或投诉问题中的文字（至多 100 字）/ text in the business name or the problem "
                  "(at most 100 characters)"),
    oa.query("uscc", "统一社会信用代码，精确匹配，不区分大小写 / unified social credit code, exact, case-insensitive"),
]
PAGING = [
    oa.query("page", "页码，从 1 起 / page, from 1", {"type": "integer", "minimum": 1, "maximum": 10000}),
    oa.query("per_page", "每页条数（默认 20）/ entries per page (default 20)",
             {"type": "integer", "minimum": 1, "maximum": 100}),
]
ENTRY: dict[str, Any] = {"type": "object", "properties": {
    "case_id": {"type": "string"},
    "complainant_type": {"type": "string", "enum": ["individual", "organisation"]},
    "business_name": {"type": "string", "description": "个体工商户已脱敏 / masked for an individual business"},
    "business_uscc": {"type": ["string", "null"], "description": "个体工商户中间位已遮盖 / middle masked for an "
                                                                 "individual business"},
    "goods_or_service": {"type": "string"}, "category": {"type": "string"},
    "submitted_on": {"type": "string", "format": "date"}, "dispute_on": {"type": ["string", "null"], "format": "date"},
    "problem": {"type": "string"}, "demand": {"type": "string"},
    "handled_on": {"type": "string", "format": "date"}, "result": {"type": "string"},
    "result_code": {"type": "string"}, "region_code": {"type": ["string", "null"]},
    "handling_node": {"type": "string"}, "published_at": {"type": "string", "format": "date-time"}}}
LIST = {"type": "object", "properties": {"items": {"type": "array", "items": ENTRY}, "total": {"type": "integer"},
                                         "page": {"type": "integer"}, "per_page": {"type": "integer"}}}
BAD = oa.resp("参数错误（field 指明参数）/ a bad parameter (field names it)", oa.ERROR)


def _text(mime: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {mime: {"schema": {"type": "string"}}}}


PATHS: dict[str, dict[str, Any]] = {
    "/public/v1/disclosures": {
        "get": {"summary": "投诉信息公示（JSON）/ published concluded complaints, never the complainant's identity "
                           "(no token)", "security": [], "parameters": FILTERS + PAGING,
                "responses": {"200": oa.resp("一页 / one page", LIST), "400": BAD}},
    },
    "/public/v1/disclosures/{case_id}": {
        "get": {"summary": "一条公示 / one published complaint (no token)", "security": [],
                "parameters": [oa.path_param("case_id", "案件编号 / case number")],
                "responses": {"200": oa.resp("公示 / entry", ENTRY), **oa.errors(404)}},
    },
    "/public/v1/disclosures.csv": {
        "get": {"summary": "投诉信息公示导出（CSV，UTF-8 带 BOM，至多 10000 行）/ the same as CSV (UTF-8 with BOM, at "
                           "most 10,000 rows; no token)", "security": [], "parameters": FILTERS,
                "responses": {"200": _text("text/csv", "CSV"), "400": BAD}},
    },
    "/public/v1/disclosures.atom": {
        "get": {"summary": "投诉信息公示 Atom 订阅 / the newest publications as Atom 1.0 (no token)", "security": [],
                "parameters": FILTERS,
                "responses": {"200": _text("application/atom+xml", "Atom 1.0"), "400": BAD}},
    },
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
