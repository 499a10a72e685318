"""证据附件 — the evidence section of a case on the staff desk (issue 11 item 5).

``GET /desk/cases/<id>/evidence`` — the attachments (name, type, size, SHA-256, who, when,
where) and the upload form. The case page loads it with htmx (``HX-Request``) as a fragment;
a browser without JS follows a link to the same URL and gets a whole page.
``POST /desk/cases/<id>/evidence`` — upload (CSRF-checked like every desk form): through
htmx the fragment comes back, with the error beside the field or the list with the new file;
without JS the answer is a redirect to the page (or the page with the error and the status).
``GET /desk/cases/<id>/evidence/<sha256>`` — download with the desk session.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, request
from werkzeug.exceptions import RequestEntityTooLarge

from node.errors import NodeError
from node.evidence import api, content, service
from node.web.i18n import localize
from node.web.pages import current_node, page, render

bp = Blueprint("evidence_pages", __name__, url_prefix="/desk")
bp.url_value_preprocessor(api.raise_body_limit)   # before the desk's CSRF check reads the form

ACCEPT = ",".join([*sorted({k.media_type for k in content.KINDS.values()}),
                   *(f".{e}" for k in content.KINDS.values() for e in k.extensions)])   # a hint to the picker only


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    at = datetime.fromisoformat(item["uploaded_at"])
    sha = item["sha256"]
    return {**item, "size_text": size_text(item["size"]), "uploaded_text": at.strftime("%Y-%m-%d %H:%M"),
            "sha_parts": [sha[i:i + 16] for i in range(0, len(sha), 16)]}


def _section(user: Any, case_id: str, *, status: int = 200, error: str | None = None,
             added: dict[str, Any] | None = None):
    node = current_node()
    items = [_shown(i) for i in service.list_evidence(node, case_id, user)]
    settings = node.config.evidence
    context = dict(case_id=case_id, items=items, error=error, added=added, accept=ACCEPT,
                   can_upload=service.may_attach(node, case_id, user), max_size=size_text(settings.max_bytes),
                   allow_text=settings.allow_text,
                   max_files=settings.max_files_per_case)
    template = "evidence/_section.html" if is_htmx() else "evidence/page.html"
    resp, code = render(template, status=status, **context)
    return resp, code, {"Vary": "HX-Request"}


@bp.get("/cases/<case_id>/evidence")
@page()
def evidence(user, case_id: str):
    added = request.args.get("added")
    return _section(user, case_id, added={"sha256": added} if added else None)


@bp.post("/cases/<case_id>/evidence")
@page(*service.UPLOAD_ROLES)
def upload(user, case_id: str):
    node = current_node()
    try:
        try:
            upload_file = request.files.get(content.FIELD)
        except RequestEntityTooLarge:
            raise service.too_large(node) from None
        record, _created = service.add_evidence(node, case_id, user,
                                                upload_file.stream if upload_file and upload_file.filename else None,
                                                upload_file.filename if upload_file else None,
                                                upload_file.mimetype if upload_file else None)
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        # beside the field; through htmx with 200, so that htmx swaps it in
        return _section(user, case_id, status=200 if is_htmx() else exc.status, error=localize(exc.message))
    if is_htmx():
        return _section(user, case_id, added=record)
    return redirect(f"/desk/cases/{case_id}/evidence?added={record['sha256']}", code=303)


@bp.get("/cases/<case_id>/evidence/<sha256>")
@page()
def download(user, case_id: str, sha256: str):
    record, data = service.open_evidence(current_node(), case_id, sha256, user)
    return api.download_response(record, data)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    # the body was over the limit before any page ran (the CSRF check reads the form first)
    return render("desk/error.html", status=413, error=localize(service.too_large(current_node()).message),
                  code=413)
