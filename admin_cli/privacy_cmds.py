"""``n12315 key rotate-data`` (issue 13 item 1; docs/privacy.md "Rotation").

Re-encrypts every encrypted column and every evidence attachment under a new data key with a
progress bar; stopped half way (an error, Ctrl-C, ``kill -9``) and run again, it finishes the
same rotation. Reads keep working throughout, also in a ``serve`` running beside it. Audited as
``key.rotate-data``.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from admin_cli.cli import Context, emit_json, pass_ctx


@click.command("rotate-data")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="每批行数（每批一个事务）/ rows per batch (one transaction each)")
@click.option("--grace-seconds", default=2.0, show_default=True, type=click.FloatRange(0, 60),
              help="换新密钥后等运行中的服务读到它 / wait for a running serve to load the new key")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def rotate_data(ctx: Context, batch: int, grace_seconds: float, as_json: bool) -> None:
    """用新数据密钥重新加密个人信息与证据附件（可中断后续做）/ re-encrypt personal data and evidence
    attachments under a new data key (resumable: run it again after an interruption)."""
    from node import db as dbmod
    from node.audit import record
    from node.evidence.store import blob_dir
    from node.privacy.rotate import rotate_data as run

    node = ctx.node()
    bar: Any = None

    def start(state: dict[str, Any], total: int):
        nonlocal bar
        if not as_json:
            verb = "续做 / resuming" if state["resumed"] else "轮换 / rotating"
            click.echo(f"{verb}: {', '.join(state['from']) or '-'} → {state['to']}", err=True)
        bar = click.progressbar(length=max(total, 1), label="重新加密 / re-encrypting", file=None if not as_json
                                else click.get_text_stream("stderr"))
        bar.__enter__()
        return bar.update

    with node.activate():
        try:
            result = run(node.db, dbmod.all_models(), now=datetime.now(UTC).isoformat(), batch=batch,
                         grace_s=grace_seconds, start=start, blobs=blob_dir(node))
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        record(node, "cli", "key.rotate-data", node.code,
               {"to": result["to"], "from": result["from"], "rows": result["rows"], "blobs": result["blobs"],
                "resumed": result["resumed"]})
    if as_json:
        emit_json(result)
        return
    click.echo(f"已用数据密钥 {result['to']} 重新加密 {result['rows']} 行、{result['blobs']} 个附件 / "
               f"{result['rows']} values and {result['blobs']} attachments re-encrypted under data key {result['to']}")
    if result["env"] and result["dropped"]:
        click.echo(f"请从 N12315_DATA_KEY 中删去旧密钥 {', '.join(result['dropped'])} / remove the old keys from "
                   "N12315_DATA_KEY", err=True)
    elif result["dropped"]:
        click.echo(f"旧密钥已删除 / old keys removed: {', '.join(result['dropped'])}")


def register(cli: click.Group) -> None:
    key = cli.commands.get("key")
    if not isinstance(key, click.Group):
        raise RuntimeError("the `key` group (admin_cli.federation_cmds) must be registered first")
    key.add_command(rotate_data)
