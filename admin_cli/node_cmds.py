"""``n12315 init | serve | status`` (CONTRACT §2)."""
from __future__ import annotations

import logging
import signal
import sys

import click

from admin_cli.cli import Context, emit_json, pass_ctx
from node.config import LEVEL_NAMES_ZH, LEVELS

log = logging.getLogger("n12315.serve")


@click.command("init")
@click.option("--level", required=True, type=click.Choice(LEVELS), help="层级 / level")
@click.option("--code", required=True, help="行政区划代码 / GB/T 2260 region code (station: county + 3 digits)")
@click.option("--name", required=True, help="单位名称 / bureau name, e.g. 深圳市南山区市场监督管理局")
@click.option("--url", required=True, help="对端访问本节点的地址 / URL where peers reach this node")
@click.option("--db", "db_url", default=None,
              help="数据库地址，默认 home 中的 SQLite / database URL (default: SQLite in the home; postgresql://… accepted)")
@pass_ctx
def init(ctx: Context, level: str, code: str, name: str, url: str, db_url: str | None) -> None:
    """初始化节点目录：密钥、配置、数据库 / create a node home: keys, config, database.

    Refuses a home that already holds a node and changes nothing there.
    """
    from node.home import init_home
    node = init_home(ctx.home, level=level, code=code, name=name, url=url, db_url=db_url)
    ctx._node = node
    click.echo(f"已初始化{LEVEL_NAMES_ZH[level]}节点 {code} {name} / node initialised")
    click.echo(f"  目录 home: {ctx.home.resolve()}")
    click.echo(f"  密钥 key:  {node.keypair.key_id}  {node.keypair.public_b64}")
    click.echo(f"  地址 url:  {url}")
    click.echo("下一步 / next: n12315 user add admin --role admin; n12315 serve")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / bind address")
@click.option("--port", default=8315, show_default=True, type=int, help="监听端口 / port")
@click.option("--threads", default=8, show_default=True, type=int, help="工作线程 / worker threads")
@click.option("--no-jobs", is_flag=True, help="不运行后台任务（仅调试）/ do not run background jobs (debugging)")
@pass_ctx
def serve(ctx: Context, host: str, port: int, threads: int, no_jobs: bool) -> None:
    """运行节点：HTTP 服务与后台任务（复制、时限、汇总）/ serve the node and run its jobs.

    SIGTERM or Ctrl-C stops it cleanly: the scheduler finishes its running job, the
    server closes its sockets.
    """
    from node import jobs
    from node.app import create_app
    from node.web.httpserver import create_server
    from node.web.logjson import FORMATS, use_format

    node = ctx.node(background_checkpoint=not no_jobs)   # the db.checkpoint job runs it
    http = node.config.http
    if http.log_format not in FORMATS:
        raise click.ClickException(f"http.log_format 须为 text 或 json：{http.log_format[:20]} / http.log_format must be "
                                   f"text or json")
    logging.getLogger().setLevel(node.config.log_level)
    use_format(http.log_format)
    app = create_app(node)
    app.config["BIND_THREADS_FOR_GOOD"] = True  # one node in this process: bind each worker once
    try:
        # Behind a TLS reverse proxy, waitress takes the client's address and scheme from the
        # forwarded headers of that proxy only (docs/operations.md); anyone else's are dropped.
        proxy = {"trusted_proxy": http.trusted_proxy, "trusted_proxy_count": http.trusted_proxy_count,
                 "trusted_proxy_headers": http.trusted_proxy_headers} if http.trusted_proxy else {}
        server = create_server(app, host=host, port=port, threads=threads, ident="n12315",
                               clear_untrusted_proxy_headers=True,
                               max_request_body_size=app.config["MAX_REQUEST_BYTES"], **proxy)
    except OSError as exc:
        raise click.ClickException(f"无法监听 {host}:{port}：{exc.strerror} / cannot listen on {host}:{port}") from None
    scheduler = None if no_jobs else jobs.start(node)

    def _stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"节点 {node.code} {node.config.name} 正在服务 / serving on http://{host}:{port}", err=True)
    log.info("serving node %s on %s:%s (%d threads, jobs %s)", node.code, host, port, threads, "off" if no_jobs else "on")
    sys.stderr.flush()
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        if scheduler is not None:
            jobs.stop(scheduler)
        server.close()
        click.echo("已停止 / stopped", err=True)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """节点、链路、积压与告警 / the node, its links, backlog, last success, last error."""
    from node.network.status import collect
    node = ctx.node()
    doc = collect(node)
    if as_json:
        emit_json(doc)
        return
    n = doc["node"]
    click.echo(f"{n['code']} {n['name']}（{LEVEL_NAMES_ZH[n['level']]}）epoch {n['epoch']} key {n['key_id']}")
    click.echo(f"  地址 url: {n['url']}   数据库 db: {n['db']}   架构版本 schema: {n['schema_version']}")
    for w in doc["warnings"]:
        click.echo(f"  ! {w}")
    if not doc["links"]:
        click.echo("  尚无链路 / no links yet")
    for link in doc["links"]:
        click.echo(f"  {link['role']:<6} {link['code']:<10} {link['state']:<8} 积压 backlog {link['backlog']:<6} "
                   f"最近成功 last ok {link['last_ok'] or '-'}  错误 error {link['last_error'] or '-'}")


def register(cli: click.Group) -> None:
    for cmd in (init, serve, status):
        cli.add_command(cmd)
