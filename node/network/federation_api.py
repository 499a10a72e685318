"""Inter-node endpoints under ``/federation/v1/`` (CONTRACT §3): push and pull.

Every request is RFC 9421-signed by a linked node (``keyid`` = its node code); unsigned,
unknown, revoked, tampered, stale or replayed requests get 401 and change nothing; a
known node doing what it may not gets 403. A parent at its concurrency cap answers 429
with ``Retry-After`` (rule 11, F17-F18). The handlers are thin: ``replication`` does the work.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from federation import httpsig
from federation.models import KnownKey, Link
from node.errors import NodeError
from node.network.transport import replicator
from node.web.auth import current_node
from replication import documents, sender
from replication.engine import DbNonceCache
from replication.inbox import ReceiveError, receive

bp = Blueprint("federation", __name__, url_prefix="/federation/v1")
log = logging.getLogger(__name__)


def resolve_peer_key(key_id: str) -> str | None:
    """Public key of a linked, unrevoked peer: ``keyid`` is the node code (or a key id)."""
    code = key_id.partition("#")[0]
    link = Link.get_or_none(Link.code == code)
    if link is None or link.state == "revoked":
        return None
    q = KnownKey.select(KnownKey.key_id, KnownKey.public_key).where(
        (KnownKey.node_code == code) & KnownKey.revoked_at.is_null())
    if "#" in key_id:
        q = q.where(KnownKey.key_id == key_id)
    rows = list(q)
    if not rows:
        return None
    # the node's current key: rotation numbers only grow ("440305#2" after "440305#1")
    newest = max(rows, key=lambda r: int(r.key_id.rpartition("#")[2] or 0))
    return newest.public_key


def _verify(node, body: bytes) -> httpsig.VerifiedRequest:
    return httpsig.verify_request(request.method, request.url, dict(request.headers), body,
                                  resolve_peer_key, node.now().timestamp(),
                                  nonce_cache=DbNonceCache(node.now),
                                  skew_s=node.config.replication.clock_skew_s)


def authenticate_peer() -> Link:
    node = current_node()
    body = request.get_data(cache=True)
    try:
        verified = _verify(node, body)
    except httpsig.HttpSignatureError as exc:
        if exc.code not in ("unknown_key", "bad_signature") or not _learn_rotations(node, body):
            log.warning("refused %s %s from %s: %s %s", request.method, request.path, request.remote_addr,
                        exc.code, exc.message)
            raise NodeError(exc.status, exc.code, exc.message) from None
        # A peer that rotated its key sends the rotation statement (signed by its old key)
        # with its records; once learned, the request verifies with the new key (F11).
        try:
            verified = _verify(node, body)
        except httpsig.HttpSignatureError as exc2:
            log.warning("refused %s %s: %s %s", request.method, request.path, exc2.code, exc2.message)
            raise NodeError(exc2.status, exc2.code, exc2.message) from None
    link = Link.get(Link.code == verified.node_code)
    return link


def _learn_rotations(node, body: bytes) -> bool:
    from federation import trust
    from federation.storage import write_tx
    from node.divisions import load_divisions
    try:
        records = json.loads(body).get("records")
    except (ValueError, AttributeError):
        return False
    rotations = [r for r in records or [] if isinstance(r, dict) and r.get("type") == "key-rotation"]
    if not rotations:
        return False
    try:
        with write_tx(node.db):
            trust.learn_records(rotations, load_divisions().is_within, node.now())
    except trust.TrustError:
        return False
    return True


def _parse(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except RecursionError:
        raise NodeError(400, "malformed", "批次嵌套过深 / batch nested too deep") from None
    except (ValueError, UnicodeDecodeError):
        raise NodeError(400, "malformed", "批次不是合法 JSON / batch is not valid JSON") from None
    if not isinstance(data, dict):
        raise NodeError(400, "malformed", "批次须为 JSON 对象 / batch must be a JSON object")
    return data


class _Slot:
    def __init__(self, rep):
        self.rep = rep

    def __enter__(self):
        if not self.rep.sync_slots.acquire(blocking=False):
            err = NodeError(429, "busy", "同步请求过多，请稍后重试 / too many concurrent syncs, retry later")
            err.retry_after = self.rep.settings.retry_after_s  # type: ignore[attr-defined]
            raise err
        return self

    def __exit__(self, *exc):
        self.rep.sync_slots.release()


@bp.post("/push")
def push():
    node = current_node()
    rep = replicator(node)
    with _Slot(rep):
        link = authenticate_peer()
        try:
            batch = documents.Batch.from_dict(_parse(request.get_data(cache=True)), rep.settings.batch_size)
        except documents.EnvelopeError as exc:
            status = 413 if "too large" in exc.message else 400
            raise NodeError(status, "bad_batch", exc.message, exc.field) from None
        try:
            outcome = receive(rep, batch, link.code)
        except ReceiveError as exc:
            log.warning("refused batch from %s: %s %s", link.code, exc.code, exc.message)
            raise NodeError(exc.status, exc.code, exc.message, exc.field) from None
    return jsonify(outcome.to_dict(rep, batch))


@bp.post("/pull")
def pull():
    node = current_node()
    rep = replicator(node)
    with _Slot(rep):
        link = authenticate_peer()
        data = _parse(request.get_data(cache=True))
        if link.role != "child":
            raise NodeError(403, "not_child", "只有下级节点可以拉取 / only a child may pull")
        if link.state != "active":
            raise NodeError(403 if link.state == "revoked" else 409, "link_" + link.state,
                            f"链路状态 {link.state} / link is {link.state}")
        if not documents.protocol_ok(data.get("protocol")):
            raise NodeError(400, "bad_protocol", "不支持的协议版本 / unsupported protocol version", "protocol")
        channel = data.get("channel")
        if channel not in documents.CHANNELS:
            raise NodeError(400, "bad_channel", "未知通道 / unknown channel", "channel")
        if data.get("sender") != link.code or data.get("receiver") != node.code:
            raise NodeError(403, "sender_mismatch", "拉取请求的发送方或接收方不符 / sender or receiver mismatch")
        marks = data.get("marks", {})
        if not isinstance(marks, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in marks.items()):
            raise NodeError(400, "bad_marks", "marks 须为 {epoch: 序号} / marks must map epoch to a number", "marks")
        answer = sender.serve_pull(rep, link.code, channel, marks)
    return current_app.response_class(answer, mimetype="application/json")
