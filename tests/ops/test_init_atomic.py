"""``init`` is all or nothing (CONTRACT §13, issue 16 item 2): a failure injected after each
step leaves no file or folder behind, and the next ``init`` of the same home succeeds."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from node import home as homemod
from node.errors import NodeError

STEPS = ["_make_parents", "_stage_dir", "_write_keys", "_create_database", "_write_config", "_place",
         "open_node"]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def init(home: Path, db_url: str | None = None):
    return homemod.init_home(home, level="county", code="440305", name="南山区局", url="http://127.0.0.1:1",
                             db_url=db_url)


def fail_after(monkeypatch, step: str) -> None:
    """The step does its work, then the disk 'fills up': the harder case for the clean-up."""
    real = getattr(homemod, step)

    def broken(*args, **kwargs):
        result = real(*args, **kwargs)
        if hasattr(result, "close"):
            result.close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(homemod, step, broken)


@pytest.mark.parametrize("step", STEPS)
def test_failure_after_each_step_leaves_no_trace_when_the_home_is_new(tmp_path, monkeypatch, step):
    base = tmp_path / "srv"
    base.mkdir()
    home = base / "deep" / "er" / "home"          # parents that init has to make
    with monkeypatch.context() as m:
        fail_after(m, step)
        with pytest.raises(NodeError) as err:
            init(home)
    assert err.value.code == "home_unwritable"
    assert tree(base) == set(), f"{step} left {tree(base)}"
    node = init(home)
    node.close()
    assert (home / "node.toml").exists() and (home / "keys" / "node-key-1.pem").exists()


@pytest.mark.parametrize("step", STEPS)
def test_failure_after_each_step_keeps_a_prepared_home_as_it_was(tmp_path, monkeypatch, step):
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    (home / "calendar.toml").write_text("# the operator's own file\n")
    before = (tree(tmp_path), os.stat(home).st_mode)
    with monkeypatch.context() as m:
        fail_after(m, step)
        with pytest.raises(NodeError):
            init(home)
    assert (tree(tmp_path), os.stat(home).st_mode) == before
    init(home).close()
    assert os.stat(home).st_mode & 0o777 == 0o750, "an operator-made home keeps its mode"
    assert {"node.toml", "node.db", "keys", "calendar.toml"} <= {p.name for p in home.iterdir()}


def test_failure_while_moving_entries_in_moves_them_back(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    real, calls = homemod._move, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(homemod, "_move", flaky)
        with pytest.raises(NodeError):
            init(home)
    assert tree(tmp_path) == {"home"}
    init(home).close()


def test_external_sqlite_file_made_by_a_failed_init_is_removed(tmp_path, monkeypatch):
    db_file = tmp_path / "data" / "n.db"
    db_file.parent.mkdir()
    with monkeypatch.context() as m:
        fail_after(m, "_write_config")
        with pytest.raises(NodeError):
            init(tmp_path / "home", f"sqlite:///{db_file}")
    assert tree(tmp_path) == {"data"}
    init(tmp_path / "home", f"sqlite:///{db_file}").close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)   # the external database server case
def test_postgres_identity_written_by_a_failed_init_is_forgotten(tmp_path, monkeypatch, db_backend, db_url):
    with monkeypatch.context() as m:
        fail_after(m, "_place")
        with pytest.raises(NodeError):
            init(tmp_path / "home", db_url)
    assert tree(tmp_path) == set()
    init(tmp_path / "home", db_url).close()      # not "that database already holds a node"


def test_a_refused_code_makes_nothing(tmp_path):
    with pytest.raises(NodeError):
        homemod.init_home(tmp_path / "a" / "home", level="county", code="999999", name="x", url="http://x")
    assert tree(tmp_path) == set()
