"""Evidence attachment bytes encrypted at rest (issue 13 item 1 "At rest"; docs/privacy.md
"Attachments").

A stored blob is ``MAGIC ‖ version ‖ len(kid) ‖ kid ‖ nonce ‖ AES-256-GCM(ciphertext ‖ tag)``:
the same AESGCM subkey of the node's data key that seals the text fields (``fields.py``), a
random 96-bit nonce per write, and as associated data the header followed by
``n12315:evidence/<sha256>`` — so a file copied or moved to another blob's name, or given another
key id in its header, does not open. The file keeps the name the network knows it by (the
SHA-256 of the *plain* bytes, ``node.evidence.store``); after opening, the bytes are hashed
again, so a blob is returned only if it is exactly what its name says.

A file without ``MAGIC`` is an attachment stored before blobs were encrypted: it is read as it
is (the hash check still applies) and sealed by ``n12315 key rotate-data`` or when the same
bytes are stored again. ``MAGIC`` begins with a NUL byte, which none of the accepted kinds (JPEG,
PNG, WebP, PDF, UTF-8 text without control characters) can begin with.

``BlobDir`` is the evidence directory as ``rotate-data`` sees it: count the blobs not yet under a
key, and re-seal them one by one (each an atomic replace, so a run stopped anywhere leaves every
file whole, under the old key or the new).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from node.privacy.fields import open_under
from node.privacy.keys import DataKey, DataKeyError, Keyring

MAGIC = b"\x00N12315B"
VERSION = 1
NONCE_BYTES = 12
_KID = re.compile(rb"^[a-z0-9]{1,16}$")
_HEAD_MAX = len(MAGIC) + 2 + 16
_NAME = re.compile(r"^[0-9a-f]{64}$")
BATCH = 100          # blobs between two progress/interrupt checks of ``rotate-data``


def blob_aad(sha256: str) -> bytes:
    """The associated data binding a sealed blob to its name."""
    return f"n12315:evidence/{sha256}".encode()


def is_sealed(stored: bytes) -> bool:
    return stored[:len(MAGIC)] == MAGIC


def kid_of(stored: bytes) -> str | None:
    """The key id in a sealed blob's header (``None``: a plain blob, or a header that is broken)."""
    if not is_sealed(stored) or len(stored) < len(MAGIC) + 2:
        return None
    n = stored[len(MAGIC) + 1]
    kid = stored[len(MAGIC) + 2:len(MAGIC) + 2 + n]
    return kid.decode("ascii") if _KID.match(kid) else None


def _header(kid: str) -> bytes:
    raw = kid.encode("ascii")
    return MAGIC + bytes([VERSION, len(raw)]) + raw


def seal_bytes(keyring: Keyring, plain: bytes, aad: bytes, *, key: DataKey | None = None) -> bytes:
    """``plain`` sealed under the keyring's current key (or ``key``: a rotation's target)."""
    key = key or keyring.current
    head = _header(key.kid)
    nonce = os.urandom(NONCE_BYTES)
    return head + nonce + key.aead.encrypt(nonce, plain, head + aad)


def open_bytes(keyring: Keyring, stored: bytes, aad: bytes) -> bytes:
    """The plain bytes of a sealed blob; a blob without ``MAGIC`` is returned as it is (stored
    before blobs were encrypted: the caller checks its hash). Raises ``DataKeyError`` — one line
    naming the blob and the key id — for a broken header, an unknown key, changed or moved bytes."""
    where = aad.decode(errors="replace").removeprefix("n12315:")
    if not is_sealed(stored):
        return stored
    kid = kid_of(stored)
    if kid is None or stored[len(MAGIC)] != VERSION:
        raise DataKeyError(f"附件 {where} 的加密文件头损坏 / the encrypted attachment {where} has a broken header",
                           "data_corrupt")
    head = _header(kid)
    body = stored[len(head):]
    return open_under(keyring, kid, body, head + aad, f"附件 {where} ", f"the attachment {where}")


def open_blob(keyring: Keyring, stored: bytes, sha256: str) -> bytes:
    """The plain bytes of the blob named ``sha256``, only if they hash to that name."""
    try:
        plain = open_bytes(keyring, stored, blob_aad(sha256))
    except DataKeyError:
        # a pre-encryption blob that happens to begin with MAGIC (bytes relayed by a peer): its
        # own hash vouches for it
        if hashlib.sha256(stored).hexdigest() == sha256:
            return stored
        raise
    if hashlib.sha256(plain).hexdigest() != sha256:
        raise DataKeyError(f"附件 evidence/{sha256} 的内容与其 SHA-256 不符：文件损坏或被改动 / the attachment "
                           f"evidence/{sha256} does not hash to its name: the file is damaged or was changed",
                           "data_corrupt")
    return plain


def write_atomic(path: Path, data: bytes) -> None:
    """A temporary file in the same directory, flushed and fsynced, renamed into place, the
    directory fsynced: a reader (or a crash) sees the old file or the new, never half of one."""
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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:   # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_HEAD_MAX)


class BlobDir:
    """The evidence directory ``<root>/<2 hex>/<62 hex>`` for ``rotate-data``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def files(self) -> list[tuple[str, Path]]:
        """``(sha256, path)`` of every stored blob (temporary files of a write in progress left out)."""
        if not self.root.exists():
            return []
        out = []
        for p in sorted(self.root.glob("*/*")):
            name = p.parent.name + p.name
            if p.is_file() and _NAME.match(name):
                out.append((name, p))
        return out

    def pending(self, target: str) -> list[tuple[str, Path]]:
        """Blobs not sealed under key ``target`` (plain ones included)."""
        return [(name, p) for name, p in self.files() if kid_of(_head(p)) != target]

    def reseal(self, ring: Keyring, target: DataKey, *, batch: int = BATCH,
               progress: Callable[[int], None] | None = None, after_batch: Callable[[], None] | None = None) -> int:
        """Seal every pending blob under ``target``; how many were rewritten. A blob that does
        not open or does not hash to its name stops the run with its error (nothing is lost:
        the old key stays until a run finds nothing pending)."""
        done = 0
        for name, path in self.pending(target.kid):
            stored = path.read_bytes()
            if kid_of(stored) == target.kid:    # sealed by serve since the listing
                continue
            plain = open_blob(ring, stored, name)
            write_atomic(path, seal_bytes(ring, plain, blob_aad(name), key=target))
            done += 1
            if progress is not None:
                progress(1)
            if after_batch is not None and done % batch == 0:
                after_batch()
        return done
