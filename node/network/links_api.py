"""``GET /federation/v1/node`` and ``POST /federation/v1/join`` (CONTRACT §3, R7.1).

``/node`` is public: who this node is and its current public key. ``/join`` comes from a
node with no prior trust, so its RFC 9421 signature is checked with the key carried in its
own body (RELIABILITY rule 12: every hop is signed), then ``federation.links.accept_join``
checks the invite and the proof of key possession and, in one transaction, records the
child and signs its record. ``LinkError``/``TrustError`` become ``NodeError`` here.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from federation import httpsig, links, trust
from federation.records import TrustError
from node.divisions import load_divisions
from node.errors import NodeError
from node.network.peers import check_peer_url
from node.web.auth import current_node
from node.web.body import json_body

bp = Blueprint("links", __name__)


def link_error(exc: links.LinkError) -> NodeError:
    return NodeError(exc.status, exc.code, exc.message, exc.field)


def _nonce_cache(node: Any) -> httpsig.MemoryNonceCache:
    cache = node.extras.get("join_nonce_cache")
    if cache is None:
        cache = node.extras.setdefault(
            "join_nonce_cache",
            httpsig.MemoryNonceCache(max_entries=10_000, clock=lambda: node.now().timestamp()),
        )
    return cache


@bp.get("/federation/v1/node")
def node_info():
    node = current_node()
    return jsonify({
        "code": node.code,
        "level": node.level,
        "name": node.config.name,
        "url": node.config.url,
        "public_key": node.keypair.public_b64,
        "key_id": node.keypair.key_id,
    })


@bp.post("/federation/v1/join")
def join():
    node = current_node()
    body = json_body()
    child = body.get("child")
    if not isinstance(child, dict) or not isinstance(child.get("key_id"), str) \
            or not isinstance(child.get("public_key"), str):
        raise NodeError(400, "malformed", "缺少 child.key_id / child.public_key / child key missing",
                        "child")
    key_id, public_key = child["key_id"], child["public_key"]
    if isinstance(child.get("url"), str):
        check_peer_url(node, child["url"], "child.url")
    now = node.now()
    try:
        httpsig.verify_request(
            request.method, request.url, request.headers, request.get_data(cache=True),
            lambda kid: public_key if kid == key_id else None,
            now.timestamp(),
            nonce_cache=_nonce_cache(node),
            skew_s=node.config.replication.clock_skew_s,
        )
    except httpsig.HttpSignatureError as exc:
        raise NodeError(exc.status, exc.code, exc.message) from None
    from node.privacy import current_seal_public
    divisions = load_divisions()
    try:
        # One transaction: a refused join leaves no trace, not even this node's first record.
        with trust.write_tx():
            trust.ensure_own_record(node.keypair, level=node.level, name=node.config.name,
                                    url=node.config.url, now=now,
                                    seal_key=current_seal_public(node.config.home_path))
            answer = links.accept_join(
                body.get("token"), child, body.get("proof"), node.keypair, trust.own_chain(),
                now, divisions.is_within, divisions.check_node_code,
            )
    except links.LinkError as exc:
        raise link_error(exc) from None
    except TrustError as exc:
        raise NodeError(403, exc.code, exc.message) from None
    return jsonify(answer)
