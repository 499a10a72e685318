"""``n12315 directive …``: leadership's emergency dispatch from the command line (R3.1-R3.4;
CONTRACT §6).

``issue``, ``list``, ``show`` (a per-node progress table with Chinese headings), ``ack``
(签收 by a named person), ``report`` (处置反馈), ``update``, ``cancel``, ``from-case``,
``plans`` and ``cap``. Every read command takes ``--json`` and then prints exactly one JSON
document. The operator at the node's shell acts with the administrator's rights; ``--by``
names the person who signs (default: the login of the shell user).
"""
from __future__ import annotations

import getpass
import unicodedata
from typing import Any

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node import directives
from node.errors import NodeError


def _operator(by: str | None) -> directives.Actor:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "operator"
    return directives.Actor(login=f"cli:{login}", role="admin", name=by or login)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    while _width(text) > width and text:
        text = text[:-1]
    return text + " " * (width - _width(text))


def _short_time(value: str | None) -> str:
    return value[5:16].replace("T", " ") if value else "-"


COLUMNS = (("节点代码", 10), ("单位名称", 26), ("层级", 10), ("状态", 10), ("送达时间", 12), ("签收时间", 12),
           ("签收人", 10), ("反馈", 4), ("超时", 4))


def progress_table(progress: dict[str, Any]) -> list[str]:
    """The per-node progress as aligned lines with Chinese headings."""
    from node.config import LEVEL_NAMES_ZH
    lines = ["  ".join(_pad(title, w) for title, w in COLUMNS).rstrip()]
    lines.append("  ".join("-" * w for _, w in COLUMNS))
    for code, e in progress["nodes"].items():
        cells = (code, e.get("name") or "", LEVEL_NAMES_ZH.get(e.get("level") or "", e.get("level") or ""),
                 e.get("status_name") or e["status"], _short_time(e.get("delivered_at")),
                 _short_time(e.get("acknowledged_at")), e.get("acknowledged_by") or "-", e.get("reports") or 0,
                 "是" if e.get("overdue") else "")
        lines.append("  ".join(_pad(c, w) for c, (_, w) in zip(cells, COLUMNS, strict=True)).rstrip())
    lines.append(f"合计 / total: 对象 {progress['targets']}，已送达 {progress['delivered']}，已签收 "
                 f"{progress['acknowledged']}，已反馈 {progress['reported']}，超时 {len(progress['overdue'])}"
                 + ("（明细已截断 / details truncated）" if progress.get("truncated") else ""))
    if progress.get("report_totals"):
        lines.append("反馈统计 / report totals: " + "，".join(f"{k} {v}" for k, v in progress["report_totals"].items()))
    return lines


@click.group("directive")
def directive() -> None:
    """应急指令：下达、签收、反馈、进度 / emergency directives: issue, acknowledge, report, progress."""


@directive.command("issue")
@click.option("--title", help="标题 / title (a plan's title when --plan is given)")
@click.option("--body", help="正文 / body (a plan's summary when --plan is given)")
@click.option("--severity", type=click.Choice(list(directives.SEVERITIES)), help="严重程度 / severity")
@click.option("--urgency", type=click.Choice(list(directives.URGENCIES)), help="紧急程度 / urgency")
@click.option("--certainty", type=click.Choice(list(directives.CERTAINTIES)), help="确定程度 / certainty")
@click.option("--category", type=click.Choice(list(directives.CATEGORIES)), help="类别 / category")
@click.option("--target", "targets", multiple=True,
              help="下达对象节点代码，可重复；CODE/* 含其全部下级；省略为全部下级 / target node code (repeatable; "
                   "CODE/* = that node and its subtree; default every node below)")
@click.option("--subtree", "subtrees", multiple=True, help="下达对象及其全部下级 / a node and its whole subtree")
@click.option("--ack-within", "ack_within", type=int, help="签收时限（分钟）/ acknowledge within MIN minutes")
@click.option("--report-within", "report_within", type=int, help="反馈时限（分钟）/ report within MIN minutes")
@click.option("--plan", "plan", help="依据预案编号 / issue from this emergency plan (预案)")
@click.option("--exercise", is_flag=True, help="演练 / an exercise, not an actual event")
@click.option("--by", "by", help="下达人姓名 / the name of the person issuing it")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def issue(ctx: Context, title: str | None, body: str | None, severity: str | None, urgency: str | None,
          certainty: str | None, category: str | None, targets: tuple[str, ...], subtrees: tuple[str, ...],
          ack_within: int | None, report_within: int | None, plan: str | None, exercise: bool, by: str | None,
          as_json: bool) -> None:
    """下达指令（打印指令编号为最后一行）/ issue a directive; prints its id as the last line."""
    payload: dict[str, Any] = {"title": title, "body": body, "severity": severity, "urgency": urgency,
                               "certainty": certainty, "category": category, "ack_within_minutes": ack_within,
                               "report_within_minutes": report_within, "plan": plan}
    payload = {k: v for k, v in payload.items() if v is not None}
    all_targets = list(targets) + [f"{code}/*" for code in subtrees]
    if all_targets:
        payload["targets"] = all_targets
    if exercise:
        payload["exercise"] = True
    node = ctx.node()
    with node.activate():
        doc = directives.issue(node, payload, _operator(by))
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已下达指令《{doc['title']}》，对象 {', '.join(doc['targets'])}，"
               f"{doc['ack_within_minutes']} 分钟内签收 / directive issued")
    click.echo(doc["id"])


@directive.command("list")
@click.option("--status", type=click.Choice(list(directives.STATUS_NAMES)), help="状态 / status")
@click.option("--role", type=click.Choice(["issuer", "target", "relay"]), help="本节点角色 / this node's role")
@click.option("--case", "case_id", help="关联案件 / linked case id")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def list_(ctx: Context, status: str | None, role: str | None, case_id: str | None, as_json: bool) -> None:
    """列出本节点持有的指令 / list the directives this node holds."""
    node = ctx.node()
    filters = {k: v for k, v in {"status": status, "role": role, "case_id": case_id}.items() if v}
    with node.activate():
        page = directives.list_directives(node, filters, _operator(None))
    if as_json:
        emit_json(page)
        return
    if not page["items"]:
        click.echo("没有指令 / no directives")
        return
    click.echo("  ".join(_pad(t, w) for t, w in (("指令编号", 22), ("状态", 6), ("角色", 6), ("签收", 9),
                                                   ("标题", 30))).rstrip())
    for d in page["items"]:
        p = d["progress"]
        role_zh = {"issuer": "下达", "target": "接收", "relay": "转发"}[d["role_here"]]
        click.echo("  ".join((_pad(d["id"], 22), _pad(d["status_name"], 6), _pad(role_zh, 6),
                              _pad(f"{p['acknowledged']}/{p['targets']}", 9), _pad(d["title"], 30))).rstrip())


@directive.command("show")
@click.argument("directive_id")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def show(ctx: Context, directive_id: str, as_json: bool) -> None:
    """显示指令及各节点进度 / show a directive and its per-node progress."""
    node = ctx.node()
    with node.activate():
        doc = directives.get(node, directive_id, _operator(None))
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{doc['id']}  《{doc['title']}》  {doc['status_name']}  第 {doc['version']} 版")
    click.echo(f"  下达 issuer: {doc['issuer_name']}（{doc['issuer']}）{doc['issued_by']}  {doc['issued_at']}")
    click.echo(f"  级别 severity: {doc['severity_name']}  紧急 urgency: {doc['urgency_name']}  "
               f"类别 category: {doc['category_name']}  对象 targets: {', '.join(doc['targets'])}")
    click.echo(f"  签收时限 ack by: {doc['ack_due_at']}" + (f"  反馈时限 report by: {doc['report_due_at']}"
                                                          if doc["report_due_at"] else ""))
    if doc["case_id"]:
        click.echo(f"  关联案件 case: {doc['case_id']}")
    if doc["plan"]:
        click.echo(f"  预案 plan: {doc['plan']['name']}（{doc['plan']['id']} v{doc['plan']['version']}）")
    click.echo("  " + doc["body"].replace("\n", "\n  "))
    mine = doc["mine"]
    if mine["target"]:
        click.echo("  本单位 this node: " + (f"已签收 {mine['acknowledged_at']} {mine['acknowledged_by']}"
                                            if mine["acknowledged_at"] else "未签收 not yet acknowledged"))
    click.echo("")
    for line in progress_table(doc["progress"]):
        click.echo(line)
    for r in doc["reports"]:
        counts = "，".join(f"{k} {v}" for k, v in r["counts"].items())
        click.echo(f"  反馈 {r['reported_at']} {r['node']} {r['reported_by']}：{r['text']}" + (f"（{counts}）"
                                                                                         if counts else ""))
    for r in doc["reminders"]:
        click.echo(f"  {r['raised_at']} {r['message']}")


@directive.command("ack")
@click.argument("directive_id")
@click.option("--note", default="", help="签收意见 / note")
@click.option("--by", "by", help="签收人姓名 / the name of the person signing for it")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def ack(ctx: Context, directive_id: str, note: str, by: str | None, as_json: bool) -> None:
    """签收指令 / acknowledge (sign for) a directive."""
    node = ctx.node()
    actor = _operator(by)
    with node.activate():
        doc = directives.acknowledge(node, directive_id, {"note": note, "name": actor.name}, actor)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已签收 {directive_id}，签收人 {doc['mine']['acknowledged_by']} / acknowledged")


def _parse_count(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise NodeError(422, "invalid", f"--count 须为 名称=非负整数：{item!r} / --count takes key=number", "counts")
        out[key.strip()] = int(value)
    return out


@directive.command("report")
@click.argument("directive_id")
@click.option("--text", required=True, help="处置情况 / what was done")
@click.option("--count", "counts", multiple=True, help="统计 key=数量，可重复 / a count key=value (repeatable)")
@click.option("--attachment", "attachments", multiple=True,
              help="附件名称[:字节数]，只记录元数据 / attachment name[:bytes], metadata only (repeatable)")
@click.option("--by", "by", help="报告人姓名 / the name of the person reporting")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def report(ctx: Context, directive_id: str, text: str, counts: tuple[str, ...], attachments: tuple[str, ...],
           by: str | None, as_json: bool) -> None:
    """提交处置反馈 / send a situation report up to the issuer."""
    files = []
    for item in attachments:
        name, sep, size = item.rpartition(":")
        files.append({"name": name, "size": int(size)} if sep and name and size.isdigit() else {"name": item})
    node = ctx.node()
    actor = _operator(by)
    with node.activate():
        doc = directives.add_report(node, directive_id, {"text": text, "counts": _parse_count(counts),
                                                         "attachments": files, "name": actor.name}, actor)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已提交处置反馈 {doc['id']} / report sent")


@directive.command("update")
@click.argument("directive_id")
@click.option("--title")
@click.option("--body")
@click.option("--severity", type=click.Choice(list(directives.SEVERITIES)))
@click.option("--urgency", type=click.Choice(list(directives.URGENCIES)))
@click.option("--ack-within", "ack_within", type=int)
@click.option("--report-within", "report_within", type=int)
@click.option("--note", help="更新说明 / why")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def update(ctx: Context, directive_id: str, title: str | None, body: str | None, severity: str | None,
           urgency: str | None, ack_within: int | None, report_within: int | None, note: str | None,
           as_json: bool) -> None:
    """更新指令（CAP Update）/ update a directive this node issued."""
    payload = {"title": title, "body": body, "severity": severity, "urgency": urgency,
               "ack_within_minutes": ack_within, "report_within_minutes": report_within, "note": note}
    node = ctx.node()
    with node.activate():
        changes = {k: v for k, v in payload.items() if v is not None}
        doc = directives.update(node, directive_id, changes, _operator(None))
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已更新 {directive_id}，第 {doc['version']} 版 / updated")


@directive.command("cancel")
@click.argument("directive_id")
@click.option("--reason", default="", help="撤销原因 / reason")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def cancel(ctx: Context, directive_id: str, reason: str, as_json: bool) -> None:
    """撤销指令（CAP Cancel）/ cancel a directive this node issued."""
    node = ctx.node()
    with node.activate():
        doc = directives.cancel(node, directive_id, {"reason": reason}, _operator(None))
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已撤销 {directive_id} / cancelled")


@directive.command("from-case")
@click.argument("case_id")
@click.option("--plan", help="依据预案编号 / emergency plan id")
@click.option("--subtree", is_flag=True, help="同时下达事发地全部下级 / include the local bureau's whole subtree")
@click.option("--by", "by", help="下达人姓名 / the name of the person issuing it")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def from_case(ctx: Context, case_id: str, plan: str | None, subtree: bool, by: str | None, as_json: bool) -> None:
    """紧急案件转为对事发地的指令（属地负责）/ raise an urgent case to a directive to the bureau where it happened."""
    overrides: dict[str, Any] = {"subtree": subtree}
    if plan:
        overrides["plan"] = plan
    node = ctx.node()
    with node.activate():
        doc = directives.directive_from_case(node, case_id, _operator(by), overrides)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"案件 {case_id} 已转为指令，下达至 {', '.join(doc['targets'])} / directive issued")
    click.echo(doc["id"])


@directive.command("plans")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def plans(ctx: Context, as_json: bool) -> None:
    """列出应急预案 / list the emergency plans (预案)."""
    node = ctx.node()
    items = directives.list_plans(node)
    if as_json:
        emit_json({"items": items})
        return
    for p in items:
        click.echo(f"{p['id']:<18} v{p['version']}  {p['name']}  签收 {p['ack_within_minutes']} 分钟  "
                   f"{len(p['steps'])} 个步骤")


@directive.command("cap")
@click.argument("directive_id")
@click.option("--version", type=int, help="版本 / message version")
@pass_ctx
def cap_(ctx: Context, directive_id: str, version: int | None) -> None:
    """以 CAP 1.2 XML 输出指令 / print the directive as a CAP 1.2 alert."""
    node = ctx.node()
    with node.activate():
        xml = directives.cap_xml(node, directive_id, version)
    click.echo(xml.decode("utf-8"))


def register(cli: click.Group) -> None:
    cli.add_command(directive)
