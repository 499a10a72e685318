"""``n12315 backup`` and ``restore`` (CONTRACT §11; issue 13 item 7, issue 16 item 5).

A backup is one sealed file (``node.ops.sealed``) holding a tar archive: ``manifest.json``,
the database — an SQLite online-backup snapshot taken beside a serving node (a consistent
read transaction, so every case acknowledged before the snapshot began is in it), or
``pg_dump``'s custom format for PostgreSQL — and the home's own files (``node.toml``, the
operator's calendar, evidence blobs …). Left out always: the replication sidecar (a restored
store must not inherit the record of what its original sent; restore starts a new epoch
instead, F8), logs, earlier backups. Left out unless ``--with-keys``: ``keys/`` and any file
of the home named like a key (the signing key and the data key of issue 13 item 1) — a
stolen backup then holds only ciphertext and no key.

Restore writes into an empty (or absent) home only, builds it in a staging folder beside the
target and renames it into place when complete, like ``init``.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from federation.models import LocalState
from node.config import NODE_FILE, NodeConfig
from node.db import SchemaVersion, open_database, sqlite_path
from node.ops.sealed import SealedReader, SealedWriter, backup_error, read_header
from replication.epochs import SIDECAR
from replication.models import ReplicationAudit

RECORDS = "backups.jsonl"          # one line per backup made, read by ``doctor``
SKIP_DIRS = {"backups", "logs", "__pycache__"}
SKIP_SUFFIXES = (".log", ".tmp", ".lock")


def _is_key_file(rel: Path) -> bool:
    return rel.parts[0] == "keys" or "key" in rel.name.lower()


def home_files(config: NodeConfig, with_keys: bool) -> list[Path]:
    """The home's files that belong in a backup, relative to the home."""
    home = config.home_path
    db_file = sqlite_path(config.db_url)
    skip = {SIDECAR, RECORDS}
    if db_file is not None:
        skip |= {db_file.name, db_file.name + "-wal", db_file.name + "-shm", db_file.name + "-journal"}
    out = []
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home)
        if not path.is_file() or path.is_symlink() or rel.parts[0] in SKIP_DIRS:
            continue
        if (len(rel.parts) == 1 and rel.name in skip) or rel.name.endswith(SKIP_SUFFIXES) \
                or rel.name.startswith(SIDECAR):
            continue
        if _is_key_file(rel) and not with_keys:
            continue
        out.append(rel)
    return out


def _snapshot_sqlite(path: Path, dest: Path) -> None:
    """SQLite's online backup API: one step, inside one read transaction of a WAL database,
    so writers beside it go on and the copy is one consistent moment."""
    src = sqlite3.connect(path, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_parts(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    schema = parse_qs(parts.query).get("schema", [None])[0]
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", "")), schema


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise backup_error(f"找不到 {name}：请安装 PostgreSQL 客户端（apt-get install postgresql-client）/ "
                           f"{name} not found: install the PostgreSQL client tools", "pg_tools_missing", 500)
    return found


def _dump_postgres(url: str, dest: Path) -> None:
    base, schema = _pg_parts(url)
    cmd = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={dest}"]
    cmd += [f"--schema={schema}"] if schema else []
    proc = subprocess.run([*cmd, base], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise backup_error(f"pg_dump 失败 / pg_dump failed: {proc.stderr.strip().splitlines()[-1:]}", status=500)


def schema_version(db: Any) -> int:
    with db.bind_ctx([SchemaVersion]):
        if not db.table_exists("schema_version"):
            return 0
        return max([r.version for r in SchemaVersion.select()] or [0])


def make_backup(config: NodeConfig, out: Path, passphrase: str, *, with_keys: bool, now: datetime,
                version: str) -> dict[str, Any]:
    """Write the sealed backup to ``out`` (through a temporary file renamed at the end, so a
    failed backup leaves no half file); record it in the home; return the record."""
    out = out.absolute()
    if out.exists():
        raise backup_error(f"{out} 已存在，不覆盖 / {out} exists; not overwritten", "exists", 409)
    db_file = sqlite_path(config.db_url)
    kind = "sqlite" if db_file is not None else "postgresql"
    with tempfile.TemporaryDirectory(prefix="n12315-backup-") as tmp:
        snap = Path(tmp) / ("node.db" if db_file is not None else "node.pgdump")
        if db_file is not None:
            if not db_file.exists():
                raise backup_error(f"数据库文件不存在：{db_file} / database file missing", "db_unavailable", 500)
            _snapshot_sqlite(db_file, snap)
            db = open_database(f"sqlite:///{snap}")
        else:
            _dump_postgres(config.db_url, snap)
            db = open_database(config.db_url)
        try:
            version_in = schema_version(db)
        finally:
            db.close()
        files = home_files(config, with_keys)
        manifest = {"format": 1, "created_at": now.isoformat(), "n12315": version, "db": kind,
                    "schema_version": version_in, "with_keys": with_keys,
                    "node": {"code": config.code, "level": config.level, "name": config.name},
                    "files": [str(p) for p in files]}
        meta = {"node": config.code, "created_at": now.isoformat(), "db": kind, "with_keys": with_keys}
        partial = out.with_name(f".{out.name}.{os.getpid()}.part")
        try:
            with open(partial, "xb") as fh:
                os.chmod(partial, 0o600)
                with SealedWriter(fh, passphrase, meta) as sealed, \
                        tarfile.open(fileobj=sealed, mode="w|gz") as tar:
                    _add_bytes(tar, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
                    tar.add(snap, arcname=f"database/{snap.name}")
                    for rel in files:
                        tar.add(config.home_path / rel, arcname=f"home/{rel.as_posix()}")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    record = {"at": now.isoformat(), "file": str(out), "bytes": out.stat().st_size, "db": kind,
              "with_keys": with_keys, "schema_version": version_in, "files": len(files)}
    with open(config.home_path / RECORDS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def last_backup(home: Path) -> dict[str, Any] | None:
    try:
        lines = (home / RECORDS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def describe(path: Path) -> dict[str, Any]:
    """The header of a backup file (readable without the passphrase: nothing secret in it)."""
    with open(path, "rb") as fh:
        return read_header(fh)[0]


def restore_backup(src: Path, home: Path, passphrase: str, *, keys_from: Path | None = None,
                   db_url: str | None = None, new_epoch: str, now: datetime,
                   verify: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Restore ``src`` into ``home``, which must be empty or absent; start a new replication
    epoch (F8: the original may have sent numbers after the backup was taken)."""
    home = home.absolute()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise backup_error(f"{home} 不是空目录，恢复只写入空目录 / {home} is not empty; restore writes "
                           "into an empty home only", "home_not_empty", 409)
    if not src.is_file():
        raise backup_error(f"找不到备份文件 {src} / backup file not found", "not_found", 404)
    home.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=home.parent))
    placed = False
    try:
        with open(src, "rb") as fh, SealedReader(fh, passphrase) as plain, \
                tarfile.open(fileobj=plain, mode="r|gz") as tar:
            tar.extractall(stage / "x", filter="data")
        x = stage / "x"
        manifest = json.loads((x / "manifest.json").read_text(encoding="utf-8"))
        (stage / "home").mkdir(mode=0o700)
        target = stage / "home"
        if (x / "home").is_dir():
            for entry in (x / "home").iterdir():
                os.rename(entry, target / entry.name)
        if not (target / "keys").is_dir():
            if keys_from is None:
                raise backup_error("备份不含密钥：请用 --keys-from 指定原节点的 keys 目录 / the backup holds no "
                                   "keys: give the old node's keys folder with --keys-from", "keys_missing")
            shutil.copytree(keys_from, target / "keys")
        if not (target / "keys" / "data.key").exists() and not os.environ.get("N12315_DATA_KEY", "").strip() \
                and int(manifest.get("schema_version") or 0) >= 13:
            # issue 13 item 1: without it every encrypted personal field of the restored store is lost
            raise backup_error("备份与 --keys-from 目录都不含数据密钥 keys/data.key：请把原节点的 data.key 放进 "
                               "--keys-from 目录，或设置环境变量 N12315_DATA_KEY / the data key is missing: put "
                               "the old node's keys/data.key into the --keys-from folder, or set N12315_DATA_KEY",
                               "data_key_missing")
        os.chmod(target / "keys", 0o700)
        for key in (target / "keys").iterdir():
            os.chmod(key, 0o600)
        if manifest["db"] == "sqlite":
            dest = target / "node.db"
            if db_url:
                dest = sqlite_path(db_url) or dest
            os.rename(x / "database" / "node.db", dest)
            os.chmod(dest, 0o600)
            _set_db_url(target / NODE_FILE, db_url)
            url = db_url or f"sqlite:///{home / 'node.db'}"
            open_url = db_url or f"sqlite:///{dest}"
        else:
            if not db_url:
                raise backup_error("PostgreSQL 备份须用 --db 指定目标数据库 / a PostgreSQL backup needs --db "
                                   "naming the (empty) target database", "db_required")
            _restore_postgres(x / "database" / "node.pgdump", db_url)
            _set_db_url(target / NODE_FILE, db_url)
            url = open_url = db_url
        _start_new_epoch(open_url, new_epoch, now)
        shutil.rmtree(x)
        if home.exists():
            home.rmdir()
        os.rename(target, home)
        placed = True
        if verify is not None:
            verify(home)
    except BaseException:
        if placed:
            shutil.rmtree(home, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"home": str(home), "db": url if "@" not in url else url.split("@", 1)[1], "epoch": new_epoch,
            "node": manifest["node"], "created_at": manifest["created_at"],
            "schema_version": manifest["schema_version"], "files": len(manifest["files"])}


def _set_db_url(node_toml: Path, db_url: str | None) -> None:
    """Point the restored config at its database: the default SQLite file in the home unless
    ``--db`` names another (a line-level edit keeps the operator's comments)."""
    lines = [ln for ln in node_toml.read_text(encoding="utf-8").splitlines() if not ln.startswith("db_url")]
    if db_url:
        at = next(i for i, ln in enumerate(lines) if ln.strip() == "[node]")
        lines.insert(at + 1, 'db_url = "' + db_url.replace("\\", "\\\\").replace('"', '\\"') + '"')
    node_toml.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _restore_postgres(dump: Path, url: str) -> None:
    base, _ = _pg_parts(url)
    proc = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                           f"--dbname={base}", str(dump)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise backup_error("pg_restore 失败（目标须为空库，模式名与原库相同）/ pg_restore failed (the target must be "
                           f"empty, with the original's schema name): {proc.stderr.strip().splitlines()[-1:]}",
                           status=500)


def _start_new_epoch(url: str, epoch: str, now: datetime) -> None:
    db = open_database(url)
    try:
        with db.bind_ctx([LocalState, ReplicationAudit]), db.atomic():
            old = LocalState.get_value("epoch")
            LocalState.put("epoch", epoch)
            ReplicationAudit.insert(at=now, actor="system", action="epoch", peer=None,
                                    detail=f"restored from a backup; epoch {old} → {epoch}").execute()
    finally:
        db.close()
