"""Ed25519 node keys: generation, the private key file, key ids, signing and verifying.

Serves CONTRACT §2 (`init` creates keys, private key file mode 0600) and §3 (a node's
``public_key`` is the base64 of the raw 32-byte Ed25519 key), RELIABILITY rules 12 and 14
(keys rotate; old public keys stay resolvable by key id so archives verify) and R7.1.

A key id is ``<node code>#<n>``: the node code says who speaks, ``n`` which of its keys,
so a rotated-out key is still found for documents signed before the rotation (F11).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = [
    "KeyFileError",
    "KeyFormatError",
    "KeyPair",
    "KeyResolver",
    "generate_keypair",
    "keypair_from_private",
    "load_private_key",
    "make_key_id",
    "parse_key_id",
    "public_b64_of",
    "public_from_b64",
    "save_private_key",
    "sign",
    "verify",
]

#: Looks a key id up and returns its public key (base64 of the raw 32 bytes), or ``None``
#: when the key is unknown or revoked. Rotated-out keys must still resolve (rule 14).
KeyResolver = Callable[[str], str | None]

# Node codes are 6-digit divisions (HQ is 000000) or 9-digit stations (county + 3 digits).
_KEY_ID = re.compile(r"([0-9]{6}|[0-9]{9})#([1-9][0-9]*)")


class KeyFileError(Exception):
    """The private key file is missing, unreadable, corrupt or too open; one-line message."""


class KeyFormatError(ValueError):
    """A public key or key id is not in the expected form."""


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private: Ed25519PrivateKey
    public_b64: str


def make_key_id(code: str, n: int) -> str:
    """Return ``"<code>#<n>"``, checking both parts (``n`` counts from 1)."""
    key_id = f"{code}#{n}"
    parse_key_id(key_id)
    return key_id


def parse_key_id(key_id: str) -> tuple[str, int]:
    """Split ``"440305#1"`` into ``("440305", 1)``; raise ``KeyFormatError`` otherwise."""
    match = _KEY_ID.fullmatch(key_id)
    if match is None:
        raise KeyFormatError(f"key id must look like '440305#1', got {key_id!r}")
    return match.group(1), int(match.group(2))


def public_b64_of(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def keypair_from_private(key_id: str, private: Ed25519PrivateKey) -> KeyPair:
    return KeyPair(key_id=key_id, private=private, public_b64=public_b64_of(private))


def generate_keypair(key_id: str) -> KeyPair:
    return keypair_from_private(key_id, Ed25519PrivateKey.generate())


def save_private_key(path: str | os.PathLike[str], key: Ed25519PrivateKey | X25519PrivateKey) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM to a new file of mode 0600.

    The file is created with its final mode (never briefly readable by others) and
    never overwrites an existing key: losing a node's key would orphan its archive.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise KeyFileError(f"refusing to overwrite existing key file {os.fspath(path)}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {os.fspath(path)}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        # A half-written key would later read as "corrupt"; leave no file instead.
        os.unlink(path)
        raise
    # The new directory entry must survive power loss too, or the node loses its identity.
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an Ed25519 PKCS#8 PEM private key; raise ``KeyFileError`` with one line on error.

    A key file that group or others may read is refused, as OpenSSH does: a copied or
    restored key with loose permissions is a leak waiting to happen.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            if os.name == "posix":
                mode = os.fstat(handle.fileno()).st_mode
                if mode & (stat.S_IRWXG | stat.S_IRWXO):
                    raise KeyFileError(
                        f"key file {name} has mode {stat.S_IMODE(mode):04o}; run 'chmod 600 {name}'"
                    )
            data = handle.read()
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {name}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {name}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # cryptography's messages span several lines; the operator needs one.
        reason = "encrypted" if isinstance(exc, TypeError) else "not a valid PEM private key"
        raise KeyFileError(f"key file {name} is corrupt ({reason})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {name} holds a {type(key).__name__}, not an Ed25519 key")
    return key


@functools.lru_cache(maxsize=4096)
def public_from_b64(public_b64: str) -> Ed25519PublicKey:
    """Decode the base64 of a raw 32-byte Ed25519 public key.

    Cached: the same few peer keys are decoded on every request, and key objects are
    immutable.
    """
    try:
        raw = base64.b64decode(public_b64, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("public key is not valid base64") from None
    if len(raw) != 32:
        raise KeyFormatError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(private: Ed25519PrivateKey, data: bytes) -> str:
    """Return the standard base64 of the Ed25519 signature of ``data``."""
    return base64.b64encode(private.sign(data)).decode("ascii")


def verify(public_b64: str, data: bytes, sig_b64: str) -> bool:
    """True if ``sig_b64`` is a valid signature of ``data``; ``KeyFormatError`` for a bad key.

    A malformed key is raised rather than answered ``False``: it is our own data gone
    wrong, not a forged message, and hiding it would make every peer look like an attacker.
    """
    public = public_from_b64(public_b64)
    try:
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != 64:
        return False
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
