"""The operator's manual stays true (issue 16 item 6): every ``$ `` line of every ``console``
block in docs/operations.md runs, in order, against one temporary home and exits 0."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.procs import clean_env

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "docs" / "operations.md"


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", MANUAL.read_text(encoding="utf-8"), flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_manual_has_commands_for_every_task():
    text = " ".join(console_commands())
    for needed in ("init", "user add", "service unit", "doctor", "backup", "restore", "key rotate", "migrate",
                   "status", "quarantine list"):
        assert f"n12315 {needed}" in text or f" {needed} " in text, needed


@pytest.mark.process
@pytest.mark.timeout(600)
def test_every_console_command_of_the_manual_runs(tmp_path):
    env = clean_env(N12315_HOME=str(tmp_path / "home"), N12315_BACKUP_PASSPHRASE="manual passphrase",
                    PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    commands = console_commands()
    assert len(commands) >= 15
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, f"$ {command}\n{proc.stderr.strip() or proc.stdout.strip()}"
        assert "Traceback" not in proc.stderr
