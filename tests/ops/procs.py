"""Real ``n12315`` processes for the operations tests: run a command, serve a home until the
block ends (SIGTERM), wait for ``/healthz``."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

CHECKOUT_CLI = [sys.executable, "-m", "admin_cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of an operator's shell: no N12315_* settings, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("N12315_") and k != "PYTHONPATH"}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run(cli: Sequence[str], home: Path | None, *args: str, cwd: Path | None = None, stdin: str | None = None,
        env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [*cli, *(["--home", str(home)] if home is not None else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin, cwd=cwd,
                          env=env or clean_env())


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args}: {proc.stderr.strip() or proc.stdout.strip()}"
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            resp = requests.get(url + "/healthz", timeout=2)
            if resp.status_code == 200:
                return resp.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not healthy within {timeout_s}s")


@contextmanager
def serving(cli: Sequence[str], home: Path, port: int, *, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[str]:
    """``n12315 serve`` on 127.0.0.1:port until the block ends; its output goes to serve.log
    in the home's folder (beside it, so a restore into an empty home is not disturbed)."""
    with open(home.parent / f"{home.name}.serve.log", "ab") as log:
        proc = subprocess.Popen([*cli, "--home", str(home), "serve", "--port", str(port)], cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT, env=env or clean_env())
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
