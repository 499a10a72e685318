"""``n12315 link invite | join | list | revoke`` and ``n12315 key rotate`` (CONTRACT §3).

Thin wiring over ``federation.links`` and ``federation.trust`` (R7.1; RELIABILITY rules
14-15): ``invite`` prints the one-time token as the last line of stdout, ``join`` talks to
the parent over the node's ``requests`` session, ``list --json`` prints one JSON list of
``{"code","level","role","url","state","backlog","last_ok"}``, ``revoke`` ends trust in a
node, ``key rotate`` starts a new signing key and signs the statement that carries trust
from the old key to the new one. Every refusal is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import click
from peewee import fn

from admin_cli.cli import Context, emit_json, exit_code_for, pass_ctx
from federation import links, trust
from federation.records import TrustError
from node.audit import record
from node.errors import NodeError

_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


class Refusal(click.ClickException):
    """One line on stderr, in the form ``n12315`` prints every refusal, under CliRunner too."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"错误 / error: {self.message}", err=True)


def one_line_errors(fn_: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn_)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn_(*args, **kwargs)
        except NodeError as exc:
            raise Refusal(exc.message, exit_code_for(exc)) from None
        except links.LinkError as exc:
            raise Refusal(exc.message, 2 if exc.status in (400, 422) else 1) from None
        except TrustError as exc:
            raise Refusal(exc.message) from None
    return wrapper


def _shown(at: datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:  # PostgreSQL hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(_SHANGHAI).isoformat(timespec="seconds")


@click.group("link")
def link() -> None:
    """上下级链路 / links to the parent and children (federation)."""


@link.command("invite")
@click.option("--child", "child_code", required=True, help="下级节点代码 / the child's node code")
@click.option("--ttl-hours", type=float, default=None,
              help="有效期（小时，默认 24） / hours until the token expires (default 24)")
@pass_ctx
@one_line_errors
def invite(ctx: Context, child_code: str, ttl_hours: float | None) -> None:
    """为下级签发一次性邀请令牌（最后一行） / issue a one-time invite; the token is the last line."""
    from node.divisions import load_divisions

    node = ctx.node()
    ttl = node.config.invite_ttl_hours if ttl_hours is None else ttl_hours
    now = node.now()
    with node.activate():
        token = links.create_invite(child_code, node.code, ttl, now, load_divisions().is_within)
        record(node, "cli", "link.invite", child_code, {"ttl_hours": str(ttl)})
    expires = _shown(now + timedelta(hours=ttl))
    click.echo(f"已为 {child_code} 签发邀请，{expires} 前有效，仅可使用一次 / invite for "
               f"{child_code}, valid once until {expires}")
    click.echo(f"下级执行 / at the child: n12315 link join --parent {node.config.url} --token TOKEN")
    click.echo(token)


@link.command("join")
@click.option("--parent", "parent_url", required=True, help="上级节点地址 / the parent's URL")
@click.option("--token", required=True, help="上级签发的邀请令牌 / invite token from the parent")
@click.option("--pull-only", is_flag=True,
              help="本节点不接受上级主动连接（内网所站），只由本节点拉取 / this node cannot take inbound "
                   "connections (a station behind an intranet): the parent never pushes, this node pulls")
@pass_ctx
@one_line_errors
def join(ctx: Context, parent_url: str, token: str, pull_only: bool) -> None:
    """加入上级：交换密钥并取得至根的证书链 / join the parent: exchange keys, receive the chain."""
    from node.network import control as federation_docs

    node = ctx.node()
    result = federation_docs.join_parent(node, parent_url, token, pull_only=pull_only)
    parent = result["parent"]
    record(node, "cli", "link.join", str(parent["code"]), {"url": parent_url, "pull_only": pull_only})
    root = next((r["code"] for r in result["chain"]
                 if r.get("type") == "node-record" and r.get("issuer") is None), "?")
    click.echo(f"已加入上级 {parent['code']} {parent.get('name') or ''} / joined parent "
               f"{parent['code']}; chain root {root}")


@link.command("list")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
@one_line_errors
def list_(ctx: Context, as_json: bool) -> None:
    """列出链路 / list links: code, level, role, url, state, backlog, last success."""
    from replication.models import OutboxEntry

    node = ctx.node()
    with node.activate():
        rows = links.list_links()
        backlog = {
            str(row.dest): int(row.n)
            for row in OutboxEntry.select(OutboxEntry.dest, fn.COUNT(OutboxEntry.id).alias("n"))
            .group_by(OutboxEntry.dest)
        }
    doc = [
        {"code": r["code"], "level": r["level"], "role": r["role"], "url": r["url"],
         "state": r["state"], "backlog": backlog.get(r["code"], 0), "last_ok": _shown(r["last_ok"]),
         "mode": "pull" if r["pull_only"] else "push"}
        for r in rows
    ]
    if as_json:
        emit_json(doc)
        return
    if not doc:
        click.echo("尚无链路 / no links yet")
    for r in doc:
        click.echo(f"{r['role']:<6} {r['code']:<10} {r['level']:<10} {r['state']:<8} {r['mode']:<4} "
                   f"积压 backlog {r['backlog']:<6} 最近成功 last ok {r['last_ok'] or '-'}  {r['url']}")


@link.command("mode")
@click.argument("code")
@click.argument("mode", type=click.Choice(["push", "pull"]))
@pass_ctx
@one_line_errors
def mode(ctx: Context, code: str, mode: str) -> None:
    """在上级设置下级链路方式 / at the parent: push to the child (default), or only let it pull
    (a station that cannot take inbound connections)."""
    node = ctx.node()
    with node.activate():
        links.set_pull_only(code, mode == "pull")
    click.echo(f"链路 {code} 方式：{'下级拉取' if mode == 'pull' else '上级推送'} / link {code} mode: {mode}")


@link.command("revoke")
@click.argument("code")
@click.option("--reason", default="", help="吊销原因 / reason, kept in the revocation list")
@pass_ctx
@one_line_errors
def revoke(ctx: Context, code: str, reason: str) -> None:
    """吊销节点：此后拒收其消息 / end trust in a node: its messages are refused from now on."""
    from node.divisions import load_divisions

    node = ctx.node()
    with node.activate():
        doc = links.revoke_link(code, reason, node.keypair, node.now(), load_divisions().is_within)
        record(node, "cli", "link.revoke", code, {"reason": reason[:200], "list_version": doc and doc["version"]})
    if doc is None:
        click.echo(f"已在本节点停止信任 {code}（不在本节点辖区内，未签发吊销列表） / {code} is no "
                   "longer trusted here (outside this subtree: no revocation list issued)")
    else:
        click.echo(f"已吊销 {code}，吊销列表第 {doc['version']} 版已签发 / {code} revoked; "
                   f"revocation list v{doc['version']} issued")


@click.group("key")
def key() -> None:
    """节点密钥 / the node's signing keys."""


@key.command("rotate")
@pass_ctx
@one_line_errors
def rotate(ctx: Context) -> None:
    """启用新签名密钥；旧公钥保留以验证旧文档 / start a new key; the old one still verifies."""
    from node.home import rotate_key

    node = ctx.node()
    previous = node.keypair
    key_id = rotate_key(node)
    with node.activate():
        trust.record_rotation(previous, node.keypair, node.now())
        record(node, "cli", "key.rotate", node.code, {"from": previous.key_id, "to": key_id})
    click.echo(f"已启用新密钥 {key_id}（旧密钥 {previous.key_id} 保留） / new key {key_id}; "
               f"{previous.key_id} kept for verifying")
    click.echo(f"  {node.keypair.public_b64}")


@key.command("rotate-seal")
@pass_ctx
@one_line_errors
def rotate_seal(ctx: Context) -> None:
    """启用新加密密钥（X25519）；旧私钥保留以开启旧密封件 / start a new seal key (issue 13 item 2);
    the old private keys stay to open envelopes sealed before."""
    from node.privacy import sealing

    node = ctx.node()
    n, public = sealing.rotate_seal_key(node.config.home_path)
    with node.activate():
        resigned = sealing.publish_rotated_key(node.keypair, public, node.now())
        record(node, "cli", "key.rotate_seal", node.code, {"seal_key": n})
    click.echo(f"已启用新加密密钥 seal-key-{n}（旧密钥保留） / new seal key seal-key-{n}; older ones kept for opening")
    click.echo(f"  {public}")
    click.echo("节点记录已重新签发 / node record re-signed" if resigned else
               "随本节点发出的案件文档告知各节点 / peers learn it from the case documents this node sends")


def register(cli: click.Group) -> None:
    for group in (link, key):
        cli.add_command(group)
