"""``n12315 audit …``: the tamper-evident audit log (CONTRACT §11; issue 13 item 4; docs/audit.md).

``audit verify [--json]`` walks every chain — the audit log's and each case's history (node/cases/
chain.py), with the case heads sealed in the log: exit 0 when all hold (and a line saying up to
which signed head the case heads were covered); otherwise exit 1 with a line on stderr naming the
first entry that was changed, removed or inserted (one line per damaged case history or sealed
snapshot). ``audit list`` shows the
newest entries; ``audit seal`` signs the head now (``serve`` does it every
``audit.head_sign_interval_s`` seconds).
"""
from __future__ import annotations

import json
import sys

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.audit import list_entries, seal_head, verify
from node.cases import verify_history


@click.group("audit")
def audit() -> None:
    """审计日志 / the tamper-evident audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def verify_cmd(ctx: Context, as_json: bool) -> None:
    """校验审计日志与各案件历史的哈希链 / check the audit chain, its signed heads and every case's history chain."""
    node = ctx.node()
    report = verify(node)
    with node.activate():
        histories = verify_history(node.db)
    if as_json:
        emit_json({**report.to_dict(), "ok": report.ok and histories.ok, "audit_ok": report.ok,
                   "case_histories": histories.to_dict()})
    elif report.ok and histories.ok:
        signed = report.last_signed
        click.echo(f"审计日志完好：{report.entries} 条 / audit log intact: {report.entries} entries"
                   + (f"; 最近签名链头 last signed head #{signed['seq']} {signed['signed_at']}" if signed else
                      "; 尚无签名链头 / no signed head yet"))
        click.echo(f"案件历史完好：{histories.cases} 件 {histories.events} 条 / case histories intact: "
                   f"{histories.cases} cases, {histories.events} events"
                   + (f"; 另存被取代的记录 {histories.superseded} 条 / {histories.superseded} superseded events kept"
                      if histories.superseded else ""))
        click.echo(histories.heads.line())
    if not report.ok:
        assert report.first_bad is not None
        click.echo(f"错误 / error: {report.first_bad.line()}", err=True)
    if not histories.ok:
        for bad in histories.heads.bad_snapshots:
            click.echo(f"错误 / error: {bad['message']}", err=True)
        for finding in histories.findings:
            click.echo(f"错误 / error: {finding.message}", err=True)
        if histories.damaged > len(histories.findings):
            click.echo(f"……共 {histories.damaged} 件案件历史受损 / {histories.damaged} case histories damaged in all",
                       err=True)
    if not (report.ok and histories.ok):
        sys.exit(1)


@audit.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="条数 / entries")
@click.option("--action", default=None, help="只看此类操作 / only this action (e.g. user.disable)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_cmd(ctx: Context, limit: int, action: str | None, as_json: bool) -> None:
    """最近的审计记录（新的在前）/ the newest entries first."""
    node = ctx.node()
    rows = list_entries(node, limit=limit, action=action)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        detail = json.dumps(r["detail"], ensure_ascii=False, separators=(",", ":"))
        click.echo(f"{r['seq']:>7}  {r['at']}  {r['actor']:<16} {r['action']:<20} {r['target']:<16} {detail}")


@audit.command("seal")
@pass_ctx
def seal_cmd(ctx: Context) -> None:
    """立即用节点密钥签名链头 / sign the head with the node key now."""
    node = ctx.node()
    seal = seal_head(node)
    if seal is None:
        report = verify(node)
        if not report.ok:
            assert report.first_bad is not None
            click.echo(f"错误 / error: {report.first_bad.line()}", err=True)
            sys.exit(1)
        click.echo("无新记录，无需签名 / nothing new to sign")
        return
    click.echo(f"已签名链头 #{seal['seq']}（{seal['key_id']}）/ head #{seal['seq']} signed with {seal['key_id']}")


def register(cli: click.Group) -> None:
    cli.add_command(audit)
