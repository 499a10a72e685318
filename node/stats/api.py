"""Statistics endpoints (CONTRACT §7; R4.1-R4.5, R7.6, R8.2) — thin: authenticate, call
the functions ``node.stats`` exports, answer. Reads take roles analyst, leader, admin;
managing direct-report points and pushing a rollup take admin.

- ``GET /api/v1/stats?from&to&group_by&basis`` — the subtree's figures with coverage.
- ``GET /api/v1/stats/units?from&to`` — unit performance and ranking (R7.6, R8.2).
- ``GET /api/v1/stats/hotspots?date&top`` — week-over-week surges, most-complained firms.
- ``GET /api/v1/stats/direct?from&to&group_by&node`` — HQ: direct-report figures, kept apart.
- ``GET|POST /api/v1/stats/direct-report``, ``DELETE /api/v1/stats/direct-report/<code>`` — HQ.
- ``GET /api/v1/stats/status``, ``GET /api/v1/stats/rejections``, ``POST /api/v1/stats/push``.

The routes are described in the OpenAPI document by ``describe`` below.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

import node.stats as stats
from node.errors import invalid
from node.web.auth import current_node, current_user
from node.web.body import json_body

bp = Blueprint("stats", __name__, url_prefix="/api/v1/stats")


def _args() -> dict[str, str]:
    return request.args.to_dict(flat=True)


@bp.get("")
def summary():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.query(current_node(), _args()))


@bp.get("/units")
def units():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.units(current_node(), _args()))


@bp.get("/hotspots")
def hotspots():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.hotspots(current_node(), _args()))


@bp.get("/direct")
def direct():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.query_direct(current_node(), _args()))


@bp.get("/direct-report")
def direct_points():
    current_user(*stats.READ_ROLES)
    return jsonify({"items": list(stats.direct_points(current_node()).values())})


@bp.post("/direct-report")
def designate():
    current_user(*stats.ADMIN_ROLES)
    body = json_body()
    unknown = sorted(set(body) - {"code"})
    if unknown:
        raise invalid(unknown[0], f"未知字段 {unknown[0]} / unknown field {unknown[0]}", code="unknown_field")
    code = body.get("code")
    if not isinstance(code, str):
        raise invalid("code", "code 为必填项（节点代码）/ code (a node code) is required", code="required")
    resp = jsonify(stats.designate(current_node(), code, True))
    resp.status_code = 201
    return resp


@bp.delete("/direct-report/<code>")
def withdraw(code: str):
    current_user(*stats.ADMIN_ROLES)
    return jsonify(stats.designate(current_node(), code, False))


@bp.get("/status")
def status():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.status(current_node()))


@bp.get("/rejections")
def rejections():
    current_user(*stats.READ_ROLES)
    return jsonify(stats.rejections(_args()))


@bp.post("/push")
def push():
    current_user(*stats.ADMIN_ROLES)
    return jsonify(stats.rollup(current_node()))


def _openapi_paths() -> dict:
    from node.web.openapi import errors as _errors
    from node.web.openapi import query as _query
    from node.web.openapi import resp as _resp
    date = {"type": "string", "format": "date"}
    stats_params = [
        _query("from", "起始日期（含）/ first receipt day, Asia/Shanghai (default: 29 days before to)", date),
        _query("to", "截止日期（含）/ last receipt day (default: today)", date),
        _query("group_by", "分组字段，逗号分隔 / comma-separated: " + ",".join(stats.GROUP_FIELDS)),
        _query("basis", "accepted（按受理节点，默认）或 handled（按办理节点）/ count cases where taken in "
                        "(default) or where handled", {"type": "string", "enum": list(stats.BASES)}),
    ]
    obj = {"type": "object"}
    return {
        "/api/v1/stats": {"get": {
            "summary": "统计 / the subtree's statistics (roles analyst, leader, admin)",
            "description": "CONTRACT §7. A case counts once, in the subtree of its accepting node. "
                           "`rows` hold the group_by values and the same measures as `totals`; "
                           "`coverage` says which nodes of the subtree have reported.",
            "parameters": stats_params,
            "responses": {"200": _resp("统计结果 / figures", obj), **_errors(401, 403, 422)}}},
        "/api/v1/stats/units": {"get": {
            "summary": "下级单位绩效与排名 / performance of each direct subordinate unit, ranked (R7.6, R8.2)",
            "parameters": stats_params[:2],
            "responses": {"200": _resp("各单位指标 / per unit", obj), **_errors(401, 403, 422)}}},
        "/api/v1/stats/hotspots": {"get": {
            "summary": "热点与预警线索 / week-over-week surges per category, region, firm; most-complained firms",
            "parameters": [_query("date", "本周最后一天（默认今天）/ last day of the week (default today)", date),
                           _query("top", "列出的企业数 / how many firms", {"type": "integer"})],
            "responses": {"200": _resp("热点 / hot spots", obj), **_errors(401, 403, 422)}}},
        "/api/v1/stats/direct": {"get": {
            "summary": "数据直报（总局）/ figures sent straight to HQ by direct-report points, kept apart",
            "parameters": [*stats_params, _query("node", "直报点代码 / one point's code")],
            "responses": {"200": _resp("直报数据 / direct-report figures", obj), **_errors(401, 403, 409, 422)}}},
        "/api/v1/stats/direct-report": {
            "get": {"summary": "数据直报点列表 / HQ's direct-report points",
                    "responses": {"200": _resp("直报点 / points", obj), **_errors(401, 403)}},
            "post": {"summary": "指定数据直报点（总局，admin）/ designate a direct-report point (HQ, admin)",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["code"], "additionalProperties": False,
                         "properties": {"code": {"type": "string"}}}}}},
                     "responses": {"201": _resp("已指定 / designated", obj), **_errors(400, 401, 403, 409, 422)}}},
        "/api/v1/stats/direct-report/{code}": {"delete": {
            "summary": "撤销数据直报点（总局，admin）/ withdraw a direct-report point (HQ, admin)",
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "节点代码 / node code"}],
            "responses": {"200": _resp("已撤销 / withdrawn", obj), **_errors(401, 403, 404, 409, 422)}}},
        "/api/v1/stats/status": {"get": {
            "summary": "统计汇总状态 / rollup state: versions, pending days, rejections",
            "responses": {"200": _resp("状态 / status", obj), **_errors(401, 403)}}},
        "/api/v1/stats/rejections": {"get": {
            "summary": "被忽略的快照及原因 / snapshots ignored, with the reason",
            "parameters": [_query("limit", "条数 / how many", {"type": "integer"})],
            "responses": {"200": _resp("记录 / records", obj), **_errors(401, 403, 422)}}},
        "/api/v1/stats/push": {"post": {
            "summary": "立即汇总上报 / run the rollup now (admin)",
            "responses": {"200": _resp("汇总结果 / what was done", obj), **_errors(401, 403)}}},
    }


def describe(doc: dict) -> None:
    """The statistics routes in the OpenAPI document (``node.app.describers``)."""
    doc["paths"].update(_openapi_paths())
