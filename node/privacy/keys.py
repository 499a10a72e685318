"""The node's data keys, kept apart from the database (issue 13 item 1 "At rest"; docs/privacy.md).

A ``Keyring`` holds one or more 32-byte data keys by key id; one is *current* (new values are
sealed under it), the others stay only while some row still uses them (``n12315 key
rotate-data``). Each data key yields two subkeys through HKDF-SHA256: one for AES-256-GCM field
encryption (``node.privacy.fields``), one for the HMAC-SHA256 look-up hashes
(``node.privacy.lookup``) — so the look-up key rotates with the data key.

Where the keys live:

* the file ``keys/data.key`` in the node home (mode 0600, written atomically): one line
  ``<kid> <base64 key>`` per key, the current one marked ``current``; created by ``init`` and on
  the first open of a home older than migration 13;
* or the environment variable ``N12315_DATA_KEY`` (containers): a bare base64 key, or
  ``kid:base64[,kid:base64…]`` with the current key first. When set, it wins over the file.

A serving process re-reads the file when it changes (checked at most once a second, and at once
when a value names a key it does not hold), so ``rotate-data`` in another process never leaves
``serve`` unable to read what it wrote.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from node.errors import NodeError

KEY_FILE = Path("keys") / "data.key"
ENV = "N12315_DATA_KEY"
KEY_BYTES = 32
_KID = re.compile(r"^[a-z0-9]{1,16}$")
_RELOAD_S = 1.0


class DataKeyError(NodeError):
    """A data key is missing, unreadable or does not open a value: one clear line, no traceback."""

    def __init__(self, message: str, code: str = "data_key"):
        super().__init__(500, code, message)


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class DataKey:
    """One data key: its id, its secret, and the two subkeys derived from it."""
    __slots__ = ("kid", "secret", "aead", "mac_key")

    def __init__(self, kid: str, secret: bytes):
        self.kid, self.secret = kid, secret
        self.aead = AESGCM(_derive(secret, b"n12315 field encryption v1"))
        self.mac_key = _derive(secret, b"n12315 lookup hash v1")


def _kid_for(secret: bytes) -> str:
    """A stable id for a bare key from the environment: its fingerprint, not the key."""
    return "e" + hashlib.sha256(b"n12315 data key id:" + secret).hexdigest()[:10]


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError(f"{where} 中的数据密钥不是有效的 base64 / the data key in {where} is not valid base64",
                           "data_key_invalid") from None
    if len(raw) != KEY_BYTES:
        raise DataKeyError(f"{where} 中的数据密钥须为 32 字节 / the data key in {where} must be 32 bytes "
                           f"(got {len(raw)})", "data_key_invalid")
    return raw


def parse_env(value: str) -> tuple[list[DataKey], str]:
    """``N12315_DATA_KEY``: a bare base64 key, or ``kid:base64,…`` (current first)."""
    keys: list[DataKey] = []
    for part in [p for p in value.split(",") if p.strip()]:
        kid, sep, b64 = part.strip().partition(":")
        if not sep:
            b64 = kid
            secret = _decode(b64, ENV)
            kid = _kid_for(secret)
        else:
            if not _KID.match(kid):
                raise DataKeyError(f"{ENV} 的密钥编号 {kid!r} 无效（小写字母数字，至多 16 位）/ invalid key id "
                                   f"in {ENV} (lower-case letters and digits, at most 16)", "data_key_invalid")
            secret = _decode(b64, ENV)
        keys.append(DataKey(kid, secret))
    if not keys:
        raise DataKeyError(f"{ENV} 为空 / {ENV} is empty", "data_key_invalid")
    return keys, keys[0].kid


def parse_file(text: str, where: str) -> tuple[list[DataKey], str]:
    keys: list[DataKey] = []
    current = ""
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or not _KID.match(parts[0]) or (len(parts) == 3 and parts[2] != "current"):
            raise DataKeyError(f"{where} 第 {n} 行格式错误 / {where} line {n}: expected '<kid> <base64> [current]'",
                               "data_key_invalid")
        keys.append(DataKey(parts[0], _decode(parts[1], f"{where}:{n}")))
        if len(parts) == 3:
            current = parts[0]
    if not keys:
        raise DataKeyError(f"{where} 中没有数据密钥 / {where} holds no data key", "data_key_invalid")
    return keys, current or keys[-1].kid


def render_file(keys: list[DataKey], current: str) -> str:
    lines = ["# n12315 数据密钥（第13号议题第1项）：与数据库分开保管，勿随备份外传 / data keys: keep apart",
             "# from the database and its backups (docs/privacy.md). <kid> <base64> [current]"]
    for k in keys:
        lines.append(f"{k.kid} {base64.b64encode(k.secret).decode()}" + (" current" if k.kid == current else ""))
    return "\n".join(lines) + "\n"


def write_file(path: Path, keys: list[DataKey], current: str) -> None:
    """Write the key file atomically, mode 0600 from its first byte."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_file(keys, current))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def new_key(taken: set[str]) -> DataKey:
    """A fresh key numbered past every key held: an id is never reused after its key is dropped
    (a value in an older backup under a dropped ``k1`` must read as "unknown key", not as a
    corrupt value under a new ``k1``). The current key is never dropped, so the highest stays."""
    numbers = [int(k[1:]) for k in taken if k[:1] == "k" and k[1:].isdigit()]
    return DataKey(f"k{max(numbers, default=0) + 1}", secrets.token_bytes(KEY_BYTES))


class Keyring:
    """The data keys one node holds (from its file or its environment)."""

    def __init__(self, keys: list[DataKey], current: str, path: Path | None = None):
        self._lock = threading.Lock()
        self.path = path
        self._set(keys, current)
        self._checked = time.monotonic()
        self._stamp = self._file_stamp()

    def _set(self, keys: list[DataKey], current: str) -> None:
        by_kid = {k.kid: k for k in keys}
        if current not in by_kid:
            raise DataKeyError(f"当前数据密钥 {current} 不在密钥环中 / the current data key {current} is not held",
                               "data_key_invalid")
        self._keys, self._current = by_kid, current

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self, *, force: bool = False) -> None:
        """Re-read the key file if it changed (another process rotated the keys)."""
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < _RELOAD_S:
            return
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp is None or stamp == self._stamp:
                return
            keys, current = parse_file(self.path.read_text(encoding="utf-8"), str(self.path))
            self._set(keys, current)
            self._stamp = stamp

    @property
    def current(self) -> DataKey:
        self.reload()
        return self._keys[self._current]

    @property
    def kids(self) -> list[str]:
        self.reload()
        return list(self._keys)

    def all(self) -> list[DataKey]:
        self.reload()
        return list(self._keys.values())

    def get(self, kid: str) -> DataKey | None:
        key = self._keys.get(kid)
        if key is None:
            self.reload(force=True)
            key = self._keys.get(kid)
        return key

    # -- changing the file (``rotate-data``) ------------------------------------------------------
    def add_current(self) -> DataKey:
        """A new key, made current, written to the file; old keys stay."""
        self._need_file("rotate")
        self.reload(force=True)
        fresh = new_key(set(self._keys))
        keys = [*self._keys.values(), fresh]
        write_file(self.path, keys, fresh.kid)  # type: ignore[arg-type]
        self.reload(force=True)
        return fresh

    def drop(self, kids: set[str]) -> None:
        """Forget keys no row uses any more (never the current one)."""
        self._need_file("drop")
        self.reload(force=True)
        keep = [k for kid, k in self._keys.items() if kid not in kids or kid == self._current]
        write_file(self.path, keep, self._current)  # type: ignore[arg-type]
        self.reload(force=True)

    def _need_file(self, what: str) -> None:
        if self.path is None:
            raise DataKeyError(f"数据密钥来自环境变量 {ENV}：请在其中把新密钥放在首位并重启服务，再运行 rotate-data / "
                               f"the data keys come from {ENV}: put the new key first there (kid:base64,…), restart "
                               "serve, then run rotate-data", "data_key_env")


def key_path(home: Path) -> Path:
    return Path(home) / KEY_FILE


def create_key_file(home: Path) -> Keyring:
    """A first data key for a home (``init``; an older home on its first open)."""
    path = key_path(home)
    if path.exists():
        raise DataKeyError(f"{path} 已存在 / {path} exists", "data_key_exists")
    key = new_key(set())
    write_file(path, [key], key.kid)
    return Keyring([key], key.kid, path)


def load_keyring(home: Path, environ: Mapping[str, str] | None = None, *, create: bool = False) -> Keyring:
    """The node's keyring: ``N12315_DATA_KEY`` if set, else ``keys/data.key`` (made when
    ``create`` and absent). A missing key with ``create`` False is refused, naming what to do."""
    env = os.environ if environ is None else environ
    if env.get(ENV, "").strip():
        keys, current = parse_env(env[ENV])
        return Keyring(keys, current)
    path = key_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if create:
            return create_key_file(home)
        raise DataKeyError(f"缺少数据密钥 {path}：请从安全保管处放回 keys/data.key，或设置环境变量 {ENV}；没有它，"
                           f"加密的个人信息无法读取 / the data key is missing: put keys/data.key back from where you "
                           f"keep it, or set {ENV}; without it the encrypted personal data cannot be read",
                           "data_key_missing") from None
    except OSError as exc:
        raise DataKeyError(f"无法读取数据密钥 {path}：{exc.strerror} / cannot read the data key", "data_key_unreadable"
                           ) from None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)   # an operator's copy put back world-readable: tighten it
    keys, current = parse_file(text, str(path))
    return Keyring(keys, current, path)


# -- the keyring of a database (several nodes live in one process) ---------------------------------
_ATTR = "_n12315_keyring"


def bind_keyring(db: object, keyring: Keyring) -> None:
    """Attach ``keyring`` to a node's database object: the encrypted fields of every model
    bound to that database find their keys there."""
    setattr(db, _ATTR, keyring)


def keyring_of(db: object) -> Keyring:
    ring = getattr(db, _ATTR, None)
    if ring is None:
        raise DataKeyError("数据库未绑定数据密钥 / no data key is bound to this database (open it with "
                           "node.home.open_node)", "data_key_unbound")
    return ring
