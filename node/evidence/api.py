"""Evidence endpoints (issue 11 item 5) — thin: authenticate, call ``node.evidence``, answer.

``POST /api/v1/cases/<id>/evidence`` (multipart, field ``file``) → 201 with the record (200
with the existing one when the same bytes are attached already);
``GET /api/v1/cases/<id>/evidence`` → ``{"items": [...]}``;
``GET /api/v1/cases/<id>/evidence/<sha256>`` → the bytes, as an attachment with the stored
media type and ``nosniff``.

The staff API stops request bodies at 1 MiB (``max_body_bytes``); an upload may be as large
as ``evidence.max_bytes``, so this blueprint raises the limit for its own POSTs before anything
reads the body (a URL-value preprocessor runs ahead of every ``before_request``, the desk's CSRF
check included), and a body over it is answered 413 naming ``file``.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from node.cases import READ_ROLES
from node.evidence import content, service
from node.web.auth import current_node, current_user
from node.web.errors import error_response

bp = Blueprint("evidence", __name__, url_prefix="/api/v1/cases")
FORM_OVERHEAD = 1024 * 1024   # the multipart envelope and the other form fields


def raise_body_limit(endpoint: str | None, values: Mapping[str, Any] | None) -> None:
    """Let an upload's body be as large as an attachment may be (plus the form around it)."""
    if request.method == "POST":
        request.max_content_length = current_node().config.evidence.max_bytes + FORM_OVERHEAD


bp.url_value_preprocessor(raise_body_limit)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    return error_response(service.too_large(current_node()))


def download_response(record: Mapping[str, Any], data: bytes) -> Response:
    """The bytes as a download: the stored media type, never sniffed, never shown inline."""
    # Werkzeug adds "; charset=utf-8" to text/plain (the only text kind, UTF-8 by the content check)
    resp = send_file(io.BytesIO(data), mimetype=record["media_type"], conditional=False, etag=False, max_age=0)
    fallback = f"evidence-{record['sha256'][:12]}.{content.BY_MEDIA_TYPE[record['media_type']].extensions[0]}"
    ascii_name = content.ascii_name(record["file_name"], fallback)
    resp.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                           f"filename*=UTF-8''{quote(record['file_name'], safe='')}")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["ETag"] = f'"{record["sha256"]}"'
    return resp


@bp.post("/<case_id>/evidence")
def upload(case_id: str):
    user = current_user(*service.UPLOAD_ROLES)
    try:
        upload_file = request.files.get(content.FIELD)
    except RequestEntityTooLarge:
        raise service.too_large(current_node()) from None
    record, created = service.add_evidence(current_node(), case_id, user,
                                           upload_file.stream if upload_file else None,
                                           upload_file.filename if upload_file else None,
                                           upload_file.mimetype if upload_file else None)
    resp = jsonify(record)
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = f"/api/v1/cases/{case_id}/evidence/{record['sha256']}"
    return resp


@bp.get("/<case_id>/evidence")
def list_(case_id: str):
    user = current_user(*READ_ROLES)
    return jsonify({"items": service.list_evidence(current_node(), case_id, user)})


@bp.get("/<case_id>/evidence/<sha256>")
def download(case_id: str, sha256: str):
    user = current_user(*READ_ROLES)
    record, data = service.open_evidence(current_node(), case_id, sha256, user)
    return download_response(record, data)
