"""``n12315 service unit``: a hardened systemd unit for one node home (issue 16 item 3).

The unit runs ``serve`` as its own user with the file system read-only except the home, the
log directory and an external SQLite database's folder; SIGTERM stops it (``serve`` finishes
its running job and closes its sockets), a crash restarts it. Pure text: nothing is written.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from node.config import NodeConfig
from node.db import sqlite_path

_UNDER_HOME = ("/home", "/root", "/run/user")


def n12315_executable() -> list[str]:
    """The absolute command that runs this installation's ``n12315``: the console script beside
    this interpreter (a virtual environment's bin/), else the one on PATH, else ``python -m``."""
    beside = Path(sys.executable).parent / "n12315"
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("n12315")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "admin_cli"]


def render_unit(config: NodeConfig, *, user: str = "n12315", host: str = "127.0.0.1", port: int = 8315,
                log_dir: str = "/var/log/n12315", command: list[str] | None = None) -> str:
    home = str(config.home_path.resolve())
    exe = command or n12315_executable()
    writable = [home, log_dir]
    db_file = sqlite_path(config.db_url)
    if db_file is not None and not str(db_file.resolve()).startswith(home + "/"):
        writable.append(str(db_file.resolve().parent))
    # ProtectHome=yes would hide a home (or a virtual environment) kept under /home or /root.
    needs_home = any(p.startswith(_UNDER_HOME) for p in [*writable, exe[0]])
    logs_directory = log_dir[len("/var/log/"):] if log_dir.startswith("/var/log/") else None
    exec_start = " ".join(_quote(a) for a in [*exe, "--home", home, "serve", "--host", host, "--port", str(port)])
    lines = [
        "# n12315 node " + f"{config.code} {config.name}" + " — written by `n12315 service unit`",
        "# Install: save as /etc/systemd/system/n12315.service; systemctl daemon-reload;",
        "#          systemctl enable --now n12315   (docs/operations.md)",
        "[Unit]",
        f"Description=n12315 node {config.code}",
        "Documentation=https://github.com/n12315/n12315/blob/main/docs/operations.md",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"Group={user}",
        f"Environment=N12315_HOME={_quote(home)}",
        f"ExecStart={exec_start}",
        f"WorkingDirectory={_quote(home)}",
        "Restart=on-failure",
        "RestartSec=5s",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=60s",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectSystem=strict",
        f"ProtectHome={'read-only' if needs_home else 'yes'}",
        "ReadWritePaths=" + " ".join(_quote(p) for p in writable),
        *([f"LogsDirectory={logs_directory}"] if logs_directory else []),
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=",
        "SystemCallArchitectures=native",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def _quote(arg: str) -> str:
    """systemd's own quoting: ``%`` and ``$`` doubled (specifiers, variables); a word with
    blanks or quotes double-quoted, escaped inside."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in ' \t"\'\\'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
