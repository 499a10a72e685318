"""``n12315 user …``: staff accounts and API tokens (CONTRACT §4, §11; issue 13 item 5).

``disable``/``enable``, ``role``, ``tokens`` (list, never the secret) and ``token-revoke`` beside
the contract's ``add``, ``password`` and ``token``. Every change is written to the audit log with
the actor ``cli``."""
from __future__ import annotations

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.accounts import list_tokens, passwords, revoke_token
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
        token = svc.add_user(login, role, node.now(), display_name, token_days=node.config.accounts.token_days)
        if password is not None:
            passwords.set_password(login, password, now=node.now())
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
        passwords.set_password(login, new, now=node.now())
    click.echo(f"已为 {login} 设置工作台密码 / desk password set for {login}")


@user.command("token")
@click.argument("login")
@pass_ctx
def token(ctx: Context, login: str) -> None:
    """签发新令牌，旧令牌立即失效 / issue a new token (the old one stops working)."""
    node = ctx.node()
    with node.activate():
        tok = svc.reissue_token(login, now=node.now(), token_days=node.config.accounts.token_days)
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


@user.command("disable")
@click.argument("login")
@pass_ctx
def disable(ctx: Context, login: str) -> None:
    """停用账号：其令牌与工作台会话在下一次请求时失效 / disable LOGIN: its tokens and desk sessions stop
    at the next request."""
    node = ctx.node()
    with node.activate():
        svc.set_disabled(login, True, now=node.now())
    click.echo(f"已停用 {login}：其令牌与会话已失效 / {login} disabled: its tokens and sessions no longer work")


@user.command("enable")
@click.argument("login")
@pass_ctx
def enable(ctx: Context, login: str) -> None:
    """重新启用账号（旧会话不会恢复）/ enable LOGIN again (old desk sessions stay ended)."""
    node = ctx.node()
    with node.activate():
        svc.set_disabled(login, False, now=node.now())
    click.echo(f"已启用 {login} / {login} enabled")


@user.command("role")
@click.argument("login")
@click.argument("role", type=click.Choice(svc.ROLES))
@pass_ctx
def role(ctx: Context, login: str, role: str) -> None:
    """更改角色，下一次请求生效 / give LOGIN another role (from its next request)."""
    node = ctx.node()
    with node.activate():
        svc.set_role(login, role, now=node.now())
    click.echo(f"{login} 的角色已改为 {svc.ROLE_NAMES_ZH[role]} / {login} now has role {role}")


@user.command("tokens")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def tokens(ctx: Context, login: str, as_json: bool) -> None:
    """列出该用户的令牌（编号、前缀、签发、到期、最近使用、撤销；不显示令牌本身）/
    list LOGIN's tokens (id, prefix, created, expires, last used, revoked; never the secret)."""
    node = ctx.node()
    with node.activate():
        rows = list_tokens(login, node.now())
    if as_json:
        emit_json(rows)
        return
    states = {"active": "有效 active", "expired": "已过期 expired", "revoked": "已撤销 revoked"}
    click.echo(f"{'ID':>5}  {'PREFIX':<12} {'CREATED':<26} {'EXPIRES':<26} {'LAST USED':<26} STATE")
    for r in rows:
        click.echo(f"{r['id']:>5}  {r['prefix']:<12} {r['created_at'][:19]:<26} {r['expires_at'][:19]:<26} "
                   f"{(r['last_used_at'] or '-')[:19]:<26} {states[r['state']]}")


@user.command("token-revoke")
@click.argument("login")
@click.argument("token_id", type=int)
@pass_ctx
def token_revoke(ctx: Context, login: str, token_id: int) -> None:
    """撤销一个令牌（编号见 n12315 user tokens），下一次请求起失效 / revoke one token (ids from
    `n12315 user tokens`); it stops at the next request."""
    node = ctx.node()
    with node.activate():
        revoke_token(login, token_id, now=node.now())
    click.echo(f"已撤销 {login} 的令牌 {token_id} / token {token_id} of {login} revoked")


def register(cli: click.Group) -> None:
    cli.add_command(user)
