"""Node keys (CONTRACT §2-3, RELIABILITY rule 14): key file, key ids, sign and verify."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from federation import keys


def test_generate_sign_verify() -> None:
    pair = keys.generate_keypair("440305#1")
    assert len(base64.b64decode(pair.public_b64)) == 32
    sig = keys.sign(pair.private, b"hello")
    assert keys.verify(pair.public_b64, b"hello", sig)
    assert not keys.verify(pair.public_b64, b"hellO", sig)
    assert not keys.verify(keys.generate_keypair("440305#2").public_b64, b"hello", sig)


@pytest.mark.parametrize("sig", ["", "not base64!", base64.b64encode(b"x" * 63).decode()])
def test_verify_false_on_malformed_signature(sig: str) -> None:
    pair = keys.generate_keypair("440305#1")
    assert keys.verify(pair.public_b64, b"hello", sig) is False


@pytest.mark.parametrize(
    ("public_b64", "message"),
    [
        (base64.b64encode(b"x" * 31).decode(), "must be 32 bytes, got 31"),
        (base64.b64encode(b"x" * 33).decode(), "must be 32 bytes, got 33"),
        ("%%%", "not valid base64"),
    ],
)
def test_public_from_b64_refuses_bad_keys(public_b64: str, message: str) -> None:
    with pytest.raises(keys.KeyFormatError, match=message):
        keys.public_from_b64(public_b64)


def test_key_file_mode_0600_and_roundtrip(tmp_path: Path) -> None:
    pair = keys.generate_keypair("440305#1")
    path = tmp_path / "node.key"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        keys.save_private_key(path, pair.private)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = keys.load_private_key(path)
    assert keys.keypair_from_private("440305#1", loaded).public_b64 == pair.public_b64


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    keys.save_private_key(path, keys.generate_keypair("440305#1").private)
    before = path.read_bytes()
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.save_private_key(path, keys.generate_keypair("440305#1").private)
    assert path.read_bytes() == before


def _x25519_pem() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage", "is corrupt (not a valid PEM private key)"),
        (b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\n", "is corrupt"),
        (b"", "is corrupt"),
        (None, "holds a X25519PrivateKey, not an Ed25519 key"),
    ],
)
def test_corrupt_key_file_clear_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(_x25519_pem() if content is None else content)
    path.chmod(0o600)
    with pytest.raises(keys.KeyFileError, match=re.escape(message)) as info:
        keys.load_private_key(path)
    assert "\n" not in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyFileError, match="key file not found: .*nope.key"):
        keys.load_private_key(tmp_path / "nope.key")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_readable_by_others_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    keys.save_private_key(path, keys.generate_keypair("440305#1").private)
    path.chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="has mode 0644; run 'chmod 600"):
        keys.load_private_key(path)


@pytest.mark.parametrize(
    ("key_id", "parts"),
    [("440305#1", ("440305", 1)), ("000000#12", ("000000", 12)), ("440305001#3", ("440305001", 3))],
)
def test_key_ids(key_id: str, parts: tuple[str, int]) -> None:
    assert keys.parse_key_id(key_id) == parts
    assert keys.make_key_id(*parts) == key_id


@pytest.mark.parametrize(
    "key_id", ["440305", "440305#0", "440305#01", "44030#1", "440305#1#2", "x#1"]
)
def test_bad_key_ids(key_id: str) -> None:
    with pytest.raises(keys.KeyFormatError, match="key id must look like '440305#1'"):
        keys.parse_key_id(key_id)
