"""``n12315 demo [--dir D] [--base-port P] [--check]`` (CONTRACT §8).

Starts the demo federation on 127.0.0.1 as real processes: HQ 000000; Guangdong 440000 →
Shenzhen 440300 → Nanshan 440305 → station 440305001; Zhejiang 330000 → Hangzhou 330100
→ Xihu 330106. Every node is initialised and linked through the CLI's own ``init`` and
``link invite``/``link join``, exactly as operators do; then realistic cases are seeded,
some routed across branches, a directive is issued, and each node's URL is printed. With
``--check`` it verifies every flow end to end, prints what it verified and exits 0 or 1.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import requests

from admin_cli.demo_gateway import DemoSmsGateway

TREE = [
    # (level, code, name, parent)
    ("hq", "000000", "国家市场监督管理总局", None),
    ("province", "440000", "广东省市场监督管理局", "000000"),
    ("prefecture", "440300", "深圳市市场监督管理局", "440000"),
    ("county", "440305", "深圳市南山区市场监督管理局", "440300"),
    ("station", "440305001", "南山区粤海市场监管所", "440305"),
    ("province", "330000", "浙江省市场监督管理局", "000000"),
    ("prefecture", "330100", "杭州市市场监督管理局", "330000"),
    ("county", "330106", "杭州市西湖区市场监督管理局", "330100"),
]


@dataclass
class DemoNode:
    level: str
    code: str
    name: str
    parent: str | None
    port: int
    home: Path
    proc: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    public_port: int | None = None   # where peers reach it, if not its own port (a test proxy)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port or self.port}"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports on 127.0.0.1 (held open together so none repeats)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# Every demo user's desk password (the demo runs on 127.0.0.1 only; a real node's users get
# theirs from `n12315 user add --password-stdin` / `user password`).
DEMO_PASSWORD = "demo-12315"


class DemoError(Exception):
    pass


def cli_cmd(home: Path, *args: str, check: bool = True, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "admin_cli", "--home", str(home), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and proc.returncode != 0:
        raise DemoError(f"`n12315 {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


class Federation:
    """The demo tree as real processes; used by ``demo`` and by the process tests."""

    def __init__(self, base_dir: Path, base_port: int, tree=TREE, log: Callable[[str], None] = print,
                 env: dict[str, str] | None = None, public_ports: dict[str, int] | None = None):
        self.base_dir = base_dir
        self.log = log
        self.env = env or {}
        self.sms: DemoSmsGateway | None = None     # the demo's SMS gateway, when it runs one
        self.nodes = {code: DemoNode(level, code, name, parent, base_port + i, base_dir / code,
                                     public_port=(public_ports or {}).get(code))
                      for i, (level, code, name, parent) in enumerate(tree)}

    # -- lifecycle ---------------------------------------------------------------------------
    def init_all(self, roles: tuple[str, ...] = ("admin", "intake", "handler", "leader", "supervisor",
                                                 "analyst", "discipline"), password: str | None = None) -> None:
        """Every node with one user per role (login = role); with ``password``, each user can
        sign in to the desk with it."""
        for n in self.nodes.values():
            cli_cmd(n.home, "init", "--level", n.level, "--code", n.code, "--name", n.name, "--url", n.public_url)
            for role in roles:
                if password is None:
                    out = cli_cmd(n.home, "user", "add", role, "--role", role).stdout
                else:
                    out = cli_cmd(n.home, "user", "add", role, "--role", role, "--password-stdin",
                                  stdin=password + "\n").stdout
                n.tokens[role] = last_line(out)
            self.log(f"  初始化 init  {n.code:<10} {n.name}")
        (self.base_dir / "tokens.json").write_text(
            json.dumps({c: n.tokens for c, n in self.nodes.items()}, ensure_ascii=False, indent=1))

    def start(self, code: str, wrap: list[str] | None = None) -> None:
        """Start ``serve`` for one node; ``wrap`` is a command prefix (a tracer, say)."""
        n = self.nodes[code]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "N12315_REPLICATION__PUSH_INTERVAL_S": "0.5",
               "N12315_REPLICATION__PULL_INTERVAL_S": "1", "N12315_REPLICATION__BACKOFF_CAP_S": "5",
               **self.env}
        with open(n.home / "serve.log", "ab") as log_file:  # the child keeps its own descriptor
            n.proc = subprocess.Popen([*(wrap or []), sys.executable, "-m", "admin_cli", "--home", str(n.home), "serve",
                                       "--port", str(n.port)], stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)

    def wait_healthy(self, code: str, timeout: float = 30) -> None:
        n = self.nodes[code]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if n.proc is not None and n.proc.poll() is not None:
                raise DemoError(f"{code} exited: see {n.home / 'serve.log'}")
            try:
                if requests.get(n.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise DemoError(f"{code} did not become healthy on {n.url}")

    def start_all(self) -> None:
        for code in self.nodes:
            self.start(code)
        for code in self.nodes:
            self.wait_healthy(code)

    def stop(self, code: str, sig: int = signal.SIGTERM) -> None:
        n = self.nodes[code]
        if n.proc is not None and n.proc.poll() is None:
            # the whole session: a wrapped serve runs as the wrapper's child
            try:
                os.killpg(n.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                n.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(n.proc.pid, signal.SIGKILL)
                n.proc.wait()
        n.proc = None

    def stop_all(self) -> None:
        for code in reversed(list(self.nodes)):
            self.stop(code)

    def link_all(self) -> None:
        for n in self.nodes.values():
            if n.parent is None:
                continue
            parent = self.nodes[n.parent]
            token = last_line(cli_cmd(parent.home, "link", "invite", "--child", n.code).stdout)
            cli_cmd(n.home, "link", "join", "--parent", parent.public_url, "--token", token)
            self.log(f"  链路 link  {n.code:<10} → {parent.code}")

    # -- API helpers -------------------------------------------------------------------------
    def api(self, code: str, method: str, path: str, role: str = "admin", **kwargs: Any) -> requests.Response:
        n = self.nodes[code]
        headers = {"Authorization": f"Bearer {n.tokens[role]}"}
        return requests.request(method, n.url + path, headers=headers, timeout=30, **kwargs)

    def sync_all(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            for n in self.nodes.values():
                cli_cmd(n.home, "sync", check=False)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.3)
        raise DemoError(f"timed out waiting for: {what}")


def seed_cases(fed: Federation) -> list[dict[str, Any]]:
    """Realistic cases; some cross branches so routing has work to do."""
    from admin_cli.demo_data import SAMPLE_CASES
    created = []
    for code, role, body in SAMPLE_CASES:
        resp = fed.api(code, "POST", "/api/v1/cases", role=role, json=body)
        if resp.status_code != 201:
            raise DemoError(f"seeding a case at {code} failed: {resp.status_code} {resp.text[:300]}")
        created.append(resp.json())
    return created


def run_checks(fed: Federation, created: list[dict[str, Any]], say: Callable[[str], None]) -> list[str]:
    """Verify each flow end to end; return the failures (empty: all good)."""
    from admin_cli import demo_checks
    return demo_checks.run(fed, created, say)


@click.command("demo")
@click.option("--dir", "base_dir", type=click.Path(file_okay=False), default="./demo-federation",
              show_default=True, help="演示目录（每次重建）/ demo directory (recreated each run)")
@click.option("--base-port", default=18300, show_default=True, type=int, help="起始端口 / first port")
@click.option("--check", is_flag=True, help="验证全部流程后退出 / verify every flow, then exit 0 or 1")
def demo(base_dir: str, base_port: int, check: bool) -> None:
    """启动演示联邦（8 个节点）/ run the demo federation of eight nodes on 127.0.0.1."""
    base = Path(base_dir).resolve()
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    gateway = DemoSmsGateway(base / "sms.log", secrets.token_hex(16)).__enter__()
    fed = Federation(base, base_port, log=click.echo,
                     env={"N12315_NOTIFY__SMS_URL": gateway.url, "N12315_NOTIFY__SMS_SECRET": gateway.secret})
    fed.sms = gateway
    failures: list[str] = []
    try:
        click.echo("== 初始化节点 / initialising nodes")
        fed.init_all(password=DEMO_PASSWORD)
        click.echo("== 启动节点 / starting nodes")
        fed.start_all()
        click.echo("== 建立链路 / linking through the CLI")
        fed.link_all()
        click.echo("== 录入案件 / seeding cases")
        created = seed_cases(fed)
        click.echo(f"  已录入 {len(created)} 件 / {len(created)} cases taken in")
        click.echo("== 验证 / verifying flows" if check else "== 运行流程 / running flows")
        failures = run_checks(fed, created, click.echo)
        click.echo("")
        click.echo("节点 / nodes (tokens in tokens.json):")
        for n in fed.nodes.values():
            click.echo(f"  {n.code:<10} {n.level:<10} {n.url}  {n.name}")
        click.echo(f"  管理员令牌 admin token of 440305: {fed.nodes['440305'].tokens['admin']}")
        click.echo("")
        click.echo("工作台 / staff desk:")
        for code in ("440000", "440305"):
            click.echo(f"  {fed.nodes[code].url}/desk/   {fed.nodes[code].name}")
        click.echo(f"  登录名 login: admin | intake | handler | supervisor | leader | analyst | discipline"
                   f"   密码 password: {DEMO_PASSWORD}")
        click.echo("公众门户 / consumer portal (投诉、举报、咨询、进度查询):")
        for code in ("440000", "440305"):
            click.echo(f"  {fed.nodes[code].url}/public/   {fed.nodes[code].name}")
        click.echo(f"  短信（验证码与通知）/ SMS (codes and notices): {base / 'sms.log'}")
        if check:
            if failures:
                for f in failures:
                    click.echo(f"  ✗ {f}", err=True)
                raise SystemExit(1)
            click.echo("全部流程验证通过 / every flow verified")
            return
        click.echo("运行中，Ctrl-C 停止 / serving; Ctrl-C stops")
        while all(n.proc is not None and n.proc.poll() is None for n in fed.nodes.values()):
            time.sleep(1)
        click.echo("有节点退出 / a node exited", err=True)
        raise SystemExit(1)
    except DemoError as exc:
        click.echo(f"错误 / error: {exc}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        click.echo("\n正在停止 / stopping")
    finally:
        fed.stop_all()
        gateway.__exit__(None, None, None)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
