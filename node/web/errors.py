"""One JSON error shape for every endpoint (CONTRACT §5 "Errors").

``NodeError`` → its status and ``{"error": {"code", "message", "field"}}``; Werkzeug's
HTTP errors (404 route, 405, 413) get the same shape; anything unexpected is logged with
its traceback and answered 500 without one — no traceback reaches a user. A write the full
disk refused (RELIABILITY F20) is 503 ``storage_full`` with ``Retry-After`` and one log line.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from node.db import is_storage_full, note_storage_full
from node.errors import NodeError, storage_full

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: ("bad_request", "请求格式错误 / malformed request"),
    401: ("unauthenticated", "未认证 / authentication required"),
    403: ("forbidden", "无权访问 / forbidden"),
    404: ("not_found", "未找到 / not found"),
    405: ("method_not_allowed", "不支持的方法 / method not allowed"),
    413: ("too_large", "请求体超过 1 MiB / request body larger than 1 MiB"),
    415: ("unsupported_media_type", "请使用 application/json / use application/json"),
    429: ("too_many_requests", "请求过多，请稍后重试 / too many requests, retry later"),
}


def too_large_message(limit: int | None) -> str:
    """The 413 of this path with this path's own limit (issue 13: the federation paths take
    several MiB, yet their 413 said "1 MiB")."""
    if not limit:
        return _HTTP_MESSAGES[413][1]
    mib = f"{limit / 1024 / 1024:.2f}".rstrip("0").rstrip(".")
    return f"请求体超过 {mib} MiB（{limit:,} 字节） / request body larger than {mib} MiB ({limit:,} bytes)"


def error_response(err: NodeError):
    resp = jsonify(err.to_dict())
    resp.status_code = err.status
    retry_after = getattr(err, "retry_after", None)
    if retry_after:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


CSRF_MESSAGE = ("表单已过期或不是从本工作台提交的，请刷新页面后重试 / the form expired or was not sent from this "
                "desk; reload the page and try again")


def _respond(err: NodeError):
    """A page for the desk's paths (a person reads it), the JSON shape everywhere else."""
    if request.path.startswith("/desk/"):
        from node.web.i18n import localize
        from node.web.pages import render
        return render("desk/error.html", status=err.status, error=localize(err.message), code=err.status)
    if request.path.startswith("/public/") and not request.path.startswith("/public/v1/"):
        from node.web.portal import error_page
        return error_page(err)
    return error_response(err)


def register(app: Flask) -> None:
    @app.errorhandler(NodeError)
    def _node_error(err: NodeError):
        return _respond(err)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError):
        return _respond(NodeError(400, "csrf", CSRF_MESSAGE))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code, message = _HTTP_MESSAGES.get(err.code or 500, ("http_error", err.description or "error"))
        if err.code == 413:
            message = too_large_message(request.max_content_length)
        return _respond(NodeError(err.code or 500, code, message))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if is_storage_full(err):
            node = app.config["NODE"]
            note_storage_full(node.db, f"{request.method} {request.path}")
            return _respond(storage_full(node.config.replication.retry_after_s))
        log.exception("unhandled error")
        return _respond(NodeError(500, "internal", "服务器内部错误，已记录日志 / internal error (logged)"))
