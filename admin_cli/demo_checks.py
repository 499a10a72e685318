"""End-to-end checks of the demo federation (``n12315 demo --check``, CONTRACT §8).

Each check prints what it verified; a failure is collected, not raised, so one broken
flow does not hide the others. Flows are added here as they are built: links and
replication, case routing and feedback, directives, statistics.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from admin_cli.demo import DemoError, Federation, cli_cmd

Check = Callable[[Federation, list[dict[str, Any]]], str]
CHECKS: list[tuple[str, Check]] = []


def check(title: str) -> Callable[[Check], Check]:
    def deco(fn: Check) -> Check:
        CHECKS.append((title, fn))
        return fn
    return deco


@check("链路 / every node is linked to its parent, both sides active")
def links_active(fed: Federation, created: list[dict[str, Any]]) -> str:
    count = 0
    for n in fed.nodes.values():
        rows = json.loads(cli_cmd(n.home, "link", "list", "--json").stdout)
        by_code = {r["code"]: r for r in rows}
        if n.parent:
            row = by_code.get(n.parent)
            if not row or row["role"] != "parent" or row["state"] != "active":
                raise DemoError(f"{n.code} does not list its parent {n.parent} as active: {row}")
            count += 1
        for child in (c for c in fed.nodes.values() if c.parent == n.code):
            row = by_code.get(child.code)
            if not row or row["role"] != "child" or row["state"] != "active":
                raise DemoError(f"{n.code} does not list its child {child.code} as active: {row}")
    return f"{count} 条父子链路双向有效 / {count} parent-child links active on both sides"


@check("受理 / every seeded case is readable at its accepting node")
def cases_readable(fed: Federation, created: list[dict[str, Any]]) -> str:
    for case in created:
        resp = fed.api(case["accepting_node"], "GET", f"/api/v1/cases/{case['id']}",
                       role="discipline" if case.get("report_target") == "staff" else "admin")
        if resp.status_code != 200 or resp.json()["id"] != case["id"]:
            raise DemoError(f"case {case['id']} not readable at {case['accepting_node']}: {resp.status_code}")
    return f"{len(created)} 件案件均可在受理节点查询 / {len(created)} cases readable"


@check("复制 / every outbox drains (sync --wait)")
def outboxes_drain(fed: Federation, created: list[dict[str, Any]]) -> str:
    for n in fed.nodes.values():
        proc = cli_cmd(n.home, "sync", "--wait", "30", check=False)
        if proc.returncode != 0:
            raise DemoError(f"{n.code}: sync --wait failed: {proc.stderr.strip()}")
    backlog = {n.code: json.loads(cli_cmd(n.home, "status", "--json").stdout) for n in fed.nodes.values()}
    stuck = {c: [(ln["code"], ln["backlog"]) for ln in s["links"] if ln["backlog"]] for c, s in backlog.items()}
    stuck = {c: v for c, v in stuck.items() if v}
    if stuck:
        raise DemoError(f"backlog left after sync: {stuck}")
    return "全部发件箱已清空 / every outbox empty"


@check("工作台 / the printed desk accounts sign in at the printed desk URLs")
def desk_sign_in(fed: Federation, created: list[dict[str, Any]]) -> str:
    import re

    import requests

    from admin_cli.demo import DEMO_PASSWORD
    signed = []
    for code in ("440000", "440305"):
        n = fed.nodes[code]
        with requests.Session() as browser:
            form = browser.get(n.url + "/desk/login", timeout=30)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            if form.status_code != 200 or token is None:
                raise DemoError(f"{code}: no sign-in form at {n.url}/desk/login ({form.status_code})")
            resp = browser.post(n.url + "/desk/login", data={"login": "handler", "password": DEMO_PASSWORD,
                                                               "csrf_token": token.group(1)}, timeout=30)
            home = browser.get(n.url + "/desk/", timeout=30, allow_redirects=False)
            if resp.status_code != 200 or home.status_code != 200 or 'id="tile-waiting"' not in home.text:
                raise DemoError(f"{code}: the demo handler could not sign in ({resp.status_code}, {home.status_code})")
            signed.append(code)
    return f"已在 {'、'.join(signed)} 登录工作台 / signed in at the desk of {', '.join(signed)}"


def run(fed: Federation, created: list[dict[str, Any]], say: Callable[[str], None]) -> list[str]:
    _load_more_checks()
    failures = []
    for title, fn in CHECKS:
        try:
            detail = fn(fed, created)
            say(f"  ✓ {title}: {detail}")
        except DemoError as exc:
            failures.append(f"{title}: {exc}")
            say(f"  ✗ {title}: {exc}")
    return failures


def _load_more_checks() -> None:
    for name in ("admin_cli.demo_checks_routing", "admin_cli.demo_checks_directives", "admin_cli.demo_checks_stats",
                 "admin_cli.demo_checks_public"):
        try:
            __import__(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
