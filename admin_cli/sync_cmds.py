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
    from node.services.replication_glue import replicator
    from replication import outbox, sender
    node = ctx.node()
    deadline = time.monotonic() + (wait_s or 0)
    total = sender.SyncReport()
    with node.activate():
        rep = replicator(node)
        from node.services import federation_docs
        federation_docs.push_changes(node)   # chains and revocations changed by link join/revoke
        while True:
            report = sender.sync_all(rep, force=True)
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
            click.echo(f"  ! {e}", err=True)
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
    from node.services.replication_glue import replicator
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
    from node.services.replication_glue import replicator
    from replication.quarantine import skip
    node = ctx.node()
    with node.activate():
        _q(skip, replicator(node), qid, "cli", reason)
    click.echo(f"已跳过并记录审计 / skipped #{qid} (audited)")




@click.command("ping")
@click.argument("code")
@click.option("--wait", "wait_s", type=float, default=None, help="等待回应的秒数 / wait this long for the pong")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def ping(ctx: Context, code: str, wait_s: float | None, as_json: bool) -> None:
    """向树中任一节点发送探测 / send an end-to-end ping to any node of the tree.

    With --wait, syncs until the pong is back; exits non-zero if it is not.
    """
    from node.ops_models import PingLog
    from node.services import federation_docs
    from node.services.replication_glue import replicator
    from replication import sender
    node = ctx.node()
    with node.activate():
        doc_id = federation_docs.ping(node, code)
        answered = None
        deadline = time.monotonic() + (wait_s or 0)
        while wait_s is not None:
            sender.sync_all(replicator(node), force=True)
            answered = PingLog.get(PingLog.doc_id == doc_id).answered_at
            if answered or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
    doc = {"ping": doc_id, "to": code, "answered_at": answered.isoformat() if answered else None}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"已发送 ping {doc_id} → {code}" + (f"，已回应 / answered at {doc['answered_at']}" if answered else ""))
    if wait_s is not None and not answered:
        raise NodeError(504, "no_pong", f"{wait_s:g} 秒内未收到 {code} 的回应 / no pong from {code} within {wait_s:g} s")


def register(cli: click.Group) -> None:
    cli.add_command(sync)
    cli.add_command(quarantine)
    cli.add_command(ping)
