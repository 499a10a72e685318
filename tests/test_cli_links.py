"""``n12315 link invite | join | list | revoke`` and ``key rotate`` through click (CONTRACT §2-§3).

The parent's Flask app reaches the child's ``link join`` through the node's own
``requests.Session``, with ``tests.harness_adapter.FlaskAdapter`` mounted on it.
"""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from admin_cli.cli import cli
from node import home as node_home
from node.app import create_app
from tests.harness_adapter import FlaskAdapter

PARENT_URL = "http://440300.test"


@pytest.fixture
def homes(tmp_path, monkeypatch):
    monkeypatch.delenv("N12315_HOME", raising=False)
    runner = CliRunner()
    parent_home, child_home = tmp_path / "p", tmp_path / "c"
    for home, level, code, url in ((parent_home, "prefecture", "440300", PARENT_URL),
                                   (child_home, "county", "440305", "http://440305.test")):
        res = runner.invoke(cli, ["--home", str(home), "init", "--level", level, "--code", code,
                                  "--name", f"市场监督管理局 {code}", "--url", url])
        assert res.exit_code == 0, res.output
    parent = node_home.open_node(parent_home)
    session = FlaskAdapter(create_app(parent), PARENT_URL).mount(requests.Session())
    real_open = node_home.open_node

    def open_with_transport(home, **kw):
        node = real_open(home, **kw)
        node.transport = session
        return node

    monkeypatch.setattr(node_home, "open_node", open_with_transport)
    yield runner, parent_home, child_home
    parent.close()


def run(runner: CliRunner, home, *args: str):
    return runner.invoke(cli, ["--home", str(home), *args])


def test_invite_prints_token_last_then_join_and_list(homes):
    runner, parent_home, child_home = homes
    res = run(runner, parent_home, "link", "invite", "--child", "440305")
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[-1]
    assert token.startswith("n12315i_")

    res = run(runner, child_home, "link", "join", "--parent", PARENT_URL, "--token", token)
    assert res.exit_code == 0, res.stderr
    assert "440300" in res.stdout

    res = run(runner, parent_home, "link", "list", "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == [{"code": "440305", "level": "county", "role": "child",
                                       "url": "http://440305.test", "state": "active",
                                       "backlog": 0, "last_ok": None, "mode": "push"}]
    res = run(runner, child_home, "link", "list", "--json")
    (row,) = json.loads(res.stdout)
    assert (row["code"], row["role"], row["level"], row["state"]) == (
        "440300", "parent", "prefecture", "active")

    res = run(runner, parent_home, "link", "list")
    assert res.exit_code == 0 and "440305" in res.stdout

    # The same token again: refused with the parent's own message.
    res = run(runner, child_home, "link", "join", "--parent", PARENT_URL, "--token", token)
    assert res.exit_code != 0
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "已被使用" in res.stderr

    res = run(runner, parent_home, "link", "revoke", "440305", "--reason", "测试")
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(run(runner, parent_home, "link", "list", "--json").stdout)
    assert row["state"] == "revoked"


def test_pull_only_child_is_never_pushed_to_and_mode_can_change(homes):
    """Rule 9: a station behind an intranet joins with --pull-only; the parent's admin can
    switch the mode later; a wrong code is refused in one line and changes nothing."""
    runner, parent_home, child_home = homes
    token = run(runner, parent_home, "link", "invite", "--child", "440305").stdout.strip().splitlines()[-1]
    res = run(runner, child_home, "link", "join", "--parent", PARENT_URL, "--token", token, "--pull-only")
    assert res.exit_code == 0, res.stderr
    (row,) = json.loads(run(runner, parent_home, "link", "list", "--json").stdout)
    assert row["mode"] == "pull"
    assert " pull " in run(runner, parent_home, "link", "list").stdout

    res = run(runner, parent_home, "link", "mode", "440305", "push")
    assert res.exit_code == 0 and "push" in res.stdout
    (row,) = json.loads(run(runner, parent_home, "link", "list", "--json").stdout)
    assert row["mode"] == "push"

    for home, code, message, exit_code in ((parent_home, "440306", "没有与 440306 的链路", 1),
                                           (child_home, "440300", "不是下级", 2)):
        res = run(runner, home, "link", "mode", code, "pull")
        assert res.exit_code == exit_code
        assert res.stderr.strip().splitlines() == [res.stderr.strip()] and message in res.stderr
    res = run(runner, parent_home, "link", "mode", "440305", "sideways")
    assert res.exit_code == 2 and "sideways" in res.stderr
    (row,) = json.loads(run(runner, parent_home, "link", "list", "--json").stdout)
    assert row["mode"] == "push"


def test_join_with_bad_token_fails_with_one_line(homes):
    runner, _, child_home = homes
    res = run(runner, child_home, "link", "join", "--parent", PARENT_URL,
              "--token", "n12315i_bogus")
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == "错误 / error: 邀请令牌无效 / invite token is not valid"
    assert "Traceback" not in res.output
    assert json.loads(run(runner, child_home, "link", "list", "--json").stdout) == []


def test_join_unreachable_parent_fails_with_one_line(homes):
    runner, _, child_home = homes
    res = run(runner, child_home, "link", "join", "--parent", "http://nowhere.test",
              "--token", "n12315i_x")
    assert res.exit_code != 0
    assert len(res.stderr.strip().splitlines()) == 1
    assert "无法连接上级节点" in res.stderr


@pytest.mark.parametrize("child, message", [
    ("330106", "330106 不是本节点 440300 辖区内的有效节点代码"),
    ("440300", "440300 不是本节点 440300 辖区内的有效节点代码"),
    ("999999", "999999 不是本节点 440300 辖区内的有效节点代码"),
])
def test_invite_outside_region_refused(homes, child, message):
    runner, parent_home, _ = homes
    res = run(runner, parent_home, "link", "invite", "--child", child)
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.strip().startswith(f"错误 / error: {message}")


def test_key_rotate(homes):
    runner, parent_home, _ = homes
    res = run(runner, parent_home, "key", "rotate")
    assert res.exit_code == 0, res.stderr
    assert "440300#2" in res.stdout
    node = node_home.open_node(parent_home)
    try:
        assert node.keypair.key_id == "440300#2"
        from federation import trust
        with node.activate():
            assert trust.resolve_key("440300#1") is not None
            assert trust.resolve_key("440300#2") == node.keypair.public_b64
    finally:
        node.close()
