"""``n12315 case show | list``: read cases at this node from the command line (CONTRACT §5).

The operator reads as the node's administrator would over the API, so reports against staff
stay hidden (R2.3: only the discipline role sees them, through the API with its token).
"""
from __future__ import annotations

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.services import cases as svc
from node.services import standard

OPERATOR = svc.Actor("cli", "admin")


@click.group("case")
def case() -> None:
    """案件查询 / read the cases this node holds."""


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def show(ctx: Context, case_id: str, as_json: bool) -> None:
    """显示一件案件及其办理记录 / show one case with its history."""
    node = ctx.node()
    with node.activate():
        doc = svc.get_case(node, case_id, OPERATOR)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{doc['id']}  {doc['kind']}  {svc.STATUS_NAMES_ZH.get(doc['status'], doc['status'])}"
               f"（{doc['status']}）  {svc.urgency_label(doc['urgency'])}"
               f"{'  超期 OVERDUE' if doc['overdue'] else ''}")
    click.echo(f"  登记 received: {doc['received_at']}  渠道 channel: {doc['channel']}  分类 category: {doc['category']}")
    click.echo(f"  摘要 summary: {doc['summary']}")
    resp = doc["respondent"] or {}
    if resp:
        click.echo(f"  被投诉人 respondent: {resp.get('name') or '-'}  区划 region: {resp.get('region_code') or '-'}")
    click.echo(f"  登记单位 accepting: {doc['accepting_node']}  承办 handling: {doc['handling_node']}  "
               f"规则集 rule set: {doc['rule_set']}")
    dues = {k: v for k, v in (doc["deadlines"] or {}).items() if k.endswith("_by") and v}
    if dues:
        click.echo("  时限 deadlines: " + ", ".join(f"{k} {v}" for k, v in dues.items()))
    if doc["linked_case"]:
        click.echo(f"  关联 linked: {doc['linked_case']}")
    for e in doc["history"]:
        click.echo(f"  {e['at']}  {e['node']}  {e['actor']:<10} {e['action']:<10} "
                   f"{e['from_status'] or '-'} → {e['to_status'] or '-'}  {e['note']}")


@case.command("list")
@click.option("--status", type=click.Choice(list(standard.STATUSES)), help="状态 / status")
@click.option("--kind", type=click.Choice(list(standard.ALL_KINDS)), help="类型 / kind")
@click.option("--overdue", is_flag=True, help="仅超期 / overdue only")
@click.option("--limit", default=50, show_default=True, type=int, help="条数（最多 200）/ how many (at most 200)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_(ctx: Context, status: str | None, kind: str | None, overdue: bool, limit: int,
          as_json: bool) -> None:
    """列出案件，最新在前 / list cases, newest first."""
    node = ctx.node()
    filters = {"status": status, "kind": kind, "overdue": "true" if overdue else None}
    with node.activate():
        page = svc.list_cases(node, {k: v for k, v in filters.items() if v}, OPERATOR, limit=limit)
    if as_json:
        emit_json(page)
        return
    if not page["items"]:
        click.echo("没有案件 / no cases")
    for c in page["items"]:
        click.echo(f"{c['id']}  {c['kind']:<12} {c['status']:<12} {c['urgency']:<8} "
                   f"{'超期 ' if c['overdue'] else ''}{c['summary'][:40]}")


def register(cli: click.Group) -> None:
    cli.add_command(case)
