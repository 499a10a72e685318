"""``n12315 user …``: staff accounts and API tokens (CONTRACT §4)."""
from __future__ import annotations

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.accounts import passwords
from node.accounts import service as svc
from node.errors import NodeError


@click.group("user")
def user() -> None:
    """用户与令牌 / staff users and API tokens."""


@user.command("add")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(svc.ROLES), help="角色 / role")
@click.option("--name", "display_name", default="", help="姓名 / display name")
@click.option("--password-stdin", is_flag=True,
              help="从标准输入读取工作台登录密码（一行）/ read the desk password from stdin (one line)")
@pass_ctx
def add(ctx: Context, login: str, role: str, display_name: str, password_stdin: bool) -> None:
    """添加用户并打印其 API 令牌（最后一行）/ add a user; prints its API token as the last line."""
    password = _read_password(confirm=False) if password_stdin else None
    if password is not None:
        passwords.check_password_rules(password)   # before anything is created: a bad one changes nothing
    node = ctx.node()
    with node.activate():
        token = svc.add_user(login, role, node.now(), display_name)
        if password is not None:
            passwords.set_password(login, password)
    click.echo(f"已添加用户 {login}（{svc.ROLE_NAMES_ZH[role]}）/ user {login} added with role {role}"
               + ("；已设置工作台密码 / desk password set" if password is not None else ""))
    click.echo(token)


def _read_password(confirm: bool) -> str:
    """One line from stdin; at a terminal, asked twice without echo."""
    stream = click.get_text_stream("stdin")
    if stream.isatty():
        return click.prompt("新密码 / new password", hide_input=True, confirmation_prompt=confirm)
    line = stream.readline()
    if not line:
        raise NodeError(422, "invalid", "标准输入中没有密码 / no password on stdin", "password")
    return line.rstrip("\r\n")


@user.command("password")
@click.argument("login")
@pass_ctx
def password(ctx: Context, login: str) -> None:
    """从标准输入读取新的工作台密码（一行）；该用户的所有会话立即结束 /
    set the desk password from stdin (one line); every desk session of the user ends."""
    new = _read_password(confirm=True)
    node = ctx.node()
    with node.activate():
        passwords.set_password(login, new)
    click.echo(f"已为 {login} 设置工作台密码 / desk password set for {login}")


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
