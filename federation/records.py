"""Signed node records and key-rotation statements, and the chain check over them.

Serves RELIABILITY rule 15 (trust chain: HQ signs province records, provinces sign
prefectures and so on; a record names the region its holder may speak for), rule 14 / F11
(keys rotate; a rotation statement carries trust from the old key to the new one), F14 (a
node speaks only for its own subtree: a record's code must lie within its issuer's),
CONTRACT §3 (``link join`` hands the child "the certificate chain up to the root") and R7.1.

Python ``cryptography`` refuses Ed25519 X.509 chains in its verifier, so the certificate
form is a signed JSON record (``federation.docsign`` over canonical JSON)::

    {"type": "node-record", "v": 1,
     "code": "440305", "level": "county", "name": "…", "url": "https://…",
     "key_id": "440305#1", "public_key": "<base64 raw 32 bytes>",
     "scope": "440305",          # the region its holder may speak for: its own code
     "issuer": "440300",         # the parent that signed it; null for a self-signed root
     "issued_at": "2026-09-29T02:00:00+00:00",
     "seal_key": "<base64 raw 32 bytes>",   # optional: X25519 key personal data is sealed to
     "sig": {"key_id": "440300#1", "alg": "ed25519", "value": "…"}}

``seal_key`` (issue 13 item 2, docs/privacy-sealing.md) was added later: records without it
(made by an earlier release) verify and are accepted as before; their node simply cannot
receive sealed personal data.

A key-rotation statement is signed by the holder's previous key and names the new one::

    {"type": "key-rotation", "v": 1, "code": "440305", "key_id": "440305#2",
     "public_key": "…", "previous_key_id": "440305#1", "issued_at": "…", "sig": {…}}

Everything here is pure: no database, no clock; the division table is injected as
``is_within(code, ancestor)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from federation import docsign, keys
from federation.canonical import canonical_bytes

__all__ = [
    "LEVELS",
    "RECORD_TYPE",
    "ROTATION_TYPE",
    "IsWithin",
    "SignatureCache",
    "TrustError",
    "format_time",
    "make_record",
    "make_rotation",
    "parse_time",
    "record_digest",
    "sign_record",
    "verify_chain",
]

RECORD_TYPE = "node-record"
ROTATION_TYPE = "key-rotation"
VERSION = 1
LEVELS = ("hq", "province", "prefecture", "county", "station")
#: How far in the future an ``issued_at`` may lie (clock skew between bureaus, rule 13).
ISSUED_AT_SKEW = timedelta(minutes=5)

#: ``is_within(code, ancestor)``: True when ``code`` lies in ``ancestor``'s region
#: (reflexive). The national division table decides; unknown codes are within nothing.
IsWithin = Callable[[str, str], bool]

_RECORD_FIELDS = frozenset(
    {"type", "v", "code", "level", "name", "url", "key_id", "public_key", "scope", "issuer",
     "issued_at", "sig"}
)
#: optional record fields (absent in records of earlier releases)
_OPTIONAL_RECORD_FIELDS = frozenset({"seal_key"})
_ROTATION_FIELDS = frozenset(
    {"type", "v", "code", "key_id", "public_key", "previous_key_id", "issued_at", "sig"}
)


class TrustError(Exception):
    """A record, chain, revocation list or document refused by the trust rules.

    ``code`` is stable for machines: ``malformed``, ``bad_signature``, ``unknown_anchor``,
    ``outside_region``, ``cycle``, ``conflict``, ``revoked``, ``future``, ``stale_list``,
    ``expired_list``, ``outside_subtree``, ``not_for_me``, ``loop``, ``no_record``,
    ``not_allowed``. ``message`` is Chinese first, then English.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SignatureCache(Protocol):
    """Remembers signatures already checked, keyed by a digest of record and key."""

    def seen(self, digest: str) -> bool: ...

    def add(self, digest: str) -> None: ...


def format_time(at: datetime) -> str:
    """``at`` as ISO 8601 in UTC with its offset, to the second (the wire form)."""
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(value: object, field: str) -> datetime:
    """Parse an ISO 8601 time with an offset; ``TrustError('malformed')`` otherwise."""
    if not isinstance(value, str):
        raise TrustError("malformed", f"{field} 须为时间字符串 / {field} must be an ISO 8601 string")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise TrustError("malformed", f"{field} 时间格式错误 / {field} is not ISO 8601: {value!r}") from None
    if at.tzinfo is None:
        raise TrustError("malformed", f"{field} 缺少时区 / {field} has no UTC offset")
    return at


def _code_of(key_id: str) -> str:
    return keys.parse_key_id(key_id)[0]


def make_record(
    *,
    code: str,
    level: str,
    name: str,
    url: str,
    key_id: str,
    public_key: str,
    issuer: str | None,
    issued_at: datetime,
    seal_key: str | None = None,
) -> dict[str, Any]:
    """Build an unsigned node record; its ``scope`` is its own ``code``; ``seal_key`` the
    node's X25519 public key for sealed personal data (issue 13 item 2), when it has one."""
    record: dict[str, Any] = {
        "type": RECORD_TYPE,
        "v": VERSION,
        "code": code,
        "level": level,
        "name": name,
        "url": url,
        "key_id": key_id,
        "public_key": public_key,
        "scope": code,
        "issuer": issuer,
        "issued_at": format_time(issued_at),
    }
    if seal_key is not None:
        record["seal_key"] = seal_key
    _check_record_shape({**record, "sig": {}}, check_sig=False)
    return record


def sign_record(record: Mapping[str, Any], issuer_keypair: keys.KeyPair) -> dict[str, Any]:
    """Sign ``record`` with the issuer's key (a root signs itself).

    The key must belong to the record's ``issuer`` (or, for a root, to the record's own
    code), or the record would never verify; refusing here finds the mistake early.
    """
    signer = _code_of(issuer_keypair.key_id)
    expected = record.get("issuer") or record.get("code")
    if signer != expected:
        raise ValueError(f"record for {record.get('code')} must be signed by {expected}, not {signer}")
    return docsign.sign_document(record, issuer_keypair)


def make_rotation(
    previous: keys.KeyPair, new_key_id: str, new_public_key: str, issued_at: datetime
) -> dict[str, Any]:
    """A key-rotation statement for ``new_key_id``, signed by the ``previous`` key."""
    code = _code_of(previous.key_id)
    if _code_of(new_key_id) != code:
        raise ValueError("a rotation stays within one node code")
    statement = {
        "type": ROTATION_TYPE,
        "v": VERSION,
        "code": code,
        "key_id": new_key_id,
        "public_key": new_public_key,
        "previous_key_id": previous.key_id,
        "issued_at": format_time(issued_at),
    }
    return docsign.sign_document(statement, previous)


def record_digest(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of a signed record (signature included)."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def _malformed(what: str, detail: str) -> TrustError:
    return TrustError("malformed", f"{what} 格式错误 / malformed {what}: {detail}")


def _check_key(what: str, key_id: object, public_key: object, code: str) -> None:
    if not isinstance(key_id, str) or not isinstance(public_key, str):
        raise _malformed(what, "key_id and public_key must be strings")
    try:
        key_code = _code_of(key_id)
        keys.public_from_b64(public_key)
    except keys.KeyFormatError as exc:
        raise _malformed(what, str(exc)) from None
    if key_code != code:
        raise _malformed(what, f"key {key_id} does not belong to {code}")


def _check_record_shape(record: Mapping[str, Any], *, check_sig: bool = True) -> None:
    if not isinstance(record, Mapping):
        raise _malformed("node record", "not a JSON object")
    if not _RECORD_FIELDS <= set(record) <= _RECORD_FIELDS | _OPTIONAL_RECORD_FIELDS:
        extra = sorted(set(record) - _RECORD_FIELDS - _OPTIONAL_RECORD_FIELDS)
        missing = sorted(_RECORD_FIELDS - set(record))
        raise _malformed("node record", f"unexpected {extra}, missing {missing}")
    if record["type"] != RECORD_TYPE or record["v"] != VERSION:
        raise _malformed("node record", f"type/v must be {RECORD_TYPE}/{VERSION}")
    code = record["code"]
    for name in ("code", "level", "name", "url", "scope", "issued_at"):
        if not isinstance(record[name], str):
            raise _malformed("node record", f"{name} must be a string")
    if not code.isascii() or not code.isdigit() or len(code) not in (6, 9):
        raise _malformed("node record", f"code {code!r} is not a node code")
    if record["level"] not in LEVELS:
        raise _malformed("node record", f"unknown level {record['level']!r}")
    if record["scope"] != code:
        raise _malformed("node record", f"scope {record['scope']!r} must equal its code {code}")
    issuer = record["issuer"]
    if issuer is not None and not isinstance(issuer, str):
        raise _malformed("node record", "issuer must be a code or null")
    _check_key("node record", record["key_id"], record["public_key"], code)
    parse_time(record["issued_at"], "issued_at")
    if "seal_key" in record and not _is_raw32_b64(record["seal_key"]):
        raise _malformed("node record", "seal_key must be the base64 of a raw 32-byte X25519 key")
    if check_sig and not isinstance(record["sig"], Mapping):
        raise _malformed("node record", "sig must be an object")


def _is_raw32_b64(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _check_rotation_shape(statement: Mapping[str, Any]) -> None:
    if set(statement) != _ROTATION_FIELDS:
        raise _malformed("key rotation", f"fields must be {sorted(_ROTATION_FIELDS)}")
    if statement["v"] != VERSION or not isinstance(statement["code"], str):
        raise _malformed("key rotation", "v must be 1 and code a string")
    code = statement["code"]
    _check_key("key rotation", statement["key_id"], statement["public_key"], code)
    previous = statement["previous_key_id"]
    if not isinstance(previous, str) or previous == statement["key_id"]:
        raise _malformed("key rotation", "previous_key_id must name another key")
    try:
        if _code_of(previous) != code:
            raise _malformed("key rotation", f"previous key {previous} does not belong to {code}")
    except keys.KeyFormatError as exc:
        raise _malformed("key rotation", str(exc)) from None
    parse_time(statement["issued_at"], "issued_at")
    if not isinstance(statement["sig"], Mapping):
        raise _malformed("key rotation", "sig must be an object")


def _signer(doc: Mapping[str, Any]) -> str:
    sig = doc["sig"]
    key_id = sig.get("key_id")
    if not isinstance(key_id, str):
        raise _malformed(str(doc.get("type")), "sig.key_id must be a string")
    try:
        keys.parse_key_id(key_id)
    except keys.KeyFormatError as exc:
        raise _malformed(str(doc.get("type")), str(exc)) from None
    return key_id


class _Verifier:
    """One ``verify_chain`` run: records by code, rotations by code, memo of results."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]],
        anchors: Mapping[str, str],
        is_within: IsWithin,
        now: datetime,
        cache: SignatureCache | None,
    ) -> None:
        self.anchors = anchors
        self.is_within = is_within
        self.latest = now + ISSUED_AT_SKEW
        self.cache = cache
        self.by_code: dict[str, Mapping[str, Any]] = {}
        self.rotations: dict[str, list[Mapping[str, Any]]] = {}
        for doc in records:
            if not isinstance(doc, Mapping):
                raise _malformed("chain", "every entry must be a JSON object")
            kind = doc.get("type")
            if kind == RECORD_TYPE:
                _check_record_shape(doc)
                code = doc["code"]
                held = self.by_code.get(code)
                if held is not None and held != doc:
                    raise TrustError(
                        "conflict",
                        f"同一节点 {code} 有两份不同的记录 / two different records for {code} "
                        "in one chain",
                    )
                self.by_code[code] = doc
            elif kind == ROTATION_TYPE:
                _check_rotation_shape(doc)
                self.rotations.setdefault(doc["code"], []).append(doc)
            else:
                raise _malformed("chain", f"unknown entry type {kind!r}")
            if parse_time(doc["issued_at"], "issued_at") > self.latest:
                raise TrustError(
                    "future",
                    f"{doc['code']} 的记录签发时间在未来 / record of {doc['code']} is issued in "
                    "the future (check the issuer's clock)",
                )
        self.verified: dict[str, bool] = {}
        self.in_progress: set[str] = set()
        self.key_memo: dict[str, dict[str, str]] = {}

    def check_signature(self, doc: Mapping[str, Any], key_id: str, public_b64: str) -> None:
        digest = ""
        if self.cache is not None:
            # Keyed by record and key together: "this record verifies under this key" is
            # true in every node of the process, so one cache may serve them all.
            digest = hashlib.sha256(canonical_bytes(doc) + b"\n" + public_b64.encode()).hexdigest()
            if self.cache.seen(digest):
                return
        try:
            docsign.verify_document(doc, lambda kid: public_b64 if kid == key_id else None)
        except docsign.DocumentSignatureError as exc:
            raise TrustError(
                "bad_signature", f"{doc.get('code')} 的签名无效 / {exc.message}"
            ) from None
        if self.cache is not None:
            self.cache.add(digest)

    def keys_of(self, code: str) -> dict[str, str]:
        """Key ids proven to belong to ``code``: its verified record's key, then rotations."""
        memo = self.key_memo.get(code)
        if memo is not None:
            return memo
        found: dict[str, str] = {}
        if code in self.by_code:
            self.verify(code)
            record = self.by_code[code]
            found[record["key_id"]] = record["public_key"]
        # Rotations may start from a key known only as an anchor (the node's record is
        # not in this batch), so look them up as chains are followed.
        pending = list(self.rotations.get(code, ()))
        progress = True
        while pending and progress:
            progress = False
            for statement in list(pending):
                previous = statement["previous_key_id"]
                public = found.get(previous) or self.anchors.get(previous)
                if public is None:
                    continue
                self.check_signature(statement, previous, public)
                found[statement["key_id"]] = statement["public_key"]
                pending.remove(statement)
                progress = True
        if pending:
            raise TrustError(
                "unknown_anchor",
                f"{code} 的密钥轮换无法追溯到已知密钥 / key rotation of {code} does not chain "
                f"to a known key ({pending[0]['previous_key_id']})",
            )
        self.key_memo[code] = found
        return found

    def signer_public(self, issuer: str, key_id: str) -> str | None:
        if _code_of(key_id) != issuer:
            return None
        anchored = self.anchors.get(key_id)
        if anchored is not None:
            return anchored
        if issuer in self.by_code or issuer in self.rotations:
            return self.keys_of(issuer).get(key_id)
        return None

    def verify(self, code: str) -> None:
        if self.verified.get(code):
            return
        if code in self.in_progress:
            raise TrustError("cycle", f"记录链存在环路 / the issuer chain loops through {code}")
        self.in_progress.add(code)
        record = self.by_code[code]
        key_id = _signer(record)
        issuer = record["issuer"]
        if issuer is None:
            # A self-signed root is trusted only as an anchor.
            if key_id != record["key_id"]:
                raise TrustError(
                    "bad_signature",
                    f"根记录 {code} 须由自身密钥签名 / root record {code} must be self-signed",
                )
            public = self.anchors.get(key_id)
            if public is None:
                raise TrustError(
                    "unknown_anchor",
                    f"根记录 {code} 的密钥不是信任锚 / root record {code} (key {key_id}) is not "
                    "a trust anchor",
                )
            if public != record["public_key"]:
                raise TrustError(
                    "bad_signature",
                    f"根记录 {code} 的公钥与信任锚不符 / root record {code} carries another key "
                    "than the anchor",
                )
        else:
            if issuer == code or not self.is_within(code, issuer):
                raise TrustError(
                    "outside_region",
                    f"{code} 不在签发者 {issuer} 的辖区内 / {code} is not within its issuer "
                    f"{issuer}'s region",
                )
            public = self.signer_public(issuer, key_id)
            if public is None:
                raise TrustError(
                    "unknown_anchor",
                    f"{code} 的签发密钥 {key_id} 无法追溯到信任锚 / issuer key {key_id} of "
                    f"{code} does not chain to a trust anchor",
                )
        self.check_signature(record, key_id, public)
        self.in_progress.discard(code)
        self.verified[code] = True


def verify_chain(
    records: Iterable[Mapping[str, Any]],
    anchors: Mapping[str, str],
    is_within: IsWithin,
    now: datetime,
    *,
    cache: SignatureCache | None = None,
) -> dict[str, dict[str, Any]]:
    """Verify node records (and key-rotation statements), in any order, back to anchors.

    ``anchors`` maps key ids already trusted to their public keys (only ``.get`` is
    used, so a lazy mapping works). Every record must be signed by a key of its issuer
    — the key of the issuer's record in ``records``, a key that record's key rotated to,
    or an anchor key of the issuer's code — and lie within the issuer's region; a root
    record (issuer null) must be self-signed by an anchor key. Returns ``{code: record}``
    for every node record; raises ``TrustError`` for the first one that fails.
    """
    verifier = _Verifier(records, anchors, is_within, now, cache)
    for code in verifier.by_code:
        verifier.verify(code)
    for code in verifier.rotations:
        verifier.keys_of(code)
    return {code: dict(record) for code, record in verifier.by_code.items()}

