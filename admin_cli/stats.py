"""``n12315 stats …``: push the rollup, show and export figures, unit performance, hot spots,
direct-report points (CONTRACT §7; R4.1-R4.5, R7.6, R8.2).

``stats show`` prints a table, CSV or an XLSX workbook (openpyxl) with Chinese headings;
the figures come from ``node.stats.query`` — the same answer as
``GET /api/v1/stats``.
"""
from __future__ import annotations

import csv
import io
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.errors import NodeError

TABLE_MEASURES = ("cases", "accepted", "accepted_on_time", "concluded", "concluded_on_time", "overdue",
                  "mediated", "satisfied", "amount", "amount_recovered")


@click.group("stats")
def stats() -> None:
    """统计汇总、查询与导出 / statistics: rollup, query, export, units, hot spots."""


# -- push ---------------------------------------------------------------------------------------
@stats.command("push")
@click.option("--full", is_flag=True, help="全量核对案件表后再汇总 / reconcile every receipt day first")
@click.option("--wait", "wait_s", type=float, default=None,
              help="等待快照送达上级的秒数 / wait until the parent has acknowledged (seconds)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def push(ctx: Context, full: bool, wait_s: float | None, as_json: bool) -> None:
    """立即汇总并上报本节点快照 / roll up now and send this node's snapshots to its parent.

    Recomputes the local aggregates from the case table, rebuilds the projections, queues
    one signed snapshot per changed day (and, at a direct-report point, one for HQ), then
    pushes the statistics channel to the parent.
    """
    import node.stats as svc
    from node.network.transport import replicator
    from replication import sender, topology
    from replication.models import OutboxEntry
    node = ctx.node()
    errors: list[str] = []
    with node.activate():
        result = svc.rollup(node, full=full)
        parent = topology.parent_code()
        deadline = time.monotonic() + (wait_s or 0)
        left = 0
        if parent is not None:
            rep = replicator(node)
            while True:
                report = sender.push(rep, parent, svc.CHANNEL, force=True)
                errors = sorted(set(report.errors))
                left = (OutboxEntry.select()
                        .where((OutboxEntry.dest == parent) & (OutboxEntry.channel == svc.CHANNEL))
                        .count())
                if wait_s is None or left == 0 or time.monotonic() >= deadline:
                    break
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    result.update({"parent": parent, "backlog": left, "errors": errors})
    if as_json:
        emit_json(result)
    else:
        click.echo(f"本地重算 {result['local_days']} 天，投影重建 {result['rebuilt_days']} 天，"
                   f"快照 {result['sent']} 份（直报 {result['sent_direct']} 份），待送达 {left} / "
                   f"recomputed {result['local_days']} days, rebuilt {result['rebuilt_days']}, "
                   f"queued {result['sent']} snapshots ({result['sent_direct']} direct), backlog {left}")
        for e in errors:
            click.echo(f"  ! {e}", err=True)
    if wait_s is not None and left:
        raise NodeError(504, "push_timeout", f"{wait_s:g} 秒内上级未确认全部快照（剩余 {left}，稍后自动重试）/ "
                                             f"parent has not acknowledged every snapshot after {wait_s:g} s")


# -- show ---------------------------------------------------------------------------------------
# the names, headings, rows and workbook are the statistics domain's (node/stats/export.py),
# shared with the desk's XLSX export
def _labels(node: Any) -> dict[str, Any]:
    from node.stats import value_labels
    return value_labels(node)


def headings(group_by: list[str], measures: tuple[str, ...]) -> list[str]:
    from node.stats import figure_headings
    return figure_headings(group_by, measures)


def table_rows(doc: dict[str, Any], labels: dict[str, Any], measures: tuple[str, ...]) -> list[list[Any]]:
    """Data rows and the totals row (合计), values as str/int/Decimal."""
    from node.stats import figure_rows
    return figure_rows(doc, labels, measures)


def render_table(doc: dict[str, Any], labels: dict[str, Any]) -> str:
    heads = headings(doc["group_by"], TABLE_MEASURES)
    rows = [[str(c) for c in r] for r in table_rows(doc, labels, TABLE_MEASURES)]

    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)

    widths = [max(width(h), *(width(r[i]) for r in rows)) for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    cov = doc["coverage"]
    out = [f"统计 {doc['scope']} {doc['scope_name']}  {doc['from']} 至 {doc['to']}  （截至 {doc['as_of']}）",
           line(heads), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append(f"覆盖：{cov['nodes_reporting']}/{cov['nodes_expected']} 个下级节点已报送"
               + (f"，超时未报：{'、'.join(cov['stale'])}" if cov["stale"] else ""))
    return "\n".join(out) + "\n"


def render_csv(doc: dict[str, Any], labels: dict[str, Any]) -> str:
    from node.stats import OUTPUT_MEASURES
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headings(doc["group_by"], OUTPUT_MEASURES))
    for r in table_rows(doc, labels, OUTPUT_MEASURES):
        writer.writerow([f"{c:.2f}" if isinstance(c, Decimal) else c for c in r])
    return buf.getvalue()


def write_xlsx(doc: dict[str, Any], labels: dict[str, Any], path: Path) -> None:
    from node.stats import figures_workbook
    figures_workbook(doc, labels).save(path)


@stats.command("show")
@click.option("--from", "from_", help="起始日期 YYYY-MM-DD（默认：截止日前 29 天）/ first day")
@click.option("--to", "to", help="截止日期 YYYY-MM-DD（默认：今天）/ last day")
@click.option("--group-by", "group_by", default="", help="分组：kind,channel,region,category,urgency,status")
@click.option("--basis", type=click.Choice(["accepted", "handled"]), default="accepted", show_default=True,
              help="按受理节点或办理节点计数 / count where taken in or where handled")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx"]), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="输出文件（xlsx 默认 stats-<代码>-<起>-<止>.xlsx）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON（同 GET /api/v1/stats）/ print JSON")
@pass_ctx
def show(ctx: Context, from_: str | None, to: str | None, group_by: str, basis: str, fmt: str,
         output: str | None, as_json: bool) -> None:
    """查询本节点辖区统计 / the figures of this node's whole subtree (as GET /api/v1/stats)."""
    import node.stats as svc
    node = ctx.node()
    params = {"group_by": group_by, "basis": basis}
    if from_:
        params["from"] = from_
    if to:
        params["to"] = to
    with node.activate():
        doc = svc.query(node, params)
        labels = _labels(node)
    if as_json:
        emit_json(doc)
        return
    if fmt in ("xlsx", "csv") and (output or fmt == "xlsx"):
        from node.audit import record
        record(node, "cli", "export", "stats", {"format": fmt, "scope": str(doc["scope"]), "from": str(doc["from"]),
                                               "to": str(doc["to"])})
    if fmt == "xlsx":
        path = Path(output or f"stats-{doc['scope']}-{doc['from']}-{doc['to']}.xlsx")
        write_xlsx(doc, labels, path)
        click.echo(f"已导出 / written: {path}")
        return
    text = render_table(doc, labels) if fmt == "table" else render_csv(doc, labels)
    if output:
        Path(output).write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        click.echo(f"已导出 / written: {output}")
    else:
        sys.stdout.write(text)


# -- units and hot spots ------------------------------------------------------------------------
def _pct(v: Any) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


@stats.command("units")
@click.option("--from", "from_", help="起始日期 / first day")
@click.option("--to", "to", help="截止日期 / last day")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def units(ctx: Context, from_: str | None, to: str | None, as_json: bool) -> None:
    """下级单位绩效排名 / performance of each direct subordinate unit, ranked (R7.6, R8.2)."""
    import node.stats as svc
    node = ctx.node()
    params = {k: v for k, v in (("from", from_), ("to", to)) if v}
    with node.activate():
        doc = svc.units(node, params)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"下级单位绩效 {doc['scope']} {doc['from']} 至 {doc['to']}")
    click.echo("名次  单位        受理件数  受理率  按期受理  按期办结  调解成功  满意率  挽回损失（元）  超期")
    for u in doc["units"]:
        click.echo(f"{u['rank']:>4}  {u['code']:<10}  {u['cases_taken']:>8}  {_pct(u['acceptance_rate']):>6}  "
                   f"{_pct(u['on_time_acceptance_rate']):>8}  {_pct(u['on_time_conclusion_rate']):>8}  "
                   f"{_pct(u['mediation_success_rate']):>8}  {_pct(u['satisfaction_rate']):>6}  "
                   f"{u['amount_recovered']:>14}  {u['overdue']:>4}")
    click.echo(doc["ranking_rule"])


@stats.command("hotspots")
@click.option("--date", "date_", help="本周最后一天（默认今天）/ last day of the week")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def hotspots(ctx: Context, date_: str | None, as_json: bool) -> None:
    """热点：环比激增与投诉最多的企业 / week-over-week surges and the most-complained firms."""
    import node.stats as svc
    node = ctx.node()
    with node.activate():
        doc = svc.hotspots(node, {"date": date_} if date_ else {})
    if as_json:
        emit_json(doc)
        return
    click.echo(f"热点 {doc['week']['from']} 至 {doc['week']['to']}；规则：{doc['rule']['text']}")
    if not doc["hotspots"]:
        click.echo("  本周无激增 / no surge this week")
    for h in doc["hotspots"]:
        click.echo(f"  {h['dimension']:<8} {h['value']:<20} {h['name'] or '':<16} 本周 {h['this_week']} 上周 "
                   f"{h['last_week']} p={h['p_value']}")
    click.echo("投诉最多的企业 / most-complained firms:")
    for f in doc["top_firms"]:
        click.echo(f"  {f['uscc']}  {f['name'] or '':<24} {f['cases']} 件（投诉 {f['complaints']}，举报 {f['reports']}）")


# -- status ---------------------------------------------------------------------------------------
@stats.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """汇总状态：版本、待发送天数、被忽略的快照 / rollup state and ignored snapshots."""
    import node.stats as svc
    node = ctx.node()
    with node.activate():
        doc = svc.status(node)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"节点 {doc['code']}：快照版本 {doc['version']}，上次发送 {doc['last_sent_at'] or '—'}，"
               f"待发送 {doc['pending_days']['parent']} 天，直报点 {'是' if doc['direct_report_point'] else '否'}")
    click.echo(f"已报送的下级：{'、'.join(doc['children_reported']) or '—'}；被忽略的快照 {doc['rejections_total']} 份")
    for r in doc["rejections"][:10]:
        click.echo(f"  {r['at']} {r['origin']} {r['day']} v{r['version']}: {r['reason']}")


# -- direct-report points (HQ) ------------------------------------------------------------------------
@stats.group("direct-report")
def direct_report() -> None:
    """数据直报点（总局）/ HQ's direct-report points (R4.2)."""


@direct_report.command("add")
@click.argument("code")
@pass_ctx
def dr_add(ctx: Context, code: str) -> None:
    """指定一个数据直报点（指令沿树下发）/ designate a point; the order travels down the tree."""
    import node.stats as svc
    node = ctx.node()
    with node.activate():
        point = svc.designate(node, code, True)
    state = "已下发" if point["delivered"] else "待链路可达后下发"
    click.echo(f"已指定数据直报点 {code}（{state}）/ {code} designated "
               f"({'sent' if point['delivered'] else 'queued until its branch is linked'})")


@direct_report.command("remove")
@click.argument("code")
@pass_ctx
def dr_remove(ctx: Context, code: str) -> None:
    """撤销一个数据直报点 / withdraw a direct-report point."""
    import node.stats as svc
    node = ctx.node()
    with node.activate():
        svc.designate(node, code, False)
    click.echo(f"已撤销数据直报点 {code} / {code} withdrawn")


@direct_report.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def dr_list(ctx: Context, as_json: bool) -> None:
    """列出数据直报点 / list direct-report points."""
    import node.stats as svc
    node = ctx.node()
    with node.activate():
        points = list(svc.direct_points(node).values())
    if as_json:
        emit_json(points)
        return
    if not points:
        click.echo("没有数据直报点 / no direct-report points")
    for p in points:
        click.echo(f"{p['code']:<10} {'有效' if p['designated'] else '已撤销'}  上次直报 {p['last_report_at'] or '—'}")


def register(cli: click.Group) -> None:
    cli.add_command(stats)
