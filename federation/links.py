"""Invites, joining a parent, revoking a link, and what to send when a chain changes.

Serves CONTRACT §3 (``link invite`` prints a one-time token that names the child code and
expires; ``link join`` exchanges keys, the parent records the child, the child records the
parent and receives the chain up to the root; used, expired, other-code tokens and child
codes outside the parent's region are refused; ``link revoke`` ends trust), RELIABILITY
rules 14-16 and R7.1 (a vertically connected network: "a province linked before HQ exists
can later join HQ and its whole subtree then chains to HQ").

The parent side (``create_invite``, ``accept_join``) and the child side (``join_parent``)
each change their tables in one transaction. Only the SHA-256 of an invite token is kept.
The child proves it holds its key twice over: the join request is signed (RFC 9421) with
the key it presents, and the body carries ``proof``, its signature over canonical JSON of
``{"token_sha256", "child"}``, binding that key to this token.

Refusals raise ``LinkError(status, code, message, field)``; ``node/web`` and the CLI map it
(this package cannot import ``node``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests  # type: ignore[import-untyped, unused-ignore]

from federation import docsign, keys, trust
from federation.canonical import canonical_bytes
from federation.httpsig import RequestSigner
from federation.models import Invite, Link, LocalState
from federation.records import (
    LEVELS,
    RECORD_TYPE,
    ROTATION_TYPE,
    IsWithin,
    TrustError,
    format_time,
    make_record,
    sign_record,
    verify_chain,
)
from federation.trust import ensure_own_record

__all__ = [
    "DEFAULT_TTL_HOURS",
    "INVITE_PREFIX",
    "RECORDS_DOC_KIND",
    "LinkError",
    "NodeIdentity",
    "accept_join",
    "apply_records_update",
    "child_info",
    "create_invite",
    "ensure_own_record",
    "identity_of",
    "join_parent",
    "join_proof",
    "list_links",
    "records_changed_docs",
    "records_update_doc",
    "revoke_link",
    "token_sha256",
]

INVITE_PREFIX = "n12315i_"
DEFAULT_TTL_HOURS = 24
RECORDS_DOC_KIND = "node-records"
NODE_PATH = "/federation/v1/node"
JOIN_PATH = "/federation/v1/join"
_CHILD_FIELDS = ("code", "level", "name", "url", "key_id", "public_key")
# ``seal_key``: the child's X25519 key for sealed personal data (issue 13 item 2); a child of
# an earlier release sends none
_CHILD_OPTIONAL = frozenset({"pull_only", "seal_key"})

#: ``check_code(level, code)`` raises (any exception with a ``message`` or ``str``) when
#: the code does not fit the level in the national division table.
CheckCode = Callable[[str, str], None]


class LinkError(Exception):
    """A refused link operation: HTTP status, stable code, Chinese-first message, field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


@dataclass(frozen=True)
class NodeIdentity:
    """Who a joining node says it is (from its config)."""

    code: str
    level: str
    name: str
    url: str


class _Config(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...


class _NodeLike(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def config(self) -> _Config: ...


def identity_of(node: _NodeLike) -> NodeIdentity:
    """The identity of a node object (``node.runtime.Node`` fits)."""
    return NodeIdentity(node.code, node.level, node.config.name, node.config.url)


def token_sha256(token: str) -> str:
    """Hex SHA-256 of an invite token: the only form stored, and what the proof signs."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(at: datetime) -> datetime:
    aware = trust._aware(at)
    assert aware is not None
    return aware


# -- parent side -------------------------------------------------------------------------


def create_invite(
    child_code: str, parent_code: str, ttl_hours: float, now: datetime, is_within: IsWithin
) -> str:
    """Create a one-time invite for ``child_code``; return the token (shown once).

    Refuses a code that is not inside this node's region (or is this node itself), a
    revoked code, and a non-positive TTL.
    """
    if child_code == parent_code or not is_within(child_code, parent_code):
        raise LinkError(
            422,
            "outside_region",
            f"{child_code} 不是本节点 {parent_code} 辖区内的有效节点代码 / {child_code} is not a "
            f"node code within {parent_code}'s region",
            "child",
        )
    if not ttl_hours > 0:
        raise LinkError(
            422, "invalid", "有效期须大于 0 小时 / --ttl-hours must be positive", "ttl_hours"
        )
    if trust.is_revoked(child_code):
        raise LinkError(
            409,
            "revoked",
            f"{child_code} 已被吊销，不能再邀请 / {child_code} is revoked and cannot be invited",
            "child",
        )
    token = INVITE_PREFIX + secrets.token_urlsafe(32)
    Invite.create(
        token_hash=token_sha256(token),
        child_code=child_code,
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    return token


def _check_child_info(info: object) -> dict[str, Any]:
    if not isinstance(info, Mapping):
        raise LinkError(400, "malformed", "child 须为 JSON 对象 / child must be an object", "child")
    if not set(_CHILD_FIELDS) <= set(info) <= set(_CHILD_FIELDS) | _CHILD_OPTIONAL:
        missing = sorted(set(_CHILD_FIELDS) - set(info))
        extra = sorted(set(info) - set(_CHILD_FIELDS) - _CHILD_OPTIONAL)
        raise LinkError(
            422, "invalid",
            f"child 字段不符 / child fields: missing {missing}, unexpected {extra}", "child",
        )
    for name in _CHILD_FIELDS:
        if not isinstance(info[name], str) or not info[name]:
            raise LinkError(
                422, "invalid", f"child.{name} 须为非空字符串 / must be a string", f"child.{name}"
            )
    if not isinstance(info.get("pull_only", False), bool):
        raise LinkError(422, "invalid", "child.pull_only 须为布尔值 / must be true or false", "child.pull_only")
    out: dict[str, Any] = {name: str(info[name]) for name in _CHILD_FIELDS}
    if "pull_only" in info:
        out["pull_only"] = info["pull_only"]   # signed with the rest by the key proof
    if "seal_key" in info:
        seal_key = info["seal_key"]
        try:
            if not isinstance(seal_key, str) or len(base64.b64decode(seal_key, validate=True)) != 32:
                raise ValueError
        except (binascii.Error, ValueError):
            raise LinkError(422, "invalid", "child.seal_key 须为 32 字节公钥的 base64 / must be the base64 of a "
                            "raw 32-byte X25519 key", "child.seal_key") from None
        out["seal_key"] = seal_key
    try:
        key_code = keys.parse_key_id(out["key_id"])[0]
        keys.public_from_b64(out["public_key"])
    except keys.KeyFormatError as exc:
        raise LinkError(422, "invalid", f"密钥格式错误 / {exc}", "child.key_id") from None
    if key_code != out["code"]:
        raise LinkError(
            422, "invalid",
            f"密钥 {out['key_id']} 不属于 {out['code']} / key id does not belong to the code",
            "child.key_id",
        )
    if out["level"] not in LEVELS:
        raise LinkError(422, "invalid", f"未知层级 / unknown level {out['level']!r}", "child.level")
    if not out["url"].startswith(("http://", "https://")):
        raise LinkError(422, "invalid", "URL 须以 http(s):// 开头 / bad url", "child.url")
    return out


def _proof_bytes(token_hash: str, info: Mapping[str, Any]) -> bytes:
    return canonical_bytes({"token_sha256": token_hash, "child": dict(info)})


def child_info(identity: NodeIdentity, keypair: keys.KeyPair, pull_only: bool = False,
               seal_key: str | None = None) -> dict[str, Any]:
    """What a child tells its parent about itself at ``link join``. ``pull_only`` (a
    station behind an intranet, rule 9) is sent only when set, so the join body of a
    child that can take pushes is the same as before the option existed; ``seal_key`` (its
    X25519 key for sealed personal data, issue 13 item 2) goes into the record the parent signs."""
    info: dict[str, Any] = {
        "code": identity.code,
        "level": identity.level,
        "name": identity.name,
        "url": identity.url,
        "key_id": keypair.key_id,
        "public_key": keypair.public_b64,
    }
    if pull_only:
        info["pull_only"] = True
    if seal_key is not None:
        info["seal_key"] = seal_key
    return info


def join_proof(token: str, info: Mapping[str, Any], keypair: keys.KeyPair) -> str:
    """The child's signature binding its key to this invite token."""
    return keys.sign(keypair.private, _proof_bytes(token_sha256(token), info))


def _invite_refused(code: str, message: str, status: int = 403) -> LinkError:
    return LinkError(status, code, message, "token")


def accept_join(
    token: str,
    child_info: Mapping[str, Any],
    proof_sig: str,
    parent_keypair: keys.KeyPair,
    parent_record_chain: list[dict[str, Any]],
    now: datetime,
    is_within: IsWithin,
    check_code: CheckCode,
) -> dict[str, Any]:
    """At the parent: admit a child that holds a valid invite and proves its key.

    In one transaction: the token is marked used, ``Link`` (role child) and the child's
    ``KnownKey`` are stored, and the child's record is signed with the parent key and
    stored. Returns ``{"record", "chain", "parent"}`` for the child.
    """
    parent_code = keys.parse_key_id(parent_keypair.key_id)[0]
    if not isinstance(token, str) or not token.startswith(INVITE_PREFIX):
        raise _invite_refused("invalid_token", "邀请令牌无效 / invite token is not valid")
    info = _check_child_info(child_info)
    token_hash = token_sha256(token)
    invite = Invite.get_or_none(Invite.token_hash == token_hash)
    if invite is None:
        raise _invite_refused("invalid_token", "邀请令牌无效 / invite token is not valid")
    if invite.used_at is not None:
        raise _invite_refused(
            "token_used", "邀请令牌已被使用 / invite token has already been used", 409
        )
    expires_at = _aware(invite.expires_at)
    if expires_at <= now:
        raise _invite_refused(
            "token_expired",
            f"邀请令牌已于 {format_time(expires_at)} 过期 / invite token expired at "
            f"{format_time(expires_at)}",
        )
    code = info["code"]
    if code == parent_code or not is_within(code, parent_code):
        raise LinkError(
            422,
            "outside_region",
            f"{code} 不在本节点 {parent_code} 辖区内 / {code} is outside {parent_code}'s region",
            "child.code",
        )
    if code != invite.child_code:
        raise _invite_refused(
            "token_other_code",
            f"该邀请令牌签发给 {invite.child_code}，不是 {code} / this invite is for "
            f"{invite.child_code}, not {code}",
        )
    try:
        check_code(info["level"], code)
    except Exception as exc:  # noqa: BLE001 - the division table raises node.errors types
        message = getattr(exc, "message", None) or str(exc)
        raise LinkError(422, "invalid_code", str(message), "child.code") from None
    if not isinstance(proof_sig, str) or not keys.verify(
        info["public_key"], _proof_bytes(token_hash, info), proof_sig
    ):
        raise LinkError(
            401, "bad_proof",
            "密钥持有证明无效 / proof of key possession does not verify", "proof",
        )
    if trust.is_revoked(code) or trust.is_revoked(info["key_id"]):
        raise LinkError(403, "revoked", f"{code} 已被吊销 / {code} is revoked", "child.code")
    record = sign_record(
        make_record(
            code=code, level=info["level"], name=info["name"], url=info["url"],
            key_id=info["key_id"], public_key=info["public_key"], issuer=parent_code,
            issued_at=now, seal_key=info.get("seal_key"),
        ),
        parent_keypair,
    )
    with trust.write_tx():
        # The conditional update is the real check: two joins racing on one token both
        # passed the read above, only one of them changes the row.
        marked = (
            Invite.update(used_at=now)
            .where((Invite.token_hash == token_hash) & Invite.used_at.is_null())
            .execute()
        )
        if marked != 1:
            raise _invite_refused(
                "token_used", "邀请令牌已被使用 / invite token has already been used", 409
            )
        _upsert_link(code, info["level"], "child", info["name"], info["url"], now,
                     pull_only=info.get("pull_only") is True)
        try:
            trust.store_records({code: record}, [], now, replace=True)
        except TrustError as exc:
            raise LinkError(409, exc.code, exc.message, "child.key_id") from None
    head = parent_record_chain[0] if parent_record_chain else {}
    return {
        "record": record,
        "chain": list(parent_record_chain),
        "parent": {
            "code": parent_code,
            "level": head.get("level"),
            "name": head.get("name"),
            "url": head.get("url"),
            "key_id": parent_keypair.key_id,
            "public_key": parent_keypair.public_b64,
        },
    }


def _upsert_link(code: str, level: str, role: str, name: str, url: str, now: datetime,
                 pull_only: bool = False) -> None:
    if Link.get_or_none(Link.code == code) is None:
        Link.create(code=code, level=level, role=role, name=name, url=url, created_at=now,
                    pull_only=pull_only)
        return
    (
        Link.update(level=level, role=role, name=name, url=url, state="active", pull_only=pull_only,
                    state_reason=None, last_error=None, attempts=0, next_try_at=None)
        .where(Link.code == code)
        .execute()
    )


# -- child side --------------------------------------------------------------------------


def _remote_error(resp: Any, what: str) -> LinkError:
    """The parent's own JSON error message, or one line saying what came back."""
    try:
        error = resp.json()["error"]
        message = str(error["message"])
        return LinkError(resp.status_code, str(error.get("code") or "remote_error"), message,
                         error.get("field"))
    except (ValueError, KeyError, TypeError):
        return LinkError(
            502 if resp.status_code < 400 else resp.status_code,
            "remote_error",
            f"上级节点 {what} 返回 HTTP {resp.status_code} / parent answered HTTP "
            f"{resp.status_code} to {what}",
        )


def _bad_answer(detail: str) -> LinkError:
    return LinkError(502, "bad_answer", f"上级节点的应答无效 / parent's answer is invalid: {detail}")


def join_parent(
    parent_url: str,
    token: str,
    *,
    identity: NodeIdentity,
    keypair: keys.KeyPair,
    session: requests.Session,
    now: datetime,
    is_within: IsWithin,
    timeout_s: float = 15.0,
    pull_only: bool = False,
    seal_key: str | None = None,
) -> dict[str, Any]:
    """At the child: join the parent at ``parent_url`` with an invite ``token``
    (``pull_only``: ask the parent never to push; this node pulls, rule 9).

    Verifies that the returned record carries this node's key and is signed by the key
    the parent's ``/node`` shows, and that the returned chain verifies up to its root;
    then stores, in one transaction, the parent ``Link``, its keys and the records — the
    new own record replacing a self-signed root record. Returns ``{"parent", "record",
    "chain"}``. A changed chain is for the children too: see ``records_changed_docs``.
    """
    base = parent_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise LinkError(422, "invalid", "上级地址须以 http(s):// 开头 / --parent must be a URL",
                        "parent")
    try:
        resp = session.get(base + NODE_PATH, timeout=timeout_s)
    except requests.RequestException as exc:
        raise LinkError(
            502, "unreachable", f"无法连接上级节点 {base} / cannot reach the parent: {exc}"
        ) from None
    if resp.status_code != 200:
        raise _remote_error(resp, NODE_PATH)
    try:
        node_info = resp.json()
        parent_code = str(node_info["code"])
        parent_public = str(node_info["public_key"])
    except (ValueError, KeyError, TypeError):
        raise _bad_answer(f"{NODE_PATH} is not a node description") from None
    if parent_code == identity.code or not is_within(identity.code, parent_code):
        raise LinkError(
            422,
            "outside_region",
            f"本节点 {identity.code} 不在 {parent_code} 辖区内 / {identity.code} is outside "
            f"{parent_code}'s region",
            "parent",
        )
    info = child_info(identity, keypair, pull_only, seal_key)
    body = canonical_bytes({"token": token, "child": info, "proof": join_proof(token, info, keypair)})
    try:
        resp = session.post(
            base + JOIN_PATH,
            data=body,
            headers={"Content-Type": "application/json"},
            auth=RequestSigner(keypair, clock=lambda: now.timestamp()),
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise LinkError(
            502, "unreachable", f"无法连接上级节点 {base} / cannot reach the parent: {exc}"
        ) from None
    if resp.status_code != 200:
        raise _remote_error(resp, JOIN_PATH)
    try:
        answer = resp.json()
        record = answer["record"]
        chain = answer["chain"]
        parent = answer["parent"]
        if not isinstance(record, dict) or not isinstance(chain, list) or not isinstance(parent, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise _bad_answer("expected record, chain and parent") from None

    mine = (record.get("code"), record.get("key_id"), record.get("public_key"), record.get("issuer"))
    if mine != (identity.code, keypair.key_id, keypair.public_b64, parent_code):
        raise _bad_answer("the record does not carry this node's code and key")
    if parent.get("code") != parent_code or parent.get("public_key") != parent_public:
        raise _bad_answer("the signing key differs from the one at /federation/v1/node")
    signer = (record.get("sig") or {}).get("key_id")
    if signer != parent.get("key_id"):
        raise _bad_answer("the record is not signed by the parent's current key")
    try:
        docsign.verify_document(record, lambda kid: parent_public if kid == signer else None)
    except docsign.DocumentSignatureError as exc:
        raise _bad_answer(exc.message) from None
    roots = [r for r in chain if isinstance(r, dict) and r.get("type") == RECORD_TYPE
             and r.get("issuer") is None]
    if len(roots) != 1:
        raise _bad_answer("the chain must end in exactly one root record")
    # Trust on first use, as the operator chose this parent and carried its token: the
    # chain's root becomes an anchor, everything below it must verify.
    anchors = {str(roots[0].get("key_id")): str(roots[0].get("public_key"))}
    try:
        verified = verify_chain([record, *chain], anchors, is_within, now,
                                cache=trust.SIGNATURE_CACHE)
    except TrustError as exc:
        raise LinkError(
            502, "bad_chain", f"上级返回的证书链无效 / parent's chain does not verify: {exc.message}"
        ) from None
    if parent_code not in verified:
        raise _bad_answer("the chain lacks the parent's own record")
    rotations = [r for r in chain if isinstance(r, dict) and r.get("type") == ROTATION_TYPE]

    parent_level = str(node_info.get("level") or verified[parent_code]["level"])
    parent_name = str(node_info.get("name") or verified[parent_code]["name"])
    with trust.write_tx():
        (
            Link.update(state="stopped",
                        state_reason=f"已改隶 {parent_code} / moved under {parent_code}")
            .where((Link.role == "parent") & (Link.code != parent_code)
                   & (Link.state == "active"))
            .execute()
        )
        _upsert_link(parent_code, parent_level, "parent", parent_name, base, now)
        try:
            trust.store_records(
                verified, rotations, now, ancestors=set(verified) - {identity.code}, replace=True
            )
        except TrustError as exc:
            raise LinkError(409, exc.code, exc.message) from None
        LocalState.put(trust.CHAIN_CHANGED_AT, format_time(now))
    return {"parent": parent, "record": record, "chain": chain}


# -- after a chain changes ---------------------------------------------------------------


def records_update_doc(chain: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The one-hop document that tells a child its parent's chain (pure)."""
    return {"kind": RECORDS_DOC_KIND, "v": 1, "records": [dict(r) for r in chain]}


def records_changed_docs() -> list[tuple[str, dict[str, Any]]]:
    """``(child code, document)`` for every active child, carrying this node's own chain.

    Send after the chain changed (``LocalState.chain_changed_at`` moves: a join, an
    ancestor re-issued, a key rotated); the child applies it with ``apply_records_update``.
    """
    doc = records_update_doc(trust.own_chain())
    children = (
        Link.select(Link.code)
        .where((Link.role == "child") & (Link.state == "active"))
        .order_by(Link.code)
    )
    return [(str(row.code), doc) for row in children]


def apply_records_update(
    doc: Mapping[str, Any], sender_code: str, is_within: IsWithin, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """At a child: learn the chain its parent sent; return what to forward to its own
    children when that changed its own chain (the whole subtree then chains to the new
    root), else an empty list."""
    if doc.get("kind") != RECORDS_DOC_KIND or not isinstance(doc.get("records"), list):
        raise TrustError("malformed", "不是节点记录文档 / not a node-records document")
    before = trust.own_chain()
    trust.learn_records(doc["records"], is_within, now, vouched_by=sender_code)
    if trust.own_chain() == before:
        return []
    return records_changed_docs()


# -- revoke and list ---------------------------------------------------------------------


def revoke_link(
    code: str, reason: str, keypair: keys.KeyPair, now: datetime, is_within: IsWithin
) -> dict[str, Any] | None:
    """End trust in ``code``: its link is revoked, its keys stop resolving.

    For a node within this node's subtree, a signed revocation list is issued and stored
    (returned, to be forwarded down). A linked node outside the subtree (the parent) can
    only be distrusted here: no list is issued, None is returned.
    """
    me = keys.parse_key_id(keypair.key_id)[0]
    if code == me:
        raise LinkError(422, "invalid", "不能吊销本节点自身 / a node cannot revoke itself", "code")
    link = Link.get_or_none(Link.code == code)
    within = is_within(code, me)
    if link is None and not within:
        raise LinkError(
            404, "not_found",
            f"{code} 既不是已链接节点，也不在本节点辖区内 / {code} is neither linked nor within "
            f"{me}'s subtree",
            "code",
        )
    reason = reason or "link revoked by operator"
    try:
        if within:
            return trust.issue_revocation(code, reason, keypair, now)
        trust.revoke_locally(code, reason, now)
        return None
    except TrustError as exc:
        raise LinkError(422, exc.code, exc.message, "code") from None


def list_links() -> list[dict[str, Any]]:
    """Links as stored: code, level, role, name, url, state, last_ok (aware or None)."""
    out: list[dict[str, Any]] = []
    for row in Link.select().order_by(Link.role, Link.code):
        times = [_aware(t) for t in (row.last_ok_push_at, row.last_ok_pull_at) if t is not None]
        out.append({
            "code": row.code,
            "level": row.level,
            "role": row.role,
            "name": row.name,
            "url": row.url,
            "state": row.state,
            "last_ok": max(times) if times else None,
            "last_error": row.last_error,
            "pull_only": bool(row.pull_only),
        })
    return out


def set_pull_only(code: str, pull_only: bool) -> None:
    """At the parent: stop (or resume) pushing to a child that can (not) take inbound
    connections; the child's pulls carry everything on the same cursor (rule 9)."""
    row = Link.get_or_none(Link.code == code)
    if row is None:
        raise LinkError(404, "not_linked", f"没有与 {code} 的链路 / no link to {code}", "code")
    if row.role != "child":
        raise LinkError(422, "not_a_child", f"{code} 不是下级，只能对下级设置 / only a child's link has a mode",
                        "code")
    with trust.write_tx():
        Link.update(pull_only=pull_only).where(Link.code == code).execute()

