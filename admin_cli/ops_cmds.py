"""``n12315 service unit | doctor | backup | restore | migrate`` (CONTRACT §11, §13; issue 16,
issue 13 item 7). ``--version`` is an option of the group itself (admin_cli/cli.py)."""
from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from importlib.metadata import version as dist_version
from pathlib import Path

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.errors import NodeError

PASSPHRASE_ENV = "N12315_BACKUP_PASSPHRASE"


def _now() -> datetime:
    return datetime.now(UTC)


def _version() -> str:
    return dist_version("n12315")


def passphrase(from_stdin: bool) -> str:
    """The backup passphrase: the first line of stdin with ``--passphrase-stdin``, else the
    environment variable; never an argument (it would show in ``ps`` and shell history)."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise NodeError(400, "no_passphrase", f"需要备份口令：--passphrase-stdin 或环境变量 {PASSPHRASE_ENV} / "
                                              f"a backup passphrase is needed: --passphrase-stdin or {PASSPHRASE_ENV}")
    return value


passphrase_option = click.option("--passphrase-stdin", is_flag=True,
                                 help=f"从标准输入首行读口令（否则读 {PASSPHRASE_ENV}）/ read the passphrase "
                                      f"from stdin's first line (else {PASSPHRASE_ENV})")


@click.group("service")
def service() -> None:
    """以系统服务运行 / run the node as a system service."""


@service.command("unit")
@click.option("--user", default="n12315", show_default=True, help="运行服务的系统用户 / the service's own user")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / bind address")
@click.option("--port", default=8315, show_default=True, type=int, help="端口 / port")
@click.option("--log-dir", default="/var/log/n12315", show_default=True, help="日志目录（可写）/ log directory")
@pass_ctx
def unit(ctx: Context, user: str, host: str, port: int, log_dir: str) -> None:
    """打印本节点的 systemd 单元（加固）/ print a hardened systemd unit for this home."""
    from node.config import load_config
    from node.ops import render_unit
    click.echo(render_unit(load_config(ctx.home), user=user, host=host, port=port, log_dir=log_dir), nl=False)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@click.option("--no-probe", is_flag=True, help="不探测链路（离线检查）/ do not contact the peers")
@click.option("--backup-max-age-hours", type=float, default=26.0, show_default=True,
              help="最近备份超过此时长则告警 / warn when the last backup is older")
@pass_ctx
def doctor(ctx: Context, as_json: bool, no_probe: bool, backup_max_age_hours: float) -> None:
    """节点是否就绪：配置、密钥、数据库、日历、时钟、链路、磁盘、备份 / is this node ready?

    Exits 0 when no check fails (warnings allowed), 1 otherwise.
    """
    from node.home import latest_schema, node_exists, open_node
    from node.ops import run_checks
    if not node_exists(ctx.home):
        raise NodeError(404, "no_node", f"{ctx.home} 中没有节点，请先运行 n12315 init / no node in {ctx.home}")
    checks = run_checks(ctx.home, open_node=lambda: open_node(ctx.home, migrate=False), latest_schema=latest_schema(),
                        now=_now(), backup_max_age_hours=backup_max_age_hours, probe_links=not no_probe)
    ok = all(c["status"] != "fail" for c in checks)
    if as_json:
        emit_json({"ok": ok, "checks": checks})
    else:
        marks = {"ok": "✓", "warn": "!", "fail": "✗"}
        for c in checks:
            click.echo(f"{marks[c['status']]} {c['status']:<4} {c['name']:<16} {c['detail']}")
        click.echo("就绪 / ready" if ok else "未就绪 / not ready")
    if not ok:
        sys.exit(1)


@click.command("backup")
@click.option("--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="备份文件（不覆盖）/ the backup file (never overwritten)")
@click.option("--with-keys", is_flag=True, help="包含节点密钥（默认不含）/ include the node's keys (left out by default)")
@passphrase_option
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def backup(ctx: Context, to: Path, with_keys: bool, passphrase_stdin: bool, as_json: bool) -> None:
    """加密备份，可在服务运行时进行 / an encrypted, consistent backup, also while serving."""
    from node.config import load_config
    from node.home import node_exists
    from node.ops import make_backup
    if not node_exists(ctx.home):
        raise NodeError(404, "no_node", f"{ctx.home} 中没有节点 / no node in {ctx.home}")
    record = make_backup(load_config(ctx.home), to, passphrase(passphrase_stdin), with_keys=with_keys,
                         now=_now(), version=_version())
    if as_json:
        emit_json(record)
        return
    click.echo(f"已备份 / backed up: {record['file']} ({record['bytes']} bytes, schema {record['schema_version']}, "
               f"{'含密钥 with keys' if with_keys else '不含密钥 without keys'})")


@click.command("restore")
@click.option("--from", "src", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="备份文件 / the backup file")
@click.option("--keys-from", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="备份不含密钥时，原节点的 keys 目录 / the old keys folder when the backup holds none")
@click.option("--db", "db_url", default=None, help="目标数据库（PostgreSQL 备份必填）/ target database URL")
@passphrase_option
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def restore(ctx: Context, src: Path, keys_from: Path | None, db_url: str | None, passphrase_stdin: bool,
            as_json: bool) -> None:
    """恢复到空的节点目录，并开始新的复制纪元 / restore into an empty home; starts a new epoch (F8)."""
    from node.home import new_epoch_id, open_node
    from node.ops import restore_backup

    def verify(home: Path) -> None:
        open_node(home).close()

    result = restore_backup(src, ctx.home, passphrase(passphrase_stdin), keys_from=keys_from, db_url=db_url,
                            new_epoch=new_epoch_id(), now=_now(), verify=verify)
    if as_json:
        emit_json(result)
        return
    click.echo(f"已恢复 {result['node']['code']} {result['node']['name']} 至 {result['home']}（备份于 "
               f"{result['created_at']}），新纪元 {result['epoch']} / restored; new replication epoch")
    click.echo("下一步 / next: n12315 doctor; n12315 serve")


@click.command("migrate")
@click.option("--no-backup", is_flag=True, help="不先备份（不建议）/ skip the backup first (not advised)")
@click.option("--backup-to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="先写的备份文件（默认 home/backups/）/ the backup written first (default: home/backups/)")
@passphrase_option
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def migrate(ctx: Context, no_backup: bool, backup_to: Path | None, passphrase_stdin: bool, as_json: bool) -> None:
    """升级数据库架构：先备份，再依序迁移；拒绝比程序新的数据库 / back up, then apply the numbered
    migrations; refuses a database newer than this n12315."""
    from node import db as dbmod
    from node import domains, migrations
    from node.config import load_config
    from node.home import attach_data_key, latest_schema, node_exists, schema_too_new
    from node.ops import make_backup, schema_version
    if not node_exists(ctx.home):
        raise NodeError(404, "no_node", f"{ctx.home} 中没有节点 / no node in {ctx.home}")
    config = load_config(ctx.home)
    db = dbmod.open_database(config.db_url)
    try:
        before = schema_version(db)
        if before > latest_schema():
            raise schema_too_new(before)
        record = None
        if before < latest_schema():
            if not no_backup:
                target = backup_to or (ctx.home / "backups" / f"pre-migrate-{before:04d}-"
                                                              f"{_now().strftime('%Y%m%dT%H%M%SZ')}.n12315-backup")
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                record = make_backup(config, target, passphrase(passphrase_stdin), with_keys=False, now=_now(),
                                     version=_version())
            domains.install()
            attach_data_key(ctx.home, db)   # migration 13 encrypts personal data (issue 13 item 1)
            after = migrations.migrate(db)
        else:
            after = before
    finally:
        db.close()
    doc = {"from": before, "to": after, "backup": record["file"] if record else None}
    if as_json:
        emit_json(doc)
    elif before == after:
        click.echo(f"架构已是最新 {after}，无需迁移 / schema already at the latest ({after})")
    else:
        click.echo(f"已迁移 {before} → {after} / migrated" + (f"；备份 backup: {doc['backup']}" if record else ""))


def register(cli: click.Group) -> None:
    for cmd in (service, doctor, backup, restore, migrate):
        cli.add_command(cmd)
