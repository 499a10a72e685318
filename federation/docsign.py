"""Origin signatures carried inside documents that travel more than one hop.

Serves CONTRACT §3 (a case, a directive, a rollup carries its origin's signature so every
node can check the origin, not only the last hop) and RELIABILITY rule 12 (signature over
canonical JSON, checked with the key valid when it was made) and rule 14 / F11 (the key is
found by its id, so documents signed before a rotation still verify while queued).

A signed document is the body plus ``"sig": {"key_id", "alg", "value"}``; the signature
covers ``canonical_bytes`` of everything except ``"sig"``. Relays pass documents through
untouched; any change to any field, ``sig`` included, fails verification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation import keys
from federation.canonical import canonical_bytes

__all__ = ["ALG", "DocumentSignatureError", "sign_document", "verify_document"]

ALG = "ed25519"
_SIG_FIELDS = frozenset({"key_id", "alg", "value"})


class DocumentSignatureError(Exception):
    """``code`` is one of ``unsigned``, ``unknown_key``, ``bad_signature``, ``malformed``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign_document(doc: Mapping[str, Any], keypair: keys.KeyPair) -> dict[str, Any]:
    """Return a new dict: ``doc`` plus its origin signature under ``"sig"``.

    Refuses a document that already carries ``"sig"``: re-signing would replace the
    origin's signature with a relay's, which rule 12 forbids.
    """
    if "sig" in doc:
        raise ValueError("document is already signed; relays must not re-sign it")
    body = dict(doc)
    value = keys.sign(keypair.private, canonical_bytes(body))
    body["sig"] = {"key_id": keypair.key_id, "alg": ALG, "value": value}
    return body


def unsigned_bytes(doc: Mapping[str, Any]) -> bytes:
    """Canonical bytes of everything the origin signed (the document without ``sig``)."""
    return canonical_bytes({name: value for name, value in doc.items() if name != "sig"})


def verify_document(doc: Mapping[str, Any], resolve_key: keys.KeyResolver, *,
                    unsigned: bytes | None = None) -> str:
    """Check the origin signature; return the signing key id.

    ``resolve_key(key_id)`` returns the public key (base64) or ``None`` if unknown or
    revoked. The caller decides whether that key's node may speak for the document's
    origin (rule 15); this function only proves who signed it.
    """
    if not isinstance(doc, Mapping):
        raise DocumentSignatureError("malformed", "文档格式错误 / document is not a JSON object")
    sig = doc.get("sig")
    if sig is None:
        raise DocumentSignatureError(
            "unsigned", "文档缺少来源签名 / document carries no origin signature"
        )
    # Unsigned extras inside "sig" would be changeable in transit; refuse them.
    if (
        not isinstance(sig, Mapping)
        or set(sig) != _SIG_FIELDS
        or not all(isinstance(sig[name], str) for name in _SIG_FIELDS)
    ):
        raise DocumentSignatureError(
            "malformed", '签名字段格式错误 / "sig" must hold exactly key_id, alg, value as strings'
        )
    if sig["alg"] != ALG:
        raise DocumentSignatureError(
            "malformed", f"不支持的签名算法 / unsupported signature algorithm {sig['alg']!r}"
        )
    key_id: str = sig["key_id"]
    public_b64 = resolve_key(key_id)
    if public_b64 is None:
        raise DocumentSignatureError(
            "unknown_key", f"未知或已吊销的密钥 / unknown or revoked key {key_id!r}"
        )
    try:
        # a receiver that already computed the bytes (for its digest) passes them in
        data = unsigned if unsigned is not None else unsigned_bytes(doc)
    except (TypeError, ValueError) as exc:
        raise DocumentSignatureError("malformed", f"文档无法规范化 / {exc}") from None
    try:
        valid = keys.verify(public_b64, data, sig["value"])
    except keys.KeyFormatError as exc:
        raise DocumentSignatureError(
            "unknown_key", f"密钥格式错误 / stored public key for {key_id!r} is unusable: {exc}"
        ) from None
    if not valid:
        raise DocumentSignatureError(
            "bad_signature",
            f"来源签名无效 / origin signature by {key_id!r} does not match the document",
        )
    return key_id
