"""Attaching, listing and opening a case's evidence (issue 11 item 5; docs/evidence.md) — the
functions the API and the desk pages both call.

Who: uploading takes the roles that register and handle cases (``intake``, ``handler``,
``admin``) and ``discipline`` for reports against staff; listing and downloading take every
role that may read the case. Visibility is the case's own (``node.cases.get_case``): a report
against staff is 404 to everyone but ``discipline``. The unit accused by such a report holds
only a stub of it, and no evidence: an upload there is refused (409 ``accused_unit``).

Order of checks on upload, nothing stored on any refusal: role (403) → case visible (404) →
accused unit (409) → size (413, read no further than the limit) → type by content and the
name and declared type agreeing with it (422 naming ``file``) → image metadata stripped →
same bytes already attached (the existing record, 200) → files per case (409). Then the blob
is written (atomically) before the row commits, and the record goes to every holder.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

from node.cases import DISCIPLINE, SHANGHAI, Case, get_case
from node.db import write_tx
from node.divisions import load_divisions
from node.errors import NodeError, conflict, forbidden, invalid, not_found
from node.evidence import content, documents, store
from node.evidence.models import Evidence
from node.routing import accused
from node.runtime import Node

UPLOAD_ROLES = ("intake", "handler", "admin", "discipline")


def show_time(dt: datetime) -> str:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(SHANGHAI).isoformat()


def to_api(ev: Any, node: Node) -> dict[str, Any]:
    return {"case_id": ev.case_id, "sha256": ev.sha256, "size": int(ev.size), "media_type": ev.media_type,
            "file_name": ev.file_name, "uploaded_by": ev.uploaded_by, "uploaded_at": show_time(ev.uploaded_at),
            "node": ev.node, "present": store.has_blob(node, ev.sha256)}


def _readable_case(node: Node, case_id: str, actor: Any) -> dict[str, Any]:
    """The case as the actor may read it (404 otherwise, a hidden case's existence not leaked)."""
    return get_case(node, case_id, actor)


def _too_large(limit: int) -> NodeError:
    return NodeError(413, "too_large", f"附件超过 {limit} 字节（{limit / 1048576:g} MiB）上限 / the attachment is "
                                       f"larger than {limit} bytes ({limit / 1048576:g} MiB)", content.FIELD)


def too_large(node: Node) -> NodeError:
    """413 naming ``file`` and the configured limit (also what the web layer answers when
    the request body itself is over it)."""
    return _too_large(node.config.evidence.max_bytes)


def _role_refusal(actor: Any) -> NodeError | None:
    role = getattr(actor, "role", None)
    if role not in UPLOAD_ROLES:
        return forbidden(f"角色 {role} 无权上传附件（需要：{'/'.join(UPLOAD_ROLES)}） / role {role} may not upload evidence")
    return None


def _attach_refusal(node: Node, case: Mapping[str, Any], actor: Any) -> NodeError | None:
    """Why this actor may not attach to this (readable) case here, or None."""
    role = getattr(actor, "role", None)
    if role == DISCIPLINE and case["department"] != DISCIPLINE:
        return forbidden("纪检监察角色仅办理针对执法人员的举报 / the discipline role acts on reports against staff only")
    row = Case.row(case["id"])
    assert row is not None
    unit = accused(node, row)
    if unit and load_divisions().is_within(node.code, unit):
        return conflict("被举报单位不保存针对其执法人员的举报的证据，请向上级纪检监察机构提交 / the unit accused by a "
                        "report against its staff holds no evidence of it: submit it to the discipline unit above",
                        code="accused_unit", field=content.FIELD)
    return None


def may_attach(node: Node, case_id: str, actor: Any) -> bool:
    """Whether the upload form is offered to this actor for this case (the case readable)."""
    return _role_refusal(actor) is None and _attach_refusal(node, _readable_case(node, case_id, actor), actor) is None


def add_evidence(node: Node, case_id: str, actor: Any, stream: BinaryIO | None, file_name: str | None,
                 declared_type: str | None = None) -> tuple[dict[str, Any], bool]:
    """Attach the file read from ``stream`` to the case; ``(record, created)`` — ``created``
    is False when the same bytes were already attached (the existing record)."""
    settings = node.config.evidence
    refusal = _role_refusal(actor) or _attach_refusal(node, _readable_case(node, case_id, actor), actor)
    if refusal is not None:
        raise refusal
    if stream is None:
        raise NodeError(422, "required", "请选择要上传的文件 / file is required", content.FIELD)
    data = stream.read(settings.max_bytes + 1)
    if len(data) > settings.max_bytes:
        raise _too_large(settings.max_bytes)
    if not data:
        raise invalid(content.FIELD, "文件为空 / the file is empty", code="empty")
    kind = content.sniff(data, allow_text=settings.allow_text)
    if kind is None:
        raise content.unsupported(settings.allow_text)
    content.check_claims(kind, file_name or "", declared_type)
    if kind.media_type.startswith("image/"):
        data = content.strip_image(data, kind, max_pixels=settings.max_image_pixels,
                                   jpeg_quality=settings.jpeg_quality)
    name = content.clean_name(file_name, kind)
    sha = store.digest(data)
    existing = Evidence.get_or_none((Evidence.case_id == case_id) & (Evidence.sha256 == sha))
    if existing is not None:
        return to_api(existing, node), False
    if Evidence.select().where(Evidence.case_id == case_id).count() >= settings.max_files_per_case:
        raise conflict(f"每件案件最多 {settings.max_files_per_case} 个附件 / at most {settings.max_files_per_case} "
                       f"attachments per case", code="too_many_files", field=content.FIELD)
    store.write_blob(node, data, sha)                 # on disk before the row that names it commits
    now = node.now()
    with write_tx(node.db):
        documents.store_record({"case_id": case_id, "sha256": sha, "size": len(data), "media_type": kind.media_type,
                                "file_name": name, "uploaded_by": actor.login, "uploaded_at": documents.db_time(now),
                                "node": node.code}, now)
        documents.mark_holders(case_id, sha, [node.code])
        fresh = Case.row(case_id)
        assert fresh is not None
        documents.distribute(node, fresh, only=[sha])
    ev = Evidence.get((Evidence.case_id == case_id) & (Evidence.sha256 == sha))
    return to_api(ev, node), True


def list_evidence(node: Node, case_id: str, actor: Any) -> list[dict[str, Any]]:
    """The case's attachments at this node, oldest first (``present``: the bytes are here)."""
    _readable_case(node, case_id, actor)
    rows = Evidence.select().where(Evidence.case_id == case_id).order_by(Evidence.uploaded_at, Evidence.id)
    return [to_api(ev, node) for ev in rows]


def open_evidence(node: Node, case_id: str, sha256: str, actor: Any) -> tuple[Mapping[str, Any], bytes]:
    """The record and the plain bytes of one attachment (404 when the case is not readable,
    the attachment unknown, or its bytes not arrived yet; 500 ``data_corrupt`` naming the blob
    when its file does not open or does not hash to its name — never other bytes)."""
    _readable_case(node, case_id, actor)
    ev = None
    if store.SHA256_RE.match(sha256 or ""):
        ev = Evidence.get_or_none((Evidence.case_id == case_id) & (Evidence.sha256 == sha256))
    if ev is None:
        raise not_found(f"案件 {case_id} 没有该附件 / case {case_id} has no attachment {str(sha256)[:64]}")
    if not store.has_blob(node, ev.sha256):
        raise not_found("附件内容尚未到达本节点，请稍后再试 / the attachment's bytes have not reached this node yet",
                        code="not_arrived")
    return to_api(ev, node), store.read_blob(node, ev.sha256)
