"""``n12315 open311 key …``: API keys of the Open311 GeoReport v2 interface (issue 12 item 5;
CONTRACT §10; docs/open311.md)."""
from __future__ import annotations

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.open311 import keys as svc


@click.group("open311")
def open311() -> None:
    """Open311 GeoReport v2 接口 / the Open311 GeoReport v2 interface (/open311/v2/)."""


@open311.group("key")
def key() -> None:
    """Open311 API 密钥 / API keys for partner systems that post service requests."""


@key.command("add")
@click.argument("name")
@pass_ctx
def add(ctx: Context, name: str) -> None:
    """签发密钥并打印（最后一行，仅此一次）/ issue a key; prints it as the last line, once."""
    node = ctx.node()
    with node.activate():
        new = svc.add_key(name, node.now())
    click.echo(f"已签发 Open311 密钥 {name}（只显示这一次）/ Open311 key {name} issued (shown this once)")
    click.echo(new)


@key.command("list")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_(ctx: Context, as_json: bool) -> None:
    """列出密钥（不含密钥本身）/ list keys (never the key itself)."""
    node = ctx.node()
    with node.activate():
        rows = svc.list_keys()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        state = "有效 active" if r["active"] else f"已吊销 revoked {r['revoked_at']}"
        click.echo(f"{r['name']:<24} {r['created_at']}  {state}")


@key.command("revoke")
@click.argument("name")
@pass_ctx
def revoke(ctx: Context, name: str) -> None:
    """吊销密钥：此后用它提交一律 403 / revoke a key: posts with it are refused (403) from now on."""
    node = ctx.node()
    with node.activate():
        svc.revoke_key(name, node.now())
    click.echo(f"已吊销 Open311 密钥 {name} / Open311 key {name} revoked")


def register(cli: click.Group) -> None:
    cli.add_command(open311)
