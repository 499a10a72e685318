"""Attachment bytes on disk, content-addressed and encrypted (issue 11 item 5, issue 13 item 1;
docs/evidence.md, docs/privacy.md "Attachments").

A blob is named by the SHA-256 of its *plain* bytes — the name the network uses to ask for and
send it — and lives under the node's home at ``evidence/<first two hex digits>/<the other 62>``.
The file holds the bytes sealed under the node's data key (``node.privacy.blobs``: AES-256-GCM,
the name bound as associated data), so no file under the home holds a complainant's data in
plain text. ``read_blob`` is the only way to the bytes: it opens the file and checks that what it
opened hashes to the name, so it never returns other bytes than those the name promises. A file
stored before blobs were encrypted (no header) is still read, checked by its hash.

A blob is written atomically — a temporary file in the same directory, flushed and fsynced,
renamed into place, the directory fsynced — *before* the row that names it commits, so a
committed row never names a half-written file. A crash between the two leaves at worst an
unnamed blob (harmless: the same bytes, uploaded or received again, land on the same name). The
same file attached to two cases is stored once.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from node.privacy import (
                          BlobDir,
                          DataKeyError,
                          Keyring,
                          blob_aad,
                          is_sealed,
                          keyring_of,
                          open_blob,
                          seal_bytes,
                          write_atomic,
)
from node.runtime import Node

DIRECTORY = "evidence"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def root(node: Node) -> Path:
    return node.config.home_path / DIRECTORY


def blob_dir(node: Node) -> BlobDir:
    """The evidence directory as ``key rotate-data`` walks it."""
    return BlobDir(root(node))


def blob_path(node: Node, sha256: str) -> Path:
    """Where the blob's *sealed* file lives; read its bytes with ``read_blob`` only."""
    if not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
    return root(node) / sha256[:2] / sha256[2:]


def has_blob(node: Node, sha256: str) -> bool:
    return SHA256_RE.match(sha256) is not None and blob_path(node, sha256).is_file()


def read_blob(node: Node, sha256: str) -> bytes:
    """The plain bytes of the blob named ``sha256``; ``DataKeyError`` (one line naming the blob)
    when the file does not open under the node's keys or does not hash to its name."""
    return open_blob(keyring_of(node.db), blob_path(node, sha256).read_bytes(), sha256)


def write_blob(node: Node, data: bytes, sha256: str | None = None) -> str:
    """Seal ``data`` under the node's data key and store it under the SHA-256 of ``data``
    (atomically) and return the name. With ``sha256`` given, bytes that do not hash to it are
    refused. A blob already sealed that opens is left alone; one stored in plain before
    encryption, or one that no longer opens, is replaced by the sealed form of ``data``."""
    name = digest(data)
    if sha256 is not None and name != sha256:
        raise ValueError(f"bytes hash to {name}, not {sha256}")
    path = blob_path(node, name)
    ring = keyring_of(node.db)
    if path.is_file() and _sound(ring, path, name):
        return name
    write_atomic(path, seal_bytes(ring, data, blob_aad(name)))
    return name


def _sound(ring: Keyring, path: Path, name: str) -> bool:
    stored = path.read_bytes()
    if not is_sealed(stored):
        return False
    try:
        open_blob(ring, stored, name)
    except DataKeyError:
        return False
    return True


def blob_files(node: Node) -> list[Path]:
    """Every stored blob (tests and operators: what is on disk)."""
    return [p for _name, p in blob_dir(node).files()]
