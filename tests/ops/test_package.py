"""The project as an operator installs it (CONTRACT §13, issue 16 item 1): the wheel built
from the source tree, installed into a fresh virtual environment, run from a directory that
is not the checkout — ``--version``, ``init``, ``serve`` and a link between two nodes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.ops.procs import clean_env, free_port, ok, run, serving

pytestmark = [pytest.mark.process, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "node", "federation", "replication", "admin_cli")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built once, from a copy of the tree (a build writes build/ and *.egg-info where it runs)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    out = tmp_path_factory.mktemp("dist")
    ok(subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                      capture_output=True, text=True, timeout=600))
    return next(out.glob("n12315-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv holding the wheel and its dependencies from the package index."""
    venv = tmp_path_factory.mktemp("venv")
    ok(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=120))
    started = time.monotonic()
    ok(subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True,
                      timeout=600))
    return {"cli": [str(venv / "bin" / "n12315")], "python": str(venv / "bin" / "python"),
            "install_s": time.monotonic() - started, "wheel": wheel}


def test_the_wheel_carries_every_run_time_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = [p.relative_to(ROOT).as_posix() for p in (ROOT / "node").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    assert tracked and not sorted(set(tracked) - names)
    for needed in ("node/configs/levels/county.toml", "node/configs/rules/order20-2022.toml",
                   "node/data/cap/CAP-v1.2.xsd", "node/translations/zh_Hans_CN/LC_MESSAGES/messages.mo"):
        assert needed in names
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size} bytes")


def test_installed_node_runs_and_links_from_any_directory(installed, tmp_path):
    cli = installed["cli"]
    print(f"\ninstall into a fresh venv: {installed['install_s']:.1f} s")
    where = ok(subprocess.run([installed["python"], "-c", "import node; print(node.__file__)"],
                              capture_output=True, text=True, cwd=tmp_path, env=clean_env())).stdout
    assert "site-packages" in where and str(ROOT) not in where
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version in ok(run(cli, None, "--version", cwd=tmp_path)).stdout

    ports = {"440300": free_port(), "440305": free_port()}
    homes = {code: tmp_path / f"node-{code}" for code in ports}
    for (code, level) in (("440300", "prefecture"), ("440305", "county")):
        ok(run(cli, homes[code], "init", "--level", level, "--code", code, "--name", f"局 {code}",
               "--url", f"http://127.0.0.1:{ports[code]}", cwd=tmp_path))
    with serving(cli, homes["440300"], ports["440300"], cwd=tmp_path) as parent_url, \
            serving(cli, homes["440305"], ports["440305"], cwd=tmp_path):
        token = ok(run(cli, homes["440300"], "link", "invite", "--child", "440305", cwd=tmp_path)
                   ).stdout.strip().splitlines()[-1]
        ok(run(cli, homes["440305"], "link", "join", "--parent", parent_url, "--token", token, cwd=tmp_path))
        ok(run(cli, homes["440305"], "ping", "440300", cwd=tmp_path))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = json.loads(ok(run(cli, homes["440305"], "pings", "--json", cwd=tmp_path)).stdout)
            if report["answered"] == report["sent"] == 1:
                break
            time.sleep(0.5)
        assert report["answered"] == 1, report
        doc = json.loads(ok(run(cli, homes["440305"], "doctor", "--json", cwd=tmp_path)).stdout)
        checks = {c["name"]: c for c in doc["checks"]}
        assert doc["ok"] and checks["link 440300"]["status"] == "ok", checks
        assert checks["clock"]["status"] == "ok" and "440300" in checks["clock"]["detail"]
    failing = run(cli, homes["440305"], "doctor", "--json", cwd=tmp_path)     # the parent has stopped
    assert failing.returncode == 1
    link = next(c for c in json.loads(failing.stdout)["checks"] if c["name"] == "link 440300")
    assert link["status"] == "fail" and "unreachable" in link["detail"]
    links = json.loads(ok(run(cli, homes["440300"], "link", "list", "--json", cwd=tmp_path)).stdout)
    assert [(r["code"], r["role"], r["state"]) for r in links] == [("440305", "child", "active")]
