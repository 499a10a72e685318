"""``/open311/v2/`` — the Open311 GeoReport v2 interface (issue 12 item 5; CONTRACT §10;
docs/open311.md). Thin: parse, call ``node.open311``, render.

Every endpoint answers in ``.json`` or ``.xml`` (the XML is the standard's required format):
``discovery``, ``services``, ``services/<code>``, ``requests`` (GET; POST form-encoded with
``api_key``), ``requests/<id>``. ``jurisdiction_id`` is the node code and may be omitted.
Refusals are the standard's error documents — JSON ``[{"code", "description"}]``, XML
``<errors><error><code/><description/></error></errors>`` — with the same HTTP status
(400 a missing or invalid field, named; 403 a bad or revoked ``api_key``; 404 an unknown
service, request or jurisdiction); an unexpected error is logged and answered 500 without a
traceback, in the same shape.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from node.errors import NodeError
from node.open311 import catalog, keys, service_requests, xmldoc
from node.web.auth import current_node

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
_HTTP_TEXT = {404: "未找到 / not found", 405: "不支持的方法 / method not allowed",
              413: "请求体过大 / request body too large"}


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = xmldoc.document(root, value)
    resp = Response(body, status=status, content_type=MEDIA_TYPES[fmt])
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def error_document(status: int, description: str) -> Response:
    """The standard's error document, in the format the URL asked for (XML when it names none)."""
    fmt = (request.view_args or {}).get("fmt")
    return render("json" if fmt == "json" else "xml", "errors", [{"code": status, "description": description}],
                  status)


@bp.errorhandler(NodeError)
def _node_error(err: NodeError) -> Response:
    return error_document(err.status, err.message)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    return error_document(status, _HTTP_TEXT.get(status, err.description or "error"))


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> Response:
    log.exception("open311: unhandled error")
    return error_document(500, "服务器内部错误，已记录日志 / internal error (logged)")


def _start(fmt: str, jurisdiction_id: str | None) -> Any:
    if fmt not in MEDIA_TYPES:
        raise NodeError(404, "not_found", f"格式须为 .json 或 .xml / the format must be .json or .xml, not .{fmt[:10]}")
    node = current_node()
    catalog.check_jurisdiction(node, jurisdiction_id)
    return node


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Response:
    node = _start(fmt, None)
    return render(fmt, "discovery", catalog.discovery(node))


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    node = _start(fmt, request.args.get("jurisdiction_id"))
    return render(fmt, "services", catalog.services(node))


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    node = _start(fmt, request.args.get("jurisdiction_id"))
    return render(fmt, "service_definition", catalog.service_definition(node, code))


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    node = _start(fmt, request.args.get("jurisdiction_id"))
    return render(fmt, "service_requests", service_requests.list_requests(node, request.args))


@bp.post("/requests.<fmt>")
def post_request(fmt: str) -> Response:
    # The standard sends everything in the form; some older clients put api_key and
    # jurisdiction_id in the query string (open311 1.1), so both are read.
    form = request.form
    node = _start(fmt, form.get("jurisdiction_id") or request.args.get("jurisdiction_id"))
    name = keys.key_name(form.get("api_key") or request.args.get("api_key"))
    created = service_requests.create_request(node, form, name)
    return render(fmt, "service_requests", [created], status=201)


@bp.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Response:
    node = _start(fmt, request.args.get("jurisdiction_id"))
    return render(fmt, "service_requests", [service_requests.get_request(node, request_id)])
