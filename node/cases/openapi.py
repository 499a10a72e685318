"""The case API in the OpenAPI document (CONTRACT §5): paths and schemas, with every enum
taken from the data standard so the description cannot drift from the validator."""
from __future__ import annotations

from typing import Any

from node.cases import ALL_KINDS, CASE_ID_RE, OUTCOMES, SATISFACTION, SPECS_BY_NAME, STATUSES, URGENCIES
from node.web import openapi as oa

CASE_ID = {"name": "case_id", "in": "path", "required": True,
            "description": "案件编号 / case id, e.g. 440305-20260929-000001",
            "schema": {"type": "string", "pattern": CASE_ID_RE.pattern}}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/cases": {
        "post": {
            "summary": "登记案件 / register a case (roles intake, handler, admin)",
            "description": "CONTRACT §5. `also_report: true` on a complaint registers a linked report "
                           "too (two-track intake, Order 20 Art. 8). Triage may raise `urgency` (R1.4).",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CaseInput"}}}},
            "responses": {"201": oa.resp("已登记 / registered", {"$ref": "#/components/schemas/Case"}),
                          **oa.errors(400, 401, 403, 413, 422)},
        },
        "get": {
            "summary": "案件列表 / list the cases this node holds (any staff role)",
            "parameters": [
                oa.query("status", "状态 / status", {"type": "string", "enum": list(STATUSES)}),
                oa.query("kind", "类型 / kind", {"type": "string", "enum": list(ALL_KINDS)}),
                oa.query("urgency", "紧急程度 / urgency",
                       {"type": "string", "enum": [u.value for u in URGENCIES]}),
                oa.query("q", "全文检索（子串）/ substring search over summary, description, respondent name"),
                oa.query("overdue", "仅超期 / overdue only", {"type": "string", "enum": ["true", "false"]}),
                oa.query("handling_node", "承办节点 / handling node code"),
                oa.query("accepting_node", "登记节点 / accepting node code"),
                oa.query("department", "承办机构 / department",
                       {"type": "string", "enum": ["consumer_protection", "enforcement", "discipline"]}),
                oa.query("limit", "每页条数，默认 50，最多 200 / page size (default 50, at most 200)",
                       {"type": "integer", "minimum": 1}),
                oa.query("cursor", "上一页的 next_cursor / the next_cursor of the previous page"),
            ],
            # 400: a bad limit or cursor (node/web/paging.py); 422: a bad filter value
            "responses": {"200": oa.resp("一页案件 / one page", {"$ref": "#/components/schemas/CaseList"}),
                          **oa.errors(400, 401, 403, 422)},
        },
    },
    "/api/v1/cases/{case_id}": {
        "get": {"summary": "查看案件 / one case (any staff role; staff reports: discipline only)",
                "parameters": [CASE_ID],
                "responses": {"200": oa.resp("案件 / the case", {"$ref": "#/components/schemas/Case"}),
                              **oa.errors(401, 403, 404)}},
    },
    "/api/v1/cases/{case_id}/personal": {
        "post": {"summary": "填写理由查看完整个人信息（记入审计日志）/ read the personal data in full with a reason "
                            "(any staff role that may read the case; recorded as pii.read; issue 13 items 3-4)",
                 "parameters": [CASE_ID],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["reason"], "properties": {
                         "reason": {"type": "string", "minLength": 4, "maxLength": 500}}}}}},
                 "responses": {"200": oa.resp("案件（完整）/ the case in full", {"$ref": "#/components/schemas/Case"}),
                               **oa.errors(400, 401, 403, 404, 409, 413)}},
    },
    "/api/v1/cases/{case_id}/actions": {
        "post": {"summary": "办理操作 / apply an action (roles handler, admin; discipline for staff reports)",
                 "parameters": [CASE_ID],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/Action"}}}},
                 "responses": {"200": oa.resp("更新后的案件 / the updated case", {"$ref": "#/components/schemas/Case"}),
                               **oa.errors(400, 401, 403, 404, 409, 413, 422)}},
    },
    "/api/v1/categories": {
        "get": {"summary": "商品服务分类表 / the category table (no token)", "security": [],
                "responses": {"200": oa.resp("分类 / categories", {"type": "object", "properties": {
                    "version": {"type": ["string", "null"]},
                    "items": {"type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"},
                        "name_en": {"type": "string"}, "parent": {"type": ["string", "null"]}}}}}})}},
    },
    "/api/v1/leadership": {
        "get": {"summary": "领导看板：未办结的紧急、特别紧急案件 / open urgent and critical cases "
                           "(roles leader, supervisor, admin; R1.4, R3.4)",
                "responses": {"200": oa.resp("看板 / board", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
                    "counts": {"type": "object"}, "as_of": {"type": "string", "format": "date-time"}}}),
                    **oa.errors(401, 403)}},
    },
}


def input_schema() -> dict[str, Any]:
    def enum(name: str) -> dict[str, Any]:
        return {"type": "string", "enum": list(SPECS_BY_NAME[name].enum_values)}
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
                "address": {"type": ["string", "null"]}, "anonymous": {"type": "boolean"},
                "email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
                "type": {**enum("complainant.type"), "type": ["string", "null"]}}},
            "respondent": {"type": ["object", "null"], "additionalProperties": False, "properties": {
                "name": {"type": ["string", "null"]}, "uscc": {"type": ["string", "null"]},
                "region_code": {"type": ["string", "null"]}, "address": {"type": ["string", "null"]}}},
            "category": {"type": "string"}, "summary": {"type": "string", "maxLength": 200},
            "description": {"type": ["string", "null"], "maxLength": 20000},
            "demand": {"type": ["string", "null"], "maxLength": 2000},
            "occurred_on": {"type": ["string", "null"], "format": "date"},
            "amount": money, "amount_recovered": money, "extensions": {"type": "object"},
            "also_report": {"type": "boolean", "description": "双轨受理 / two-track intake (complaints)"},
        },
    }


SCHEMAS: dict[str, Any] = {
    "Event": {"type": "object", "properties": {k: {"type": ["string", "null"]} for k in (
        "at", "node", "actor", "action", "from_status", "to_status", "note", "superseded")}},
    "Case": {"type": "object", "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"}, "report_target": {"type": ["string", "null"]},
        "channel": {"type": "string"}, "received_at": {"type": "string", "format": "date-time"},
        "urgency": {"type": "string"}, "complainant": {"type": ["object", "null"]},
        "respondent": {"type": ["object", "null"]}, "category": {"type": "string"},
        "summary": {"type": "string"}, "description": {"type": ["string", "null"]},
        "demand": {"type": ["string", "null"]}, "occurred_on": {"type": ["string", "null"], "format": "date"},
        "amount": {"type": ["string", "null"]}, "amount_recovered": {"type": ["string", "null"]},
        "extensions": {"type": "object"}, "status": {"type": "string", "enum": list(STATUSES)},
        "accepting_node": {"type": "string"}, "handling_node": {"type": "string"},
        "rule_set": {"type": "string"}, "deadlines": {"type": "object"},
        "outcome": {"type": ["object", "null"]},
        "history": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        # present only at a copy that received a history contradicting the one it held
        "superseded_history": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        "linked_case": {"type": ["string", "null"]}, "department": {"type": "string"},
        "overdue": {"type": "boolean"}, "version": {"type": "integer"}}},
    "CaseList": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
        "next_cursor": {"type": ["string", "null"]}}},
    "Action": {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": [
            "accept", "decline", "route", "escalate", "return", "refer", "mediate", "conclude",
            "verify", "file", "not_file", "answer", "feedback", "notify", "pause", "resume",
            "extend", "close", "assign"]},
        "department": {"type": "string", "description": "assign: the lead department (交办主办机构)"},
        "copy_departments": {"type": "array", "items": {"type": "string"},
                             "description": "assign: departments copied (协办机构)"},
        "mode": {"type": "string", "enum": ["mediation", "investigation"]},
        "reason": {"type": "string", "description": "decline: a decline-ground code; conclude "
                                                    "not_mediated: a mediation-end-ground code; else text"},
        "body": {"type": "string"}, "to": {"type": "string"},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "amount_recovered": {"type": "string"},
        "satisfaction": {"type": "string", "enum": list(SATISFACTION)},
        "text": {"type": "string"}, "note": {"type": "string"},
        "clock": {"type": "string"}, "days": {"type": "integer"}, "approved_by": {"type": "string"}}},
}
SCHEMAS["CaseInput"] = input_schema()


def describe(doc: dict[str, Any]) -> None:
    """Add the case paths and schemas to the document being built."""
    doc["paths"].update(PATHS)
    doc["components"]["schemas"].update(SCHEMAS)
