"""``n12315 user …``: staff accounts and API tokens (CONTRACT §4)."""
from __future__ import annotations

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.accounts import service as svc


@click.group("user")
def user() -> None:
    """用户与令牌 / staff users and API tokens."""


@user.command("add")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(svc.ROLES), help="角色 / role")
@click.option("--name", "display_name", default="", help="姓名 / display name")
@pass_ctx
def add(ctx: Context, login: str, role: str, display_name: str) -> None:
    """添加用户并打印其 API 令牌（最后一行）/ add a user; prints its API token as the last line."""
    node = ctx.node()
    with node.activate():
        token = svc.add_user(login, role, node.now(), display_name)
    click.echo(f"已添加用户 {login}（{svc.ROLE_NAMES_ZH[role]}）/ user {login} added with role {role}")
    click.echo(token)


@user.command("token")
@click.argument("login")
@pass_ctx
def token(ctx: Context, login: str) -> None:
    """签发新令牌，旧令牌立即失效 / issue a new token (the old one stops working)."""
    node = ctx.node()
    with node.activate():
        tok = svc.reissue_token(login)
    click.echo(f"已为 {login} 签发新令牌 / new token for {login}")
    click.echo(tok)


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_(ctx: Context, as_json: bool) -> None:
    """列出用户 / list users."""
    node = ctx.node()
    with node.activate():
        rows = svc.list_users()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['login']:<24} {r['role']:<12} {'停用 disabled' if r['disabled'] else ''}")


def register(cli: click.Group) -> None:
    cli.add_command(user)
