"""Attachment bytes on disk, content-addressed (issue 11 item 5; docs/evidence.md).

A blob is named by the SHA-256 of its bytes and lives under the node's home at
``evidence/<first two hex digits>/<the other 62>``. It is written atomically — a temporary
file in the same directory, flushed and fsynced, renamed into place, the directory fsynced —
*before* the row that names it commits, so a committed row never names a half-written file.
A crash between the two leaves at worst an unnamed blob (harmless: the same bytes, uploaded
or received again, land on the same name). Blobs are never changed; the same file attached to
two cases is stored once.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from node.runtime import Node

DIRECTORY = "evidence"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def root(node: Node) -> Path:
    return node.config.home_path / DIRECTORY


def blob_path(node: Node, sha256: str) -> Path:
    if not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
    return root(node) / sha256[:2] / sha256[2:]


def has_blob(node: Node, sha256: str) -> bool:
    return SHA256_RE.match(sha256) is not None and blob_path(node, sha256).is_file()


def read_blob(node: Node, sha256: str) -> bytes:
    return blob_path(node, sha256).read_bytes()


def write_blob(node: Node, data: bytes, sha256: str | None = None) -> str:
    """Store ``data`` under its SHA-256 (atomically; nothing done when it is already there)
    and return the name. With ``sha256`` given, bytes that do not hash to it are refused."""
    name = digest(data)
    if sha256 is not None and name != sha256:
        raise ValueError(f"bytes hash to {name}, not {sha256}")
    path = blob_path(node, name)
    if path.is_file():
        return name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return name


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:   # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blob_files(node: Node) -> list[Path]:
    """Every stored blob (tests and operators: what is on disk)."""
    base = root(node)
    if not base.exists():
        return []
    return sorted(p for p in base.glob("*/*") if p.is_file() and not p.name.startswith(".tmp-"))
