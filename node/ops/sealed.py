"""The encrypted container of a backup file (issue 13 item 7; docs/operations.md).

AES-256-GCM from ``cryptography`` in the segmented STREAM construction (Hoang, Reyhanitabar,
Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"):
the plaintext is cut into 1 MiB segments, each sealed under the nonce ``prefix ‖ counter ‖
last-flag``, with the file's header as associated data. A reordered, dropped or appended
segment, a truncated file, a changed header or a wrong passphrase all fail to open. The key
comes from the passphrase through scrypt (RFC 7914) with a random salt kept in the header.
A database of any size streams through: memory holds one segment.
"""
from __future__ import annotations

import base64
import io
import json
import os
import struct
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from node.errors import NodeError

MAGIC = b"N12315-BACKUP/1\n"
SEGMENT_BYTES = 1024 * 1024
SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}
_TAG = 16


def backup_error(message: str, code: str = "backup_error", status: int = 400) -> NodeError:
    return NodeError(status, code, message)


def _key(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    if not passphrase:
        raise backup_error("备份口令为空 / the backup passphrase is empty", "no_passphrase")
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(passphrase.encode())


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class SealedWriter(io.RawIOBase):
    """A write-only stream: what is written is sealed segment by segment into ``out``."""

    def __init__(self, out: BinaryIO, passphrase: str, meta: dict[str, Any]):
        super().__init__()
        salt, prefix = os.urandom(16), os.urandom(7)
        header = {**meta, "cipher": "AES-256-GCM/STREAM", "kdf": "scrypt", **SCRYPT,
                  "salt": base64.b64encode(salt).decode(), "nonce_prefix": base64.b64encode(prefix).decode(),
                  "segment_bytes": SEGMENT_BYTES}
        self._aad = MAGIC + json.dumps(header, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        self._aead = AESGCM(_key(passphrase, salt, SCRYPT))
        self._prefix, self._out, self._buf, self._counter = prefix, out, bytearray(), 0
        out.write(self._aad)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buf += data
        while len(self._buf) > SEGMENT_BYTES:   # keep the last bytes: the final segment is marked
            self._seal(bytes(self._buf[:SEGMENT_BYTES]), last=False)
            del self._buf[:SEGMENT_BYTES]
        return len(data)

    def _seal(self, chunk: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._aad)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buf), last=True)
            self._buf.clear()
            self._out.flush()
        super().close()


def read_header(fh: BinaryIO) -> tuple[dict[str, Any], bytes]:
    magic = fh.read(len(MAGIC))
    if magic != MAGIC:
        raise backup_error("不是 n12315 备份文件 / not an n12315 backup file", "not_a_backup")
    line = fh.readline(64 * 1024)
    try:
        header = json.loads(line)
    except ValueError:
        raise backup_error("备份文件头已损坏 / the backup header is damaged", "backup_damaged") from None
    return header, MAGIC + line


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed file, checked segment by segment as it is read."""

    def __init__(self, fh: BinaryIO, passphrase: str):
        super().__init__()
        self.header, self._aad = read_header(fh)
        try:
            salt = base64.b64decode(self.header["salt"])
            self._prefix = base64.b64decode(self.header["nonce_prefix"])
            params = {k: int(self.header[k]) for k in ("n", "r", "p")}
        except (KeyError, ValueError, TypeError):
            raise backup_error("备份文件头已损坏 / the backup header is damaged", "backup_damaged") from None
        self._aead = AESGCM(_key(passphrase, salt, params))
        self._fh, self._buf, self._counter, self._done = fh, bytearray(), 0, False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        raw = self._fh.read(4)
        if len(raw) < 4:
            raise backup_error("备份文件不完整（被截断）/ the backup file is truncated", "backup_damaged")
        (length,) = struct.unpack(">I", raw)
        sealed = self._fh.read(length)
        if len(sealed) < length or length < _TAG:
            raise backup_error("备份文件不完整（被截断）/ the backup file is truncated", "backup_damaged")
        for last in (False, True):
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), sealed, self._aad)
            except InvalidTag:
                continue
            self._counter += 1
            self._buf += plain
            if last:
                self._done = True
                if self._fh.read(1):
                    raise backup_error("备份文件末尾有多余数据 / data after the end of the backup", "backup_damaged")
            return
        raise backup_error("口令错误或备份文件已损坏 / wrong passphrase or damaged backup file", "backup_refused")

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._done:
            self._next()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n
