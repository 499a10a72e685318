"""``n12315 sync`` and ``n12315 quarantine …`` (CONTRACT §2; RELIABILITY rules 8, 10)."""
from __future__ import annotations

import time

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.errors import NodeError


@click.command("sync")
@click.option("--wait", "wait_s", type=float, default=None,
              help="等待所有发件箱清空的秒数 / wait until every outbox is empty (seconds)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def sync(ctx: Context, wait_s: float | None, as_json: bool) -> None:
    """立即在所有链路上推送和拉取 / push and pull on every link now.

    With --wait, repeats until every outbox is empty; exits non-zero if time runs out.
    Safe while `serve` runs in another process.
    """
    from node.network.transport import replicator
    from replication import outbox, sender
    node = ctx.node()
    deadline = time.monotonic() + (wait_s or 0)
    total = sender.SyncReport()
    with node.activate():
        rep = replicator(node)
        from node.network import control as federation_docs
        federation_docs.push_changes(node)   # chains and revocations changed by link join/revoke
        first = True
        while True:
            # the first round forces a try on every link; later rounds respect the backoff,
            # so waiting on a peer that is down does not push its next try out to the cap
            report = sender.sync_all(rep, force=first)
            first = False
            total.merge(report)
            left = outbox.backlog()
            if wait_s is None or left == 0 or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    doc = {"sent": total.sent, "acked": total.acked, "pulled": total.pulled, "backlog": left,
           "errors": sorted(set(total.errors))}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"已发送 sent {total.sent}，已确认 acked {total.acked}，已拉取 pulled {total.pulled}，"
                   f"积压 backlog {left}")
        for e in doc["errors"]:
            click.echo(f"  ! {e}")
    if wait_s is not None and left:
        raise NodeError(504, "sync_timeout", f"{wait_s:g} 秒内未能清空发件箱（剩余 {left}）/ outbox not empty "
                                             f"after {wait_s:g} s ({left} left)")


@click.group("quarantine")
def quarantine() -> None:
    """隔离文档：查看、重试、跳过 / quarantined documents: list, retry, skip."""


def _q(fn, *args):
    from replication.quarantine import QuarantineError
    try:
        return fn(*args)
    except QuarantineError as exc:
        raise NodeError(exc.status, "quarantine", exc.message) from None


@quarantine.command("list")
@click.option("--all", "include_done", is_flag=True, help="含已处理 / include retried and skipped")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def q_list(ctx: Context, include_done: bool, as_json: bool) -> None:
    """列出隔离文档 / list quarantined documents."""
    from replication.quarantine import list_held
    node = ctx.node()
    with node.activate():
        rows = list_held(include_done)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("没有隔离文档 / nothing quarantined")
    for r in rows:
        click.echo(f"#{r['id']} {r['state']:<8} {r['peer']} {r['channel']} seq {r['seq']} {r['kind']}: {r['error']}")


@quarantine.command("retry")
@click.argument("qid", type=int)
@pass_ctx
def q_retry(ctx: Context, qid: int) -> None:
    """重新应用一份隔离文档 / apply a quarantined document again."""
    from node.network.transport import replicator
    from replication.quarantine import retry
    node = ctx.node()
    with node.activate():
        result = _q(retry, replicator(node), qid, "cli")
    if result["state"] != "retried":
        raise NodeError(409, "still_failing", f"仍无法应用 / still cannot apply: {result['error']}")
    click.echo(f"已应用 / applied #{qid}")


@quarantine.command("skip")
@click.argument("qid", type=int)
@click.option("--reason", required=True, help="跳过理由（记入审计）/ reason, kept in the audit log")
@pass_ctx
def q_skip(ctx: Context, qid: int, reason: str) -> None:
    """跳过一份隔离文档（审计）/ skip a quarantined document (audited)."""
    from node.network.transport import replicator
    from replication.quarantine import skip
    node = ctx.node()
    with node.activate():
        _q(skip, replicator(node), qid, "cli", reason)
    click.echo(f"已跳过并记录审计 / skipped #{qid} (audited)")




@click.command("ping")
@click.argument("code")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100000),
              help="发送的探测数量（按序编号）/ how many pings, numbered in order")
@click.option("--wait", "wait_s", type=float, default=None, help="等待回应的秒数 / wait this long for the pongs")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def ping(ctx: Context, code: str, count: int, wait_s: float | None, as_json: bool) -> None:
    """向树中任一节点发送探测 / send end-to-end pings to any node of the tree.

    Pings travel like any document (signed, queued, relayed hop by hop) and each answers
    with a pong. With --wait, syncs until every pong is back; exits non-zero if not.
    """
    from node.network import control as federation_docs
    from node.network.models import PingLog
    from node.network.transport import replicator
    from replication import sender
    node = ctx.node()
    with node.activate():
        # numbered per destination, so the receiver can check every number arrived once
        start = PingLog.select().where((PingLog.direction == "out") & (PingLog.peer == code)).count()
        ids = [federation_docs.ping(node, code, seq=start + i) for i in range(count)]
        answered = 0
        deadline = time.monotonic() + (wait_s or 0)
        while wait_s is not None:
            sender.sync_all(replicator(node), force=True)
            answered = (PingLog.select()
                        .where(PingLog.doc_id.in_(ids) & PingLog.answered_at.is_null(False))
                        .count())
            if answered == len(ids) or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
    doc = {"to": code, "sent": len(ids), "answered": answered, "first": ids[0], "last": ids[-1]}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"已向 {code} 发送 {len(ids)} 个探测 / sent {len(ids)} ping(s) to {code}"
                   + (f"，已回应 answered {answered}" if wait_s is not None else ""))
    if wait_s is not None and answered < len(ids):
        raise NodeError(504, "no_pong", f"{wait_s:g} 秒内仅收到 {answered}/{len(ids)} 个回应 / "
                                        f"only {answered} of {len(ids)} pongs within {wait_s:g} s")


@click.command("pings")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def pings(ctx: Context, as_json: bool) -> None:
    """探测统计：已发、已回应、已收（每个只应用一次）/ ping statistics of this node."""
    from node.network import control as federation_docs
    node = ctx.node()
    with node.activate():
        doc = federation_docs.ping_report(node)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"已发 sent {doc['sent']}，已回应 answered {doc['answered']}，已收 received {doc['received']}，"
               f"重复应用 applied twice {len(doc['applied_more_than_once'])}")


def register(cli: click.Group) -> None:
    cli.add_command(sync)
    cli.add_command(quarantine)
    cli.add_command(ping)
    cli.add_command(pings)
