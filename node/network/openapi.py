"""The node's status and the federation endpoints in the OpenAPI document (CONTRACT §2, §3)."""
from __future__ import annotations

from typing import Any

from node.web import openapi as oa

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/status": {
        "get": {"summary": "节点状态、链路、告警 / node, links, backlog, warnings (role admin)",
                "responses": {"200": oa.resp("状态 / status", {"type": "object"}), **oa.errors(401, 403)}},
    },
    "/federation/v1/node": {
        "get": {"summary": "本节点身份 / who this node is (public): code, level, name, url, public_key "
                           "(base64 of the raw 32-byte Ed25519 key)", "security": [],
                "responses": {"200": oa.resp("节点 / the node", {"type": "object", "properties": {
                    k: {"type": "string"} for k in ("code", "level", "name", "url", "public_key")}})}},
    },
    "/federation/v1/join": {
        "post": {"summary": "下级凭邀请加入 / a child joins with a one-time invite token "
                            "(signed with the key its body carries; CONTRACT §3)",
                 "security": [{"httpsig": []}],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"type": "object"}}}},
                 "responses": {"200": oa.resp("已链接：节点记录与证书链 / linked: the child's signed record "
                                            "and the chain up to the root", {"type": "object"}),
                               **oa.errors(400, 401, 403, 409, 413, 422)}},
    },
    "/federation/v1/push": {
        "post": {"summary": "节点间推送一批文档 / a linked node pushes a batch (RFC 9421 signed)",
                 "security": [{"httpsig": []}],
                 "responses": {"200": oa.resp("累计确认 / cumulative acknowledgement", {"type": "object"}),
                               **oa.errors(400, 401, 403, 413, 429)}},
    },
    "/federation/v1/pull": {
        "post": {"summary": "节点间拉取 / a linked node pulls what waits for it (RFC 9421 signed)",
                 "security": [{"httpsig": []}],
                 "responses": {"200": oa.resp("一批文档 / a batch", {"type": "object"}),
                               **oa.errors(400, 401, 403, 429)}},
    },
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
