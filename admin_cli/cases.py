"""``n12315 case show | list``: read cases at this node from the command line (CONTRACT §5).

The operator reads as the node's administrator would over the API, so reports against staff
stay hidden (R2.3: only the discipline role sees them, through the API with its token).

Personal data is masked (issue 13 item 3; docs/privacy-access.md): a shell has no signed-in
person who could be a case's handler, so ``show`` and ``list`` print ``李**``,
``139****0000``; ``show ID --reason TEXT`` prints the case in full and records the read as
``pii.read`` in the node's audit log under ``cli:<operating-system user>``.
"""
from __future__ import annotations

import getpass

import click

import node.cases as cases
from admin_cli.cli import Context, emit_json, pass_ctx
from node.cases.personal_view import masked
from node.errors import NodeError

OPERATOR = cases.Actor("cli", "admin")


def _operator() -> cases.Actor:
    """Who the audit log names for a full read from the shell."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):     # no name for the uid (a container): the log still says cli
        who = ""
    return cases.Actor(f"cli:{who}" if who else "cli", "admin")


@click.group("case")
def case() -> None:
    """案件查询 / read the cases this node holds."""


@case.command("show")
@click.argument("case_id")
@click.option("--reason", default=None,
              help="填写理由显示完整个人信息（记入审计日志）/ show the personal data in full for this reason "
                   "(recorded in the audit log)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def show(ctx: Context, case_id: str, reason: str | None, as_json: bool) -> None:
    """显示一件案件、流转轨迹及其办理记录（个人信息脱敏）/ show one case, its custody trail and its
    history (personal data masked unless --reason)."""
    node = ctx.node()
    with node.activate():
        if reason is None:
            doc = masked(cases.get_case(node, case_id, OPERATOR))
        else:
            try:
                doc = cases.reveal_case(node, case_id, _operator(), {"reason": reason}, via="cli")
            except NodeError as exc:
                if exc.field == "reason":
                    raise click.BadParameter(exc.message, param_hint="--reason") from None
                raise
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{doc['id']}  {doc['kind']}  {cases.STATUS_NAMES_ZH.get(doc['status'], doc['status'])}"
               f"（{doc['status']}）  {cases.urgency_label(doc['urgency'])}"
               f"{'  超期 OVERDUE' if doc['overdue'] else ''}")
    click.echo(f"  登记 received: {doc['received_at']}  渠道 channel: {doc['channel']}  分类 category: {doc['category']}")
    click.echo(f"  摘要 summary: {doc['summary']}")
    person = doc.get("complainant") or {}
    if person:
        who = "匿名 anonymous" if person.get("anonymous") and not person.get("name") else (person.get("name") or "-")
        click.echo(f"  投诉人 complainant: {who}  电话 phone: {person.get('phone') or '-'}  "
                   f"地址 address: {person.get('address') or '-'}"
                   f"{'  （已脱敏 masked）' if person.get('masked') else ''}")
    resp = doc["respondent"] or {}
    if resp:
        click.echo(f"  被投诉人 respondent: {resp.get('name') or '-'}  区划 region: {resp.get('region_code') or '-'}")
    click.echo(f"  登记单位 accepting: {doc['accepting_node']}  承办 handling: {doc['handling_node']}  "
               f"规则集 rule set: {doc['rule_set']}")
    held = "本节点承办 handled here" if doc.get("held_as", "handler") == "handler" else "只读副本 read copy"
    click.echo(f"  本节点 this node: {held}  版本 version: {doc['version']}")
    if doc.get("attention"):
        click.echo(f"  需人工处理 ATTENTION: {doc['attention']}")
    dues = {k: v for k, v in (doc["deadlines"] or {}).items() if k.endswith("_by") and v}
    if dues:
        click.echo("  时限 deadlines: " + ", ".join(f"{k} {v}" for k, v in dues.items()))
    if doc["linked_case"]:
        click.echo(f"  关联 linked: {doc['linked_case']}")
    custody = doc.get("custody") or []
    if custody:
        click.echo("  流转轨迹 custody trail:")
        for hop in custody:
            since = hop.get("since") or f"（在途 in transit，{hop.get('sent_at') or '-'} 发出 sent）"
            until = hop.get("until") or ("至今 now" if hop.get("since") else "")
            by = f"{hop.get('from')} → " if hop.get("from") else ""
            via = f" 经 via {'、'.join(hop['via'])}" if hop.get("via") else ""
            flags = "".join(f" [{f}]" for f in ("returned", "undelivered") if hop.get(f))
            click.echo(f"    {by}{hop['node']}  {since} — {until}  {hop.get('action')}（{hop.get('by') or '-'}）"
                       f"{via}{flags}")
            if hop.get("reason"):
                click.echo(f"        理由 why: {hop['reason']}")
    click.echo("  办理记录 history:")
    for e in doc["history"]:
        click.echo(f"  {e['at']}  {e['node']}  {e['actor']:<10} {e['action']:<10} "
                   f"{e['from_status'] or '-'} → {e['to_status'] or '-'}  {e['note']}")


@case.command("list")
@click.option("--status", type=click.Choice(list(cases.STATUSES)), help="状态 / status")
@click.option("--kind", type=click.Choice(list(cases.ALL_KINDS)), help="类型 / kind")
@click.option("--overdue", is_flag=True, help="仅超期（含下级案件副本）/ overdue only (copies of the subtree's cases too)")
@click.option("--due-within", "due_within", type=int, default=None,
              help="N 个工作日内到期 / due within N working days (supervision)")
@click.option("--attention", is_flag=True, help="仅需人工处理的 / flagged for a person by routing only")
@click.option("--held-as", "held_as", type=click.Choice(["handler", "copy"]),
              help="本节点承办或副本 / handled here, or copies kept here")
@click.option("--limit", default=50, show_default=True, type=int, help="条数（最多 200）/ how many (at most 200)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_(ctx: Context, status: str | None, kind: str | None, overdue: bool, due_within: int | None,
          attention: bool, held_as: str | None, limit: int, as_json: bool) -> None:
    """列出本节点持有的案件（承办的和副本），最新在前 / list the cases this node holds, newest first."""
    node = ctx.node()
    filters = {"status": status, "kind": kind, "overdue": "true" if overdue else None,
               "due_within_days": str(due_within) if due_within is not None else None,
               "attention": "true" if attention else None, "held_as": held_as}
    with node.activate():
        page = cases.list_cases(node, {k: v for k, v in filters.items() if v}, OPERATOR, limit=limit)
    page["items"] = [masked(item) for item in page["items"]]
    if as_json:
        emit_json(page)
        return
    if not page["items"]:
        click.echo("没有案件 / no cases")
    for c in page["items"]:
        mark = "" if c.get("held_as", "handler") == "handler" else f"副本←{c['handling_node']} "
        click.echo(f"{c['id']}  {c['kind']:<12} {c['status']:<12} {c['urgency']:<8} {mark}"
                   f"{'超期 ' if c['overdue'] else ''}{'待人工 ' if c.get('attention') else ''}{c['summary'][:40]}")


def register(cli: click.Group) -> None:
    cli.add_command(case)
