"""Sealing personal data in transit (issue 13 item 2; CONTRACT §11; docs/privacy-sealing.md).

Each node holds an X25519 encryption key ("seal key") beside its Ed25519 signing keys:
``<home>/keys/seal-key-<n>.pem`` (PKCS#8, mode 0600), the highest ``n`` current. Rotation adds
``n + 1`` and keeps every older file, so envelopes sealed before still open.

An envelope seals one JSON object (the personal part of a case) to a set of nodes::

    {"v": 1, "suite": "hpke-base-x25519-sha256-aes256gcm", "case_id": "…",
     "to": [{"node": "440300", "key": "<fingerprint>", "wrap": "<b64 HPKE enc||ct>"}, …],
     "nonce": "<b64 12 bytes>", "ct": "<b64 AES-256-GCM ciphertext>"}

The content is encrypted once under a fresh random 256-bit content key (AES-256-GCM, the
header as associated data); the content key is wrapped for each recipient with HPKE base mode
(RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) from ``cryptography`` — one
fresh ephemeral key per recipient wrap, ``info`` binding the wrap to the case and the
recipient. Nothing here invents a cipher.

This module knows no case columns: ``node.routing.sealed`` decides what is personal and who
may read it. It imports no other domain (``node.privacy`` rule).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from federation import keys as fkeys

__all__ = ["SUITE_NAME", "SealError", "current_seal_public", "ensure_seal_key", "fingerprint", "learn_seal_key",
           "open_envelope", "own_seal_keys", "peer_seal_key", "publish_rotated_key", "recipients_of",
           "rotate_seal_key", "seal", "seal_key_files"]

SUITE_NAME = "hpke-base-x25519-sha256-aes256gcm"
_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_INFO = b"n12315 case seal v1|"
_FILE = re.compile(r"seal-key-([1-9][0-9]*)\.pem")
_LOCK = threading.Lock()
# home path -> (mtime of its keys folder, {fingerprint: private key}, current public key).
# Every case document names this node's current seal key (issue 15 item 1: reading and
# deriving it per request was a measurable share of an intake), so it is held in memory; the
# folder's mtime changes when ``key rotate-seal`` (another process) adds a file, and a running
# node then reloads: one stat per use instead of reading the files.
_CACHE: dict[str, tuple[int, dict[str, X25519PrivateKey], str | None]] = {}
_RACY_NS = 2_000_000_000


class SealError(Exception):
    """An envelope or seal key that cannot be used; ``message`` is Chinese first, then English,
    and never holds any of the sealed data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- keys -----------------------------------------------------------------------------------------
def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(key: X25519PrivateKey) -> str:
    return base64.b64encode(_raw_public(key.public_key())).decode("ascii")


def fingerprint(public_key_b64: str) -> str:
    """A short name of a public seal key (hex SHA-256 of the raw 32 bytes, first 16 digits):
    recipients name the key they were sealed to, so a rotated node picks the right one."""
    return hashlib.sha256(_decode_public(public_key_b64)).hexdigest()[:16]


def _decode_public(public_key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SealError("bad_key", "加密公钥不是合法 base64 / seal key is not valid base64") from None
    if len(raw) != 32:
        raise SealError("bad_key", f"加密公钥须为 32 字节 / seal key must be 32 bytes, got {len(raw)}")
    return raw


def seal_key_files(home: str | os.PathLike[str]) -> dict[int, Path]:
    """``n -> path`` of every seal key file of a home (old ones included)."""
    folder = Path(home) / "keys"
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.iterdir():
        m = _FILE.fullmatch(path.name)
        if m:
            out[int(m.group(1))] = path
    return dict(sorted(out.items()))


def _write_key(path: Path, key: X25519PrivateKey) -> None:
    """The signing key's writer: 0600 from the first byte, never over an existing key, the file
    and its directory entry synced."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    try:
        fkeys.save_private_key(path, key)
    except fkeys.KeyFileError as exc:
        raise SealError("key_file", f"无法写入密钥文件 / {exc}") from None


def _read_key(path: Path) -> X25519PrivateKey:
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SealError("key_file", f"密钥文件 {path} 权限过宽 / key file {path} has mode "
                                            f"{stat.S_IMODE(mode):04o}; run 'chmod 600 {path}'")
            data = handle.read()
        key = serialization.load_pem_private_key(data, password=None)
    except OSError as exc:
        raise SealError("key_file", f"无法读取密钥文件 {path} / cannot read key file {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise SealError("key_file", f"密钥文件 {path} 已损坏 / key file {path} is corrupt") from None
    if not isinstance(key, X25519PrivateKey):
        raise SealError("key_file", f"密钥文件 {path} 不是 X25519 密钥 / {path} is not an X25519 key")
    return key


def ensure_seal_key(home: str | os.PathLike[str]) -> bool:
    """Create ``seal-key-1.pem`` when the home has no seal key (``init``; the first open of a
    home made by an older release). True when one was created."""
    with _LOCK:
        if seal_key_files(home):
            return False
        _write_key(Path(home) / "keys" / "seal-key-1.pem", X25519PrivateKey.generate())
        _CACHE.pop(str(home), None)
        return True


def rotate_seal_key(home: str | os.PathLike[str]) -> tuple[int, str]:
    """Start seal key ``n + 1``, keeping the old ones (envelopes sealed to them still open);
    returns ``(n + 1, its public key)``."""
    with _LOCK:
        files = seal_key_files(home)
        n = (max(files) if files else 0) + 1
        key = X25519PrivateKey.generate()
        _write_key(Path(home) / "keys" / f"seal-key-{n}.pem", key)
        _CACHE.pop(str(home), None)
        return n, public_b64(key)


def _keys_state(home: str | os.PathLike[str]) -> tuple[int, dict[str, X25519PrivateKey], str | None]:
    """``(keys folder mtime, keys by fingerprint, current public key)``, reloaded when the
    folder changed. The stat comes before the files are read, so a rotation in between makes
    the next call reload rather than keep a stale set."""
    where = str(home)
    try:
        stamp = os.stat(Path(home) / "keys").st_mtime_ns
    except OSError:
        stamp = -1   # no keys folder (yet): an empty set until one appears
    cached = _CACHE.get(where)
    if cached is not None and cached[0] == stamp:
        return cached
    keys: dict[str, X25519PrivateKey] = {}
    try:
        for path in seal_key_files(home).values():
            key = _read_key(path)
            keys[fingerprint(public_b64(key))] = key
    except SealError:
        if cached is None:
            raise
        # a rotation caught between creating its file and writing it (O_EXCL, then the PEM):
        # keep the set we had; the stamp stays old, so the next call reads the folder again
        return cached
    if time.time_ns() - stamp < _RACY_NS:
        # the folder changed moments ago: a file added within the same timestamp tick would
        # leave its mtime as it is now, so this set is not trusted until the stamp is older
        # (git's "racily clean" index entries, the same trap)
        stamp = -2
    state = (stamp, keys, public_b64(list(keys.values())[-1]) if keys else None)
    with _LOCK:
        _CACHE[where] = state
    return state


def own_seal_keys(home: str | os.PathLike[str]) -> dict[str, X25519PrivateKey]:
    """Every private seal key of a home by fingerprint, current last."""
    return _keys_state(home)[1]


def current_seal_public(home: str | os.PathLike[str]) -> str | None:
    """The public half of the current seal key (base64 of the raw 32 bytes), or None."""
    return _keys_state(home)[2]


# -- envelopes ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SealError("malformed", f"密封件 {what} 格式错误 / envelope {what} is not base64") from None


def _header(case_id: str, to: Iterable[Mapping[str, Any]]) -> bytes:
    head = {"v": 1, "suite": SUITE_NAME, "case_id": case_id,
            "to": [[str(r["node"]), str(r["key"])] for r in to]}
    return json.dumps(head, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _info(case_id: str, node: str) -> bytes:
    return _INFO + case_id.encode("utf-8") + b"|" + node.encode("utf-8")


def seal(case_id: str, content: Mapping[str, Any], recipients: Mapping[str, str]) -> dict[str, Any]:
    """Seal ``content`` (a JSON object) for ``recipients`` (node code -> public seal key)."""
    if not recipients:
        raise SealError("no_recipient", "密封件须至少有一个收件节点 / an envelope needs a recipient")
    content_key = AESGCM.generate_key(bit_length=256)
    to = []
    for code, pub in recipients.items():
        public = X25519PublicKey.from_public_bytes(_decode_public(pub))
        to.append({"node": code, "key": fingerprint(pub),
                   "wrap": _b64(_SUITE.encrypt(content_key, public, info=_info(case_id, code)))})
    nonce = os.urandom(12)
    plain = json.dumps(dict(content), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ct = AESGCM(content_key).encrypt(nonce, plain, _header(case_id, to))
    return {"v": 1, "suite": SUITE_NAME, "case_id": case_id, "to": to, "nonce": _b64(nonce), "ct": _b64(ct)}


def recipients_of(envelope: Any) -> list[str]:
    """The node codes an envelope is sealed to ([] for anything that is not an envelope)."""
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("to"), list):
        return []
    return [str(r.get("node")) for r in envelope["to"] if isinstance(r, Mapping)]


def open_envelope(envelope: Any, case_id: str, code: str,
                  keys: Mapping[str, X25519PrivateKey]) -> dict[str, Any] | None:
    """The sealed object if ``code`` is a recipient and holds the key it was sealed to; None
    when it is not a recipient. ``SealError`` for an envelope that is malformed, for another
    case, or altered (AES-GCM / HPKE authentication fails)."""
    if not isinstance(envelope, Mapping) or envelope.get("v") != 1 or envelope.get("suite") != SUITE_NAME:
        raise SealError("malformed", "密封件版本或算法未知 / envelope version or suite unknown")
    if envelope.get("case_id") != case_id:
        raise SealError("wrong_case", "密封件不属于此案件 / envelope belongs to another case")
    to = envelope.get("to")
    if not isinstance(to, list) or not all(isinstance(r, Mapping) and {"node", "key", "wrap"} <= set(r) for r in to):
        raise SealError("malformed", "密封件收件人列表格式错误 / envelope recipient list is malformed")
    mine = [r for r in to if r["node"] == code]
    if not mine:
        return None
    entry = mine[0]
    private = keys.get(str(entry["key"]))
    if private is None:
        raise SealError("no_key", f"本节点没有密封所用的密钥 {entry['key']} / this node lacks the seal key "
                                  f"{entry['key']} the envelope was sealed to")
    try:
        content_key = _SUITE.decrypt(_unb64(entry["wrap"], "wrap"), private, info=_info(case_id, code))
        plain = AESGCM(content_key).decrypt(_unb64(envelope.get("nonce"), "nonce"),
                                            _unb64(envelope.get("ct"), "ct"), _header(case_id, to))
    except (InvalidTag, ValueError) as exc:
        raise SealError("tampered", "密封件校验失败（已损坏或被篡改）/ envelope fails authentication "
                                    f"(damaged or altered): {type(exc).__name__}") from None
    try:
        value = json.loads(plain)
    except ValueError:
        raise SealError("malformed", "密封内容不是 JSON / sealed content is not JSON") from None
    if not isinstance(value, dict):
        raise SealError("malformed", "密封内容须为对象 / sealed content must be an object")
    return value


# -- who can receive sealed data: peers' seal keys --------------------------------------------------
# (node home, peer code) -> public seal key learned from a signed document; saves a query per hop
# (keyed by home, not code: the test harness runs several networks with the same codes in one process)
_LEARNED: dict[tuple[str, str], str] = {}
_LEARNED_KEY = "seal_key:"


def peer_seal_key(own_code: str, home: str | os.PathLike[str], code: str) -> str | None:
    """The public seal key to seal to ``code`` (bound database): our own current key; else the
    newest one learned from a document ``code`` signed (``learn_seal_key``: rotations reach
    peers this way); else the ``seal_key`` of its signed node record. None: ``code`` cannot
    receive sealed data (unknown here, or a record of an earlier release)."""
    from federation.models import LocalState, NodeRecord
    if code == own_code:
        return current_seal_public(home)
    slot = (str(home), code)
    learned = _LEARNED.get(slot)
    if learned is None:
        learned = LocalState.get_value(_LEARNED_KEY + code)
        if learned:
            _LEARNED[slot] = learned
    if learned:
        return learned
    row = NodeRecord.get_or_none(NodeRecord.code == code)
    if row is None:
        return None
    try:
        value = json.loads(row.body).get("seal_key")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def learn_seal_key(own_code: str, home: str | os.PathLike[str], code: str, key: Any) -> None:
    """Remember ``code``'s current seal key, read from a document ``code`` signed and the
    replication layer verified (bound database, inside the caller's transaction)."""
    from federation.models import LocalState
    slot = (str(home), code)
    if not isinstance(key, str) or code == own_code or _LEARNED.get(slot) == key:
        return
    try:
        _decode_public(key)
    except SealError:
        return
    LocalState.put(_LEARNED_KEY + code, key)
    _LEARNED[slot] = key


def publish_rotated_key(keypair: Any, seal_key: str, now: Any) -> bool:
    """After ``rotate_seal_key``: a root node (self-signed record) re-signs its record with the
    new key, and its children get the changed chain. A node whose record its parent signed
    keeps that record (it names the previous key, which still opens); peers learn the new key
    from the ``sealer`` of every case document it sends. True when the record was re-signed."""
    from federation import trust
    from federation.canonical import canonical_bytes
    from federation.models import LocalState, NodeRecord
    from federation.records import format_time, make_record, sign_record
    record = trust.own_record()
    if record is None or record.get("issuer") is not None:
        return False
    fresh = sign_record(make_record(code=record["code"], level=record["level"], name=record["name"],
                                    url=record["url"], key_id=keypair.key_id, public_key=keypair.public_b64,
                                    issuer=None, issued_at=now, seal_key=seal_key), keypair)
    body = canonical_bytes(fresh).decode("utf-8")
    with trust.write_tx():
        NodeRecord.update(body=body, key_id=keypair.key_id, updated_at=now).where(
            NodeRecord.code == record["code"]).execute()
        LocalState.put(trust.CHAIN_CHANGED_AT, format_time(now))
    return True
