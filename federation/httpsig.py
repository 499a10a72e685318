"""RFC 9421 HTTP Message Signatures and RFC 9530 Content-Digest for every federation hop.

Serves CONTRACT §3 (every request under ``/federation/v1/`` except ``GET .../node`` is
signed: ``ed25519``, covering ``@method``, ``@target-uri``, ``content-digest``, with
``created`` and a ``nonce``; unsigned, unknown-key, tampered, stale or replayed requests
get 401 and change nothing), RELIABILITY rules 12-13 and failures F10 (clock skew: freshness
only, clear errors), F23 (replay), F24 (body changed under a valid signature) and F25
(interoperability: the library below reproduces RFC 9421 B.2.6), and R7.1.

Signing builds the signature base with ``http-message-signatures`` and signs it directly
with the node key. Verification parses the headers once here to give each failure its own
code, then lets the library rebuild and check the signature base. The library reads the
wall clock for ``created``/``expires``; we switch that off and judge freshness with the
injected ``now`` so fake-clock tests and stepped clocks behave (F10).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import http_sf
import requests  # type: ignore[import-untyped, unused-ignore]
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)

from federation import keys

__all__ = [
    "ALG",
    "COVERED",
    "DEFAULT_EXPIRES_S",
    "DEFAULT_SKEW_S",
    "LABEL",
    "HttpSignatureError",
    "MemoryNonceCache",
    "NonceCache",
    "RequestSigner",
    "SignedComponents",
    "VerifiedRequest",
    "content_digest",
    "sign_components",
    "sign_request",
    "verify_request",
]

COVERED = ("@method", "@target-uri", "content-digest")
LABEL = "sig1"
ALG = "ed25519"
DEFAULT_EXPIRES_S = 60
DEFAULT_SKEW_S = 300


class HttpSignatureError(Exception):
    """A refused request. ``code``: ``unsigned``, ``unknown_key``, ``bad_signature``,
    ``digest_mismatch``, ``stale``, ``replayed`` or ``missing_component``; ``status`` 401."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _refuse(code: str, message: str) -> HttpSignatureError:
    return HttpSignatureError(401, code, message)


@dataclass(frozen=True)
class VerifiedRequest:
    key_id: str
    node_code: str
    created: int
    nonce: str


@dataclass(frozen=True)
class SignedComponents:
    """One signature: the header values to send and the base that was signed."""

    signature_input: str
    signature: str
    signature_base: bytes


class NonceCache(Protocol):
    def seen_or_add(self, key_id: str, nonce: str, expires_at: float) -> bool:
        """Record the nonce until ``expires_at`` (epoch s); True if it was already there."""
        ...


class MemoryNonceCache:
    """Nonces of recently accepted requests, in memory, bounded.

    ``clock`` must be the clock the verifier's ``now`` comes from, or entries expire at the
    wrong time. When full, the entry closest to expiry goes first: it is the one whose
    replay the freshness check will refuse soonest anyway.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, str, str]] = []
        # waitress serves requests on several threads against one cache.
        self._lock = threading.Lock()

    # Not __len__: an empty cache would then be falsy, and "cache or default" would
    # silently swap it for another one.
    def size(self) -> int:
        return len(self._expiry)

    def _pop(self) -> None:
        expires_at, key_id, nonce = heapq.heappop(self._heap)
        if self._expiry.get((key_id, nonce)) == expires_at:
            del self._expiry[(key_id, nonce)]

    def seen_or_add(self, key_id: str, nonce: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                self._pop()
            if (key_id, nonce) in self._expiry:
                return True
            while len(self._expiry) >= self._max_entries:
                self._pop()
            self._expiry[(key_id, nonce)] = expires_at
            heapq.heappush(self._heap, (expires_at, key_id, nonce))
            return False


class _Message:
    """The request shape the library resolves components from."""

    __slots__ = ("headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = headers


class _OneKey(HTTPSignatureKeyResolver):
    """Hands the library the key we already resolved, so lookup errors keep their code."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self._public

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        raise HTTPMessageSignaturesException("verification only")


class _Verifier(HTTPMessageVerifier):
    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        # The library compares against datetime.now() with a 5 s tolerance; we have
        # already judged freshness against the injected clock with the configured skew.
        return None


# prepare() only builds the base (no key resolver needed); stateless, so shared by threads.
_SIGNER = HTTPMessageSigner(signature_algorithm=algorithms.ED25519)


def _target_uri(url: str) -> str:
    # requests drops an empty query ("...?") while some servers keep it; sign and verify
    # the same spelling of the same target.
    return url.removesuffix("?")


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value for ``body``: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def sign_components(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    private: Ed25519PrivateKey,
    key_id: str,
    covered: tuple[str, ...] = COVERED,
    label: str = LABEL,
    created: int,
    expires: int | None = None,
    nonce: str | None = None,
    include_alg: bool = True,
) -> SignedComponents:
    """Sign any covered components with the library; ``sign_request`` is the usual entry.

    ``headers`` need hold only the covered fields. Parameters are serialized in the
    library's order: ``created``, ``keyid``, ``alg``, ``expires``, ``nonce``.
    """
    prepared = _SIGNER.prepare(
        _Message(method, url, headers),
        key_id=key_id,
        created=datetime.fromtimestamp(created, UTC),
        expires=None if expires is None else datetime.fromtimestamp(expires, UTC),
        nonce=nonce,
        label=label,
        include_alg=include_alg,
        covered_component_ids=covered,
    )
    base: bytes = prepared.signature_base
    value = base64.b64encode(private.sign(base)).decode("ascii")
    # Serialized by hand instead of apply(), which would rebuild the base a second time.
    return SignedComponents(
        signature_input=f"{label}={prepared.signature_params}",
        signature=f"{label}=:{value}:",
        signature_base=base,
    )


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keypair: keys.KeyPair,
    now: float,
    *,
    expires_s: int = DEFAULT_EXPIRES_S,
) -> dict[str, str]:
    """Return the headers to add: ``Content-Digest``, ``Signature-Input``, ``Signature``.

    ``headers`` are the request's other headers; none is covered, so none is read (the
    argument keeps callers stable should more fields be covered later).
    """
    digest = content_digest(body)
    created = int(now)
    signed = sign_components(
        method.upper(),
        _target_uri(url),
        {"Content-Digest": digest},
        private=keypair.private,
        key_id=keypair.key_id,
        created=created,
        expires=created + expires_s,
        nonce=secrets.token_urlsafe(16),
    )
    return {
        "Content-Digest": digest,
        "Signature-Input": signed.signature_input,
        "Signature": signed.signature,
    }


class RequestSigner(requests.auth.AuthBase):  # type: ignore[misc, unused-ignore]
    """``requests`` auth hook: ``session.auth = RequestSigner(keypair, clock=node.clock)``.

    Runs after the body is prepared, so what is signed is what is sent. A ``str`` body is
    replaced by its UTF-8 bytes, the encoding ``Content-Length`` already counted.
    """

    def __init__(
        self,
        keypair: keys.KeyPair,
        clock: Callable[[], float] = time.time,
        expires_s: int = DEFAULT_EXPIRES_S,
    ) -> None:
        self.keypair = keypair
        self.clock = clock
        self.expires_s = expires_s

    def __call__(self, request: Any) -> Any:
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
            request.body = body
        elif not isinstance(body, bytes):
            # A streamed body cannot be digested without consuming it.
            raise TypeError("RequestSigner needs a bytes body, not a stream or generator")
        request.headers.update(
            sign_request(
                request.method,
                request.url,
                request.headers,
                body,
                self.keypair,
                self.clock(),
                expires_s=self.expires_s,
            )
        )
        return request


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in headers.items():
        name = name.lower()
        # Repeated field lines combine in order (RFC 9110 5.3), as the library does.
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


def _parse_dictionary(value: str, field: str, code: str) -> dict[str, Any]:
    try:
        parsed = cast(dict[str, Any], http_sf.parse(value.encode("latin-1"), tltype="dictionary"))
    except ValueError:  # http_sf's StructuredFieldError, or a non-Latin-1 header
        raise _refuse(code, f"{field} 头格式错误 / malformed {field} header") from None
    return parsed


def _check_digest(fields: Mapping[str, str], body: bytes) -> None:
    raw = fields.get("content-digest")
    if raw is None:
        raise _refuse("digest_mismatch", "缺少 Content-Digest / request has no Content-Digest")
    digest = hashlib.sha256(body).digest()
    # Our own senders write exactly this; skip the structured-field parse for them.
    if raw == "sha-256=:" + base64.b64encode(digest).decode("ascii") + ":":
        return
    member = _parse_dictionary(raw, "Content-Digest", "digest_mismatch").get("sha-256")
    if member is None or not isinstance(member[0], bytes):
        raise _refuse(
            "digest_mismatch", "Content-Digest 缺少 sha-256 / Content-Digest has no sha-256 value"
        )
    if not hmac.compare_digest(member[0], digest):
        raise _refuse(
            "digest_mismatch",
            "请求体与 Content-Digest 不符 / body does not match its Content-Digest",
        )


def _check_fresh(created: int, expires: int | None, now: float, skew_s: int) -> None:
    if created - now > skew_s:
        raise _refuse(
            "stale",
            f"签名时间在未来 / signature created {created - now:.0f} s in the future "
            f"(allowed clock skew ±{skew_s} s; check this node's or the sender's clock)",
        )
    if now - created > skew_s:
        raise _refuse(
            "stale",
            f"签名已过时 / signature created {now - created:.0f} s ago "
            f"(allowed clock skew ±{skew_s} s)",
        )
    # Same tolerance on expires: a sender whose clock lags keeps its requests usable.
    if expires is not None and now - expires > skew_s:
        raise _refuse(
            "stale",
            f"签名已过期 / signature expired {now - expires:.0f} s ago "
            f"(allowed clock skew ±{skew_s} s)",
        )


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: keys.KeyResolver,
    now: float,
    *,
    nonce_cache: NonceCache,
    skew_s: int = DEFAULT_SKEW_S,
) -> VerifiedRequest:
    """Verify one incoming request or raise ``HttpSignatureError`` (401).

    ``url`` is the full URL as the server saw it (``request.url``), ``body`` the raw
    bytes. Cheap checks run before the Ed25519 verification; the nonce is recorded only
    after the signature holds, so forged requests cannot burn a peer's nonces.
    """
    fields = _lower_headers(headers)
    input_raw = fields.get("signature-input")
    signature_raw = fields.get("signature")
    if input_raw is None and signature_raw is None:
        raise _refuse("unsigned", "请求未签名 / request is not signed (RFC 9421)")
    if input_raw is None or signature_raw is None:
        raise _refuse(
            "bad_signature",
            "Signature 与 Signature-Input 必须同时出现 / Signature and Signature-Input come together",
        )
    inputs = _parse_dictionary(input_raw, "Signature-Input", "bad_signature")
    # The library parses Signature itself and checks its labels match these.
    if len(inputs) != 1:
        raise _refuse("bad_signature", "需要恰好一个签名 / exactly one signature is expected")
    (label,) = inputs
    components, params = inputs[label]
    if not isinstance(components, list):
        raise _refuse("bad_signature", f"Signature-Input {label} 不是列表 / is not an inner list")
    covered = {name for name, component_params in components if not component_params}
    missing = [name for name in COVERED if name not in covered]
    if missing:
        raise _refuse(
            "missing_component",
            f"签名未覆盖必需组件 / signature does not cover {', '.join(missing)}",
        )
    alg = params.get("alg", ALG)
    if alg != ALG:
        raise _refuse("bad_signature", f"签名算法必须为 ed25519 / alg must be ed25519, got {alg!r}")
    key_id = params.get("keyid")
    created = params.get("created")
    nonce = params.get("nonce")
    expires = params.get("expires")
    for name, value, kind in (
        ("keyid", key_id, str),
        ("created", created, int),
        ("nonce", nonce, str),
    ):
        if type(value) is not kind:
            raise _refuse(
                "missing_component",
                f"签名缺少参数 {name} / signature lacks the {name} parameter",
            )
    if expires is not None and type(expires) is not int:
        raise _refuse("bad_signature", "expires 参数必须为整数 / expires must be an integer")
    assert isinstance(key_id, str) and isinstance(created, int) and isinstance(nonce, str)

    _check_fresh(created, expires, now, skew_s)
    _check_digest(fields, body)

    public_b64 = resolve_key(key_id)
    if public_b64 is None:
        raise _refuse("unknown_key", f"未知或已吊销的密钥 / unknown or revoked key {key_id!r}")
    try:
        public = keys.public_from_b64(public_b64)
    except keys.KeyFormatError as exc:
        raise _refuse("unknown_key", f"密钥不可用 / key {key_id!r} is unusable: {exc}") from None

    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=_OneKey(public))
    try:
        verifier.verify(_Message(method, _target_uri(url), fields), max_age=None)
    except HTTPMessageSignaturesException as exc:
        # cryptography's InvalidSignature, wrapped by the library, has no message.
        reason = str(exc) or "signature does not match the request"
        raise _refuse("bad_signature", f"签名无效 / {reason}") from None

    if nonce_cache.seen_or_add(key_id, nonce, created + skew_s):
        raise _refuse("replayed", f"重放的请求 / nonce already used by {key_id!r} (replay)")
    return VerifiedRequest(
        key_id=key_id, node_code=key_id.partition("#")[0], created=created, nonce=nonce
    )
