"""``serve`` behind a TLS reverse proxy and with JSON logs (issue 13 item 9, issue 16 item 3;
docs/operations.md): the trusted proxy's X-Forwarded-For is the client's address (the portal's
per-address limit counts each consumer, not the proxy), anyone else's is ignored; with
``http.log_format = "json"`` every log line is one JSON object."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from admin_cli.demo import cli_cmd, free_ports

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]


def serve(tmp_path, env: dict[str, str]):
    [port] = free_ports(1)
    home = tmp_path / "node"
    cli_cmd(home, "init", "--level", "county", "--code", "440305", "--name", "深圳市南山区市场监督管理局",
            "--url", f"http://127.0.0.1:{port}")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - the child writes to it; closed after it stops
    proc = subprocess.Popen([sys.executable, "-m", "admin_cli", "--home", str(home), "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url, log
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise AssertionError((tmp_path / "serve.log").read_text())


def look_ups(url: str, forwarded: str | None) -> list[int]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return [requests.get(url + "/public/track", params={"case_id": "440305-20260101-000001", "query_code": "X"},
                         headers=headers, timeout=10).status_code for _ in range(2)]


@pytest.mark.parametrize("trusted", [True, False])
def test_the_trusted_proxys_forwarded_address_is_the_client(tmp_path, trusted):
    env = {"N12315_PUBLIC__TRACK_PER_ADDRESS_PER_HOUR": "2", "N12315_HTTP__LOG_FORMAT": "json"}
    if trusted:
        env["N12315_HTTP__TRUSTED_PROXY"] = "127.0.0.1"
    proc, url, log = serve(tmp_path, env)
    try:
        assert look_ups(url, "203.0.113.5") == [404, 404]
        # a second consumer behind the same proxy: its own allowance only if the proxy is trusted
        second = look_ups(url, "198.51.100.7")
        assert second == ([404, 404] if trusted else [429, 429])
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    lines = [ln for ln in (tmp_path / "serve.log").read_text(encoding="utf-8").splitlines() if ln.startswith("{")]
    assert lines, "serve wrote no JSON log line"
    for ln in lines:
        entry = json.loads(ln)
        assert {"time", "level", "logger", "message"} <= set(entry)


def test_metrics_of_a_serving_node(tmp_path):
    """``GET /metrics`` of a real ``serve`` (issue 14, docs/metrics.md): this machine scrapes without
    a token and sees the scheduler's jobs; a client behind the trusted proxy is not this machine."""
    from prometheus_client.parser import text_string_to_metric_families
    proc, url, log = serve(tmp_path, {"N12315_HTTP__TRUSTED_PROXY": "127.0.0.1"})
    try:
        deadline, samples = time.monotonic() + 20, {}
        while time.monotonic() < deadline:
            resp = requests.get(url + "/metrics", timeout=10)
            assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for fam in text_string_to_metric_families(resp.text) for s in fam.samples}
            if ("n12315_job_runs_total", (("job", "db.checkpoint"),)) in samples:
                break
            time.sleep(0.5)
        assert samples[("n12315_job_runs_total", (("job", "db.checkpoint"),))] >= 1, sorted(samples)
        assert samples[("n12315_node_info", (("code", "440305"), ("level", "county")))] == 1
        assert samples[("n12315_audit_head_seq", ())] >= 0
        outside = requests.get(url + "/metrics", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=10)
        assert outside.status_code == 401 and outside.json()["error"]["code"] == "unauthenticated"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_a_malformed_metrics_network_is_refused_by_name(tmp_path):
    [port] = free_ports(1)
    home = tmp_path / "node"
    cli_cmd(home, "init", "--level", "county", "--code", "440305", "--name", "南山", "--url", f"http://127.0.0.1:{port}")
    done = subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(home), "serve", "--port", str(port)],
                          env={**os.environ, "N12315_METRICS__ALLOW": "10.0.0.0/33"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "metrics.allow" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_log_format_is_refused_by_name(tmp_path):
    [port] = free_ports(1)
    home = tmp_path / "node"
    cli_cmd(home, "init", "--level", "county", "--code", "440305", "--name", "南山", "--url", f"http://127.0.0.1:{port}")
    done = subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(home), "serve", "--port", str(port)],
                          env={**os.environ, "N12315_HTTP__LOG_FORMAT": "xml"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "http.log_format" in done.stderr and "Traceback" not in done.stderr
