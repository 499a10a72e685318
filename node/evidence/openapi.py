"""The evidence API in the OpenAPI document (issue 11 item 5)."""
from __future__ import annotations

from typing import Any

from node.cases import CASE_ID_RE
from node.evidence.content import KINDS
from node.web import openapi as oa

CASE_ID = {"name": "case_id", "in": "path", "required": True, "description": "案件编号 / case id",
           "schema": {"type": "string", "pattern": CASE_ID_RE.pattern}}
SHA256 = {"name": "sha256", "in": "path", "required": True,
          "description": "附件内容的 SHA-256（小写十六进制）/ SHA-256 of the attachment's bytes (lower-case hex)",
          "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
MEDIA_TYPES = sorted({k.media_type for k in KINDS.values()})

EVIDENCE = {
    "type": "object",
    "required": ["case_id", "sha256", "size", "media_type", "file_name", "uploaded_by", "uploaded_at", "node",
                 "present"],
    "properties": {
        "case_id": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                   "description": "存储内容的 SHA-256（图片为去除元数据后的内容）/ SHA-256 of the stored bytes "
                                  "(for images: after the metadata was stripped)"},
        "size": {"type": "integer", "description": "字节数 / bytes"},
        "media_type": {"type": "string", "enum": MEDIA_TYPES},
        "file_name": {"type": "string", "description": "原文件名（已清理）/ the original file name, cleaned"},
        "uploaded_by": {"type": "string"},
        "uploaded_at": {"type": "string", "format": "date-time"},
        "node": {"type": "string", "description": "上传所在节点 / node where it was uploaded"},
        "present": {"type": "boolean",
                    "description": "内容已在本节点 / the bytes are at this node (they may still be on their way)"},
    },
}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/cases/{case_id}/evidence": {
        "post": {
            "summary": "上传证据附件 / attach evidence (roles intake, handler, admin; discipline for staff reports)",
            "description": "multipart/form-data，字段 `file`。类型按内容判断（JPEG、PNG、WebP、PDF、UTF-8 纯文本），"
                           "文件名或声明类型与内容不符则 422；超过 `evidence.max_bytes` 则 413，不保存任何内容；"
                           "图片去除 EXIF/GPS 等元数据后保存。附件随案件送往所有持有节点。 / Type by content; a name or "
                           "declared type that disagrees → 422; over `evidence.max_bytes` → 413 with nothing stored; "
                           "images re-encoded without metadata. The attachment travels to every node holding the case.",
            "parameters": [CASE_ID],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"201": oa.resp("已附加 / attached", {"$ref": "#/components/schemas/Evidence"}),
                          "200": oa.resp("相同内容已附加 / the same bytes were attached already",
                                         {"$ref": "#/components/schemas/Evidence"}),
                          **oa.errors(401, 403, 404, 409, 422),
                          "413": oa.resp("附件超过 evidence.max_bytes / over evidence.max_bytes", oa.ERROR)},
        },
        "get": {
            "summary": "证据附件列表 / the case's attachments (any role that may read the case)",
            "parameters": [CASE_ID],
            "responses": {"200": oa.resp("附件 / attachments", {
                "type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}}}}),
                **oa.errors(401, 403, 404)},
        },
    },
    "/api/v1/cases/{case_id}/evidence/{sha256}": {
        "get": {
            "summary": "下载证据附件 / download an attachment (any role that may read the case)",
            "description": "Content-Disposition: attachment；存储的媒体类型；X-Content-Type-Options: nosniff。"
                           "内容尚未到达本节点则 404 `not_arrived`。 / The stored media type, as an attachment, "
                           "nosniff; 404 `not_arrived` while the bytes are on their way.",
            "parameters": [CASE_ID, SHA256],
            "responses": {"200": {"description": "附件内容 / the bytes",
                                  "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                              for t in MEDIA_TYPES}},
                          **oa.errors(401, 403, 404)},
        },
    },
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
    doc["components"]["schemas"]["Evidence"] = EVIDENCE
