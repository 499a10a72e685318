"""A node home on disk: create it (``init``), open it, rotate its signing key.

``init_home`` creates a node home (CONTRACT §2 ``init``): config, key pair (private key
0600), database. It refuses a home that already holds a node and, on any failure, leaves
nothing behind. ``open_node`` loads one and brings its database to the latest migration.

Composition level: opening a node installs every domain (``node.domains.install``) so that
its tables, document handlers and jobs are known before the first request.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from federation import keys as fkeys
from federation.models import KnownKey, LocalState
from node import db as dbmod
from node import domains, migrations
from node.config import NODE_FILE, default_db_url, load_config, render_node_toml
from node.errors import NodeError
from node.privacy import keys as data_keys
from node.privacy import sealing
from node.runtime import Clock, Node, system_clock

log = logging.getLogger(__name__)


def _key_path(home: Path, n: int) -> Path:
    return home / "keys" / f"node-key-{n}.pem"


def node_exists(home: Path) -> bool:
    return (home / NODE_FILE).exists()


def init_home(home: str | Path, *, level: str, code: str, name: str, url: str,
              db_url: str | None = None, clock: Clock = system_clock) -> Node:
    """Create a new node home (CONTRACT §2, §13; issue 16 item 2): all or nothing.

    The home is built in a staging directory beside the target (same file system, so the
    final step is a rename) and put in place only when complete; any failure — a bad code,
    a full disk, a database refusing — removes the staging directory, every parent folder
    this call made, an external SQLite file it created, and the identity it wrote into an
    external database, so the next ``init`` starts from the same state."""
    from node.divisions import load_divisions
    domains.install()
    home_path = Path(home).absolute()
    if node_exists(home_path):
        raise NodeError(409, "home_exists",
                        f"{home_path} 已有节点，未做任何更改 / {home_path} already holds a node; nothing changed")
    load_divisions().check_node_code(level, code)
    if not url.startswith(("http://", "https://")):
        raise NodeError(422, "invalid", "URL 须以 http:// 或 https:// 开头 / --url must start with http:// or https://",
                        "url")
    if not name.strip():
        raise NodeError(422, "invalid", "名称不能为空 / --name must not be empty", "name")
    undo: list[Callable[[], None]] = []
    try:
        _make_parents(home_path, undo)
        stage = _stage_dir(home_path, undo)
        key_id, public_b64 = _write_keys(stage, code)
        _create_database(stage, db_url, code, key_id, public_b64, clock, undo)
        _write_config(stage, level, code, name, url, db_url)
        _place(stage, home_path, undo)
        return open_node(home_path, clock=clock)
    except BaseException as exc:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # noqa: BLE001 - undo the rest; the first error is the one to report
                log.warning("init: cleaning up after a failure failed", exc_info=True)
        if isinstance(exc, OSError):
            raise NodeError(400, "home_unwritable",
                            f"无法写入节点目录 {home_path}：{exc.strerror or exc} / cannot write to {home_path}") from None
        raise


def _make_parents(home: Path, undo: list[Callable[[], None]]) -> None:
    """The folders above the home; the topmost one this call creates is removed on failure."""
    missing = [p for p in [home.parent, *home.parent.parents] if not p.exists()]
    if missing:
        home.parent.mkdir(parents=True)
        undo.append(lambda top=missing[-1]: shutil.rmtree(top, ignore_errors=True))


def _stage_dir(home: Path, undo: list[Callable[[], None]]) -> Path:
    stage = Path(tempfile.mkdtemp(prefix=f".{home.name}.init-", dir=home.parent))   # mode 0700
    undo.append(lambda: shutil.rmtree(stage, ignore_errors=True))
    return stage


def _write_keys(stage: Path, code: str) -> tuple[str, str]:
    (stage / "keys").mkdir(mode=0o700)
    key_id = fkeys.make_key_id(code, 1)
    pair = fkeys.generate_keypair(key_id)
    fkeys.save_private_key(_key_path(stage, 1), pair.private)
    return key_id, pair.public_b64


def _create_database(stage: Path, db_url: str | None, code: str, key_id: str, public_b64: str,
                     clock: Clock, undo: list[Callable[[], None]]) -> None:
    """The database with its schema and this node's identity. The default SQLite file lives
    in the staging directory; an external one is removed on failure if this call made it;
    an external server forgets the identity (its empty tables stay: harmless, reused)."""
    effective = db_url or default_db_url(stage)
    external = dbmod.sqlite_path(effective) if db_url else None
    if external is not None and not external.exists():
        def forget_file(path: Path = external) -> None:
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                p.unlink(missing_ok=True)
        undo.append(forget_file)
    private_db_file(effective)
    db = dbmod.open_database(effective)
    # the data key (issue 13 item 1): in the staged home's keys/, or N12315_DATA_KEY
    data_keys.bind_keyring(db, data_keys.load_keyring(stage, create=True))
    try:
        if not dbmod.is_sqlite(db):
            with db.bind_ctx([LocalState]):
                dbmod.ensure_schema(db)
                db.create_tables([LocalState], safe=True)
                if LocalState.get_value("node_code"):
                    raise NodeError(409, "db_in_use",
                                    "该数据库已属于另一个节点 / that database already holds a node")
        migrations.migrate(db)
        now = clock()
        with db.bind_ctx(dbmod.all_models()), db.atomic():
            LocalState.put("node_code", code)
            LocalState.put("own_key_id", key_id)
            LocalState.put("own_key_n", "1")
            LocalState.put("epoch", new_epoch_id())
            KnownKey.create(key_id=key_id, node_code=code, public_key=public_b64, valid_from=now)
        if db_url and external is None:
            undo.append(lambda: _forget_identity(db_url, key_id))
    finally:
        db.close()


def _forget_identity(db_url: str, key_id: str) -> None:
    db = dbmod.open_database(db_url)
    try:
        with db.bind_ctx(dbmod.all_models()), db.atomic():
            LocalState.delete().where(LocalState.key.in_(["node_code", "own_key_id", "own_key_n", "epoch"])).execute()
            KnownKey.delete().where(KnownKey.key_id == key_id).execute()
    finally:
        db.close()


def _write_config(stage: Path, level: str, code: str, name: str, url: str, db_url: str | None) -> None:
    path = stage / NODE_FILE
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_node_toml(level, code, name, url, db_url))
        fh.flush()
        os.fsync(fh.fileno())


def _place(stage: Path, home: Path, undo: list[Callable[[], None]]) -> None:
    """Put the finished home in place. A missing home is one rename; an existing (empty or
    operator-prepared) folder keeps its owner and mode and receives the entries one by one,
    ``node.toml`` last, since its presence is what makes a home hold a node."""
    if not home.exists():
        _move(stage, home)
        undo.append(lambda: shutil.rmtree(home, ignore_errors=True))
        return
    entries = sorted(stage.iterdir(), key=lambda p: p.name == NODE_FILE)
    for entry in entries:
        target = home / entry.name
        if target.exists():
            raise NodeError(409, "home_not_empty",
                            f"{target} 已存在，未做任何更改 / {target} already exists; nothing changed")
        _move(entry, target)
        undo.append(lambda src=target, back=entry: _move(src, back))


def _move(src: Path, dst: Path) -> None:
    os.rename(src, dst)


def private_db_file(db_url: str) -> None:
    """A SQLite database file readable by its owner only (0600): created so before SQLite
    opens it — SQLite gives its -wal and -shm files the database file's mode — and tightened
    when an older home left it world-readable."""
    path = dbmod.sqlite_path(db_url)
    if path is None:
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
        except FileNotFoundError:
            pass
        except PermissionError:   # not ours to change; doctor (issue "install") will say so
            log.warning("cannot make %s private", candidate)


def new_epoch_id() -> str:
    return "e" + secrets.token_hex(6)


def open_node(home: str | Path, *, clock: Clock = system_clock,
              transport: requests.Session | None = None,
              environ: dict[str, str] | None = None, background_checkpoint: bool = False,
              migrate: bool = True) -> Node:
    """Load an existing node from its home; migrate its database (``migrate=False``: read it as
    it is, for ``doctor``); load its current key. A database newer than this code is refused
    (issue 16 item 5): old code must not write a schema it does not know."""
    home_path = Path(home)
    if not node_exists(home_path):
        raise NodeError(404, "no_node",
                        f"{home_path} 中没有节点，请先运行 n12315 init / no node in {home_path}; run n12315 init first")
    domains.install()
    config = load_config(home_path, environ)
    private_db_file(config.db_url)
    db = dbmod.open_database(config.db_url, background_checkpoint=background_checkpoint)
    try:
        attach_data_key(home_path, db, environ)
        version = migrations.migrate(db) if migrate else latest_schema()
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(500, "db_unavailable", f"无法打开数据库：{exc} / cannot open database") from None
    if version > latest_schema():
        db.close()
        raise schema_too_new(version)
    with db.bind_ctx(dbmod.all_models()):
        key_id = LocalState.get_value("own_key_id")
        n = int(LocalState.get_value("own_key_n") or "1")
    if not key_id:
        raise NodeError(500, "no_identity", "数据库中缺少节点身份 / database holds no node identity")
    try:
        private = fkeys.load_private_key(_key_path(home_path, n))
    except fkeys.KeyFileError as exc:
        raise NodeError(500, "key_file", str(exc)) from None
    pair = fkeys.keypair_from_private(key_id, private)
    try:
        # issue 13 item 2: the X25519 seal key, made at init and on the first open of an older home
        sealing.ensure_seal_key(home_path)
    except OSError as exc:
        raise NodeError(500, "key_file", f"无法创建加密密钥 / cannot create the seal key: {exc.strerror}") from None
    return Node(config=config, db=db, keypair=pair, clock=clock, transport=transport)


ENCRYPTED_SINCE = 13   # the migration that encrypts personal data at rest (issue 13 item 1)


def attach_data_key(home: Path, db: Any, environ: dict[str, str] | None = None) -> data_keys.Keyring:
    """Bind the node's data key to ``db`` (issue 13 item 1). A home older than migration 13 gets
    its first key here; a newer one without its key is refused — a fresh key would leave every
    encrypted value unreadable (restored from a backup made without ``--with-keys``, say)."""
    try:
        ring = data_keys.load_keyring(home, environ)
    except data_keys.DataKeyError as exc:
        if exc.code != "data_key_missing" or _schema_at(db) >= ENCRYPTED_SINCE:
            raise
        ring = data_keys.create_key_file(home)
    data_keys.bind_keyring(db, ring)
    return ring


def _schema_at(db: Any) -> int:
    if not db.table_exists("schema_version"):
        return 0
    with db.bind_ctx([dbmod.SchemaVersion]):
        return max([r.version for r in dbmod.SchemaVersion.select()] or [0])


def latest_schema() -> int:
    return max(number for number, _, _ in migrations.MIGRATIONS)


def schema_too_new(version: int) -> NodeError:
    return NodeError(409, "schema_too_new",
                     f"数据库架构 {version} 比本程序所知（{latest_schema()}）新：请安装新版 n12315，勿降级 / "
                     f"database schema {version} is newer than this n12315 knows ({latest_schema()}): "
                     "install the newer release; never downgrade")


def rotate_key(node: Node) -> str:
    """Start a new signing key; the old public key stays known with its expiry (rule 14)."""
    home = node.config.home_path
    with node.activate():
        n = int(LocalState.get_value("own_key_n") or "1") + 1
        key_id = fkeys.make_key_id(node.code, n)
        pair = fkeys.generate_keypair(key_id)
        fkeys.save_private_key(_key_path(home, n), pair.private)
        now = node.now()
        with dbmod.write_tx(node.db):
            (KnownKey.update(valid_until=now)
                .where(KnownKey.key_id == node.keypair.key_id)
                .execute())
            KnownKey.create(key_id=key_id, node_code=node.code, public_key=pair.public_b64, valid_from=now)
            LocalState.put("own_key_id", key_id)
            LocalState.put("own_key_n", str(n))
    node.keypair = pair
    return key_id
