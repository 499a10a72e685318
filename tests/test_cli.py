"""The ``n12315`` command as operators use it (CONTRACT §1-§4): one clear line on stderr and
a non-zero exit on every refusal, nothing changed, no traceback; ``--json`` prints one
document. Most tests drive the real console script in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

N12315 = [sys.executable, "-m", "admin_cli"]


def run(home: Path, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*N12315, "--home", str(home), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_refused(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {proc.stderr!r}"
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def init(home: Path, level="county", code="440305", url="http://127.0.0.1:8316", *extra: str):
    return run(home, "init", "--level", level, "--code", code, "--name", "深圳市南山区市场监督管理局", "--url", url,
               *extra)


@pytest.fixture
def county(tmp_path) -> Path:
    home = tmp_path / "nanshan"
    proc = init(home)
    assert proc.returncode == 0, proc.stderr
    return home


def test_init_creates_keys_config_and_database(county):
    key = next((county / "keys").iterdir())
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (county / "node.toml").exists() and (county / "node.db").exists()
    status = json.loads(run(county, "status", "--json").stdout)
    assert status["node"]["code"] == "440305" and status["node"]["level"] == "county"
    assert status["node"]["schema_version"] >= 1 and status["links"] == []


def test_second_init_refuses_and_changes_nothing(county):
    before = {p.name: p.stat().st_mtime_ns for p in county.rglob("*") if p.is_file()}
    proc = init(county, "county", "440305")
    assert_refused(proc, "already holds a node")
    after = {p.name: p.stat().st_mtime_ns for p in county.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.parametrize("level, code, fragment", [
    ("county", "440300", "county"),          # a prefecture code at county level
    ("hq", "440000", "000000"),
    ("station", "440305", "3"),               # a station needs county code + 3 digits
    ("province", "999999", "未知"),
], ids=["prefecture-code-as-county", "hq-not-000000", "station-without-suffix", "unknown-code"])
def test_init_level_code_mismatch_refused(tmp_path, level, code, fragment):
    home = tmp_path / "bad"
    proc = init(home, level, code)
    assert_refused(proc, fragment)
    assert proc.returncode == 2
    assert not home.exists(), "a refused init leaves nothing behind"


def test_init_on_unwritable_home_refused(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere; a path under a regular file is unwritable for everyone
        blocker = tmp_path / "file"
        blocker.write_text("x")
        home = blocker / "home"
    else:
        home = tmp_path / "ro" / "home"
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
    proc = init(home)
    assert_refused(proc)


def test_corrupted_config_is_one_clear_line(county):
    (county / "node.toml").write_text("[node\nlevel = 'county'", encoding="utf-8")
    proc = run(county, "status")
    assert_refused(proc, "node.toml")


def test_unknown_config_key_named(county):
    with open(county / "node.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[replication]\nbatch_sise = 100\n")
    assert_refused(run(county, "status"), "replication.batch_sise")


def test_command_without_a_node_says_run_init(tmp_path):
    assert_refused(run(tmp_path / "empty", "status"), "n12315 init")


def test_home_from_environment(county, tmp_path):
    proc = subprocess.run([*N12315, "status", "--json"], capture_output=True, text=True,
                          env={**os.environ, "N12315_HOME": str(county)}, timeout=60)
    assert json.loads(proc.stdout)["node"]["code"] == "440305"


def test_user_add_prints_token_last_and_refuses_existing_login(county):
    proc = run(county, "user", "add", "intake1", "--role", "intake")
    assert proc.returncode == 0
    token = proc.stdout.strip().splitlines()[-1]
    assert token.startswith("n12315_")
    assert_refused(run(county, "user", "add", "intake1", "--role", "handler"), "already exists")
    new = run(county, "user", "token", "intake1").stdout.strip().splitlines()[-1]
    assert new != token
    users = json.loads(run(county, "user", "list", "--json").stdout)
    assert [u["login"] for u in users] == ["intake1"]


def _sign_in(home: Path, login: str, password: str) -> int:
    """Sign in through the desk form in-process; the HTTP status of the answer."""
    from node.app import create_app
    from node.home import open_node
    node = open_node(home)
    try:
        client = create_app(node).test_client()
        import re
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/desk/login").get_data(as_text=True))
        return client.post("/desk/login", data={"login": login, "password": password,
                                                "csrf_token": token.group(1)}).status_code
    finally:
        node.close()


def test_user_add_with_password_from_stdin_and_user_password(county):
    proc = subprocess.run([*N12315, "--home", str(county), "user", "add", "clerk", "--role", "intake",
                           "--password-stdin"], input="first password 1\n", capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("n12315_")       # the token stays last
    assert _sign_in(county, "clerk", "first password 1") == 302
    proc = subprocess.run([*N12315, "--home", str(county), "user", "password", "clerk"],
                          input="second password 2\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _sign_in(county, "clerk", "first password 1") == 401
    assert _sign_in(county, "clerk", "second password 2") == 302


def test_a_too_short_password_is_refused_and_no_user_is_created(county):
    proc = subprocess.run([*N12315, "--home", str(county), "user", "add", "clerk", "--role", "intake",
                           "--password-stdin"], input="short\n", capture_output=True, text=True, timeout=60)
    assert_refused(proc, "password")
    assert "clerk" not in run(county, "user", "list").stdout
    assert_refused(subprocess.run([*N12315, "--home", str(county), "user", "password", "nobody"],
                                  input="long enough pass\n", capture_output=True, text=True, timeout=60), "nobody")


def test_user_add_unknown_role_refused(county):
    proc = run(county, "user", "add", "x", "--role", "boss")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_sync_wait_times_out_non_zero_with_backlog(county, tmp_path):
    # a station whose parent is not serving: its ping cannot leave
    parent = county
    station = tmp_path / "station"
    assert init(station, "station", "440305001", "http://127.0.0.1:1").returncode == 0
    port = _free_port()
    with _serving(parent, port):
        token = run(parent, "link", "invite", "--child", "440305001").stdout.strip().splitlines()[-1]
        # the parent was initialised with port 8316 in its URL; join through the real port
        proc = run(station, "link", "join", "--parent", f"http://127.0.0.1:{port}", "--token", token)
        assert proc.returncode == 0, proc.stderr
    assert run(station, "ping", "440305").returncode == 0
    proc = run(station, "sync", "--wait", "1")
    assert_refused(proc, "outbox not empty")
    doc = json.loads(run(station, "status", "--json").stdout)
    assert doc["links"][0]["backlog"] >= 1 and doc["links"][0]["last_error"]


def test_quarantine_commands_on_empty_node(county):
    proc = run(county, "quarantine", "list", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert_refused(run(county, "quarantine", "skip", "7", "--reason", "x"), "7")


def test_every_command_has_help():
    from click.testing import CliRunner

    from admin_cli.cli import cli
    runner = CliRunner()

    def walk(group, path):
        for name, cmd in group.commands.items():
            result = runner.invoke(cli, [*path, name, "--help"])
            assert result.exit_code == 0, (path, name, result.output)
            assert "/" in result.output, f"{' '.join(path + [name])}: help is Chinese / English"
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])

    walk(cli, [])


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _serving:
    def __init__(self, home: Path, port: int):
        self.home, self.port = home, port

    def __enter__(self):
        self.proc = subprocess.Popen([*N12315, "--home", str(self.home), "serve", "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self.proc
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("serve did not start")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.out, self.err = self.proc.communicate(timeout=20)
        self.returncode = self.proc.returncode


@pytest.mark.process
def test_serve_accepts_the_contract_example_and_stops_cleanly_on_sigterm(county):
    """Issue 2 "done when": init; serve; a POST of the CONTRACT §5 example gets accept_by
    2026-10-14 across the National Day holiday; SIGTERM stops it cleanly."""
    token = run(county, "user", "add", "intake1", "--role", "intake").stdout.strip().splitlines()[-1]
    port = _free_port()
    body = {
        "kind": "complaint", "report_target": None, "channel": "phone",
        "received_at": "2026-09-29T10:00:00+08:00", "urgency": "general",
        "complainant": {"name": "张三", "phone": "13800000000", "address": "深圳市南山区", "anonymous": False},
        "respondent": {"name": "深圳市某某电器有限公司", "uscc": "914403001922038216", "region_code": "440305",
                       "address": "深圳市南山区"},
        "category": "G0303", "summary": "空调不制冷", "description": "安装后不制冷", "amount": "1299.00",
        "extensions": {},
    }
    server = _serving(county, port)
    with server:
        resp = requests.post(f"http://127.0.0.1:{port}/api/v1/cases", json=body,
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 201, resp.text
        case = resp.json()
        assert case["id"] == "440305-20260929-000001"
        assert case["deadlines"]["accept_by"] == "2026-10-14"
        assert case["status"] == "registered" and case["rule_set"]
        unauth = requests.post(f"http://127.0.0.1:{port}/api/v1/cases", json=body, timeout=10)
        assert unauth.status_code == 401 and unauth.json()["error"]["code"]
    assert server.returncode == 0
    assert "Traceback" not in server.err


@pytest.mark.process
def test_serve_refuses_a_body_over_its_limit_before_reading_it(county):
    """waitress reads no more than the largest body a route accepts (it used to buffer up to
    1 GiB before the app's own 1 MiB check answered)."""
    port = _free_port()
    with _serving(county, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 209715200\r\n\r\n{")
            sock.settimeout(10)
            answer = sock.recv(4096).decode("latin-1")
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
