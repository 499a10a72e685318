"""No personal data in logs (issue 13 item 6): ``n12315 demo --check`` runs the whole demo —
eight ``serve`` processes, links, the sample cases, every flow ``admin_cli.demo_checks``
verifies — and then every line it logged is searched for the complainants' names and phones.

The names and phones are read from ``admin_cli.demo_data`` (whatever complainant the demo
sends, the test looks for), in plain form and as JSON ``\\u`` escapes (the JSON log format).
Searched: every ``*.log`` file under the demo directory (each node's ``serve.log`` and any log
a node writes in its home) and the demo command's own stdout and stderr. Not searched:
``sms.log``, the demo's stand-in for the carrier, which records the messages *sent to* phones
(the phone is its address, as it is at a real SMS gateway).

The same run is the end-to-end check of the demo itself (CONTRACT §8): it must exit 0; and no
node log may hold a traceback or a ``database is locked`` (issue 14: a busy SQLite file is waited
for, and a failing job logs one line naming it).
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.process, pytest.mark.timeout(1500)]

NOT_A_NODE_LOG = {"sms.log"}
PROBLEM_MARKERS = ("Traceback (most recent call last)", "database is locked")
DEMO_TIMEOUT_S = 1300


def personal_values() -> set[str]:
    """Every complainant name and phone the demo sends (``admin_cli.demo_data.SAMPLE_CASES``)."""
    from admin_cli.demo_data import SAMPLE_CASES

    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            person = value.get("complainant")
            if isinstance(person, dict):
                found.update(str(person[k]) for k in ("name", "phone") if person.get(k))
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(SAMPLE_CASES)
    return found


def spellings(value: str) -> set[str]:
    """How a value can appear in a log line: as written, or ``\\u``-escaped by a JSON log."""
    return {value, json.dumps(value)[1:-1]}


def leaks(name: str, text: str, values: set[str]) -> Iterator[str]:
    """``file:line: value: the line`` for each line of ``text`` that holds one of ``values``."""
    wanted = {s: v for v in values for s in spellings(v)}
    for number, line in enumerate(text.splitlines(), 1):
        for spelled, value in wanted.items():
            if spelled in line:
                yield f"{name}:{number}: {value}: {line.strip()[:300]}"


def free_base_port(count: int) -> int:
    """A first port with ``count`` free ports after it (the demo numbers its nodes from it)."""
    for _ in range(200):
        base = random.randrange(20000, 60000)
        socks = []
        try:
            for port in range(base, base + count + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free run of ports on 127.0.0.1")


@dataclass
class DemoRun:
    dir: Path
    stdout: str
    stderr: str
    logs: list[Path]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One ``n12315 demo --check`` for every test of this file (it takes minutes)."""
    from admin_cli.demo import TREE

    demo_dir = tmp_path_factory.mktemp("demo-logs") / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "admin_cli", "demo", "--dir", str(demo_dir),
                             "--base-port", str(free_base_port(len(TREE))), "--check"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        stdout, stderr = demo.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # Ctrl-C, as a person would: the demo stops its eight serve processes (each in its own
        # session, which killing the demo alone would leave running)
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=120)
        raise AssertionError(f"demo --check still running after {DEMO_TIMEOUT_S} s:\n{stdout[-3000:]}") from None
    assert demo.returncode == 0, f"demo --check failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"

    logs = sorted(p for p in demo_dir.rglob("*.log") if p.name not in NOT_A_NODE_LOG)
    assert len([p for p in logs if p.name == "serve.log"]) == len(TREE), logs
    return DemoRun(demo_dir, stdout, stderr, logs)


def test_the_whole_demo_logs_no_complainant_name_or_phone(demo_run: DemoRun):
    values = personal_values()
    assert len(values) >= 8, values   # the sample cases name several people; an empty set proves nothing
    found = [*leaks("demo stdout", demo_run.stdout, values), *leaks("demo stderr", demo_run.stderr, values)]
    for path in demo_run.logs:
        found += leaks(str(path.relative_to(demo_run.dir)), path.read_text(encoding="utf-8", errors="replace"),
                       values)
    assert not found, "personal data in the demo's logs:\n" + "\n".join(found[:50])


def test_the_whole_demo_logs_no_traceback_and_no_locked_database(demo_run: DemoRun):
    """Issue 14: the demo's nodes share one SQLite file per node between waitress threads and
    jobs; a write that meets a busy file waits (BEGIN IMMEDIATE, busy_timeout) instead of
    failing, so no node log holds ``database is locked`` — nor any traceback at all."""
    found = [*problems("demo stdout", demo_run.stdout), *problems("demo stderr", demo_run.stderr)]
    for path in demo_run.logs:
        found += problems(str(path.relative_to(demo_run.dir)), path.read_text(encoding="utf-8", errors="replace"))
    assert not found, "tracebacks or a locked database in the demo's logs:\n" + "\n".join(found[:50])


def problems(name: str, text: str) -> Iterator[str]:
    """``file:line: the line`` for each traceback start or ``database is locked`` in ``text``,
    with the line before it (the log line naming the failing job or request)."""
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if any(marker in line for marker in PROBLEM_MARKERS):
            before = lines[number - 2].strip()[:200] if number > 1 else ""
            yield f"{name}:{number}: {line.strip()[:300]}  (after: {before})"


def test_the_search_finds_a_name_and_an_escaped_phone():
    """The search itself: a plain name and a JSON-escaped one are both found, with the line."""
    values = {"王女士", "13800138000"}
    text = 'ok\n{"message": "from \\u738b\\u5973\\u58eb"}\ncalled 13800138000\n'
    assert list(leaks("x.log", text, values)) == [
        'x.log:2: 王女士: {"message": "from \\u738b\\u5973\\u58eb"}',
        "x.log:3: 13800138000: called 13800138000"]


def test_the_problem_search_names_the_line_and_the_one_before():
    text = ("ok\n2026-01-01 ERROR node.jobs: job replication.push failed\nTraceback (most recent call last):\n"
            "  File x\npeewee.OperationalError: database is locked\n")
    assert list(problems("n/serve.log", text)) == [
        "n/serve.log:3: Traceback (most recent call last):  (after: 2026-01-01 ERROR node.jobs: job "
        "replication.push failed)",
        "n/serve.log:5: peewee.OperationalError: database is locked  (after: File x)"]
    assert list(problems("n/serve.log", "INFO serving\nINFO job ran\n")) == []
