"""Documentation stays true: every config key documented, every level file loads, the
README leads with the two commands (STYLE.md "Config", "Tests")."""
from __future__ import annotations

from pathlib import Path

import pytest

from node import config

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_key_is_documented():
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    missing = [key for key in config.documented_keys() if f"`{key}`" not in text]
    assert not missing, f"undocumented config keys: {missing}"


@pytest.mark.parametrize("level", config.LEVELS)
def test_every_level_file_loads(tmp_path, level):
    home = tmp_path / level
    home.mkdir()
    (home / "node.toml").write_text(config.render_node_toml(level, "000000", "x", "http://x", None))
    cfg = config.load_config(home, environ={})
    assert cfg.level == level
    assert isinstance(cfg.capabilities.issues_directives, bool)


def test_levels_differ_by_capabilities_as_the_mission_says(tmp_path):
    caps = {}
    for level in config.LEVELS:
        home = tmp_path / level
        home.mkdir()
        (home / "node.toml").write_text(config.render_node_toml(level, "000000", "x", "http://x", None))
        caps[level] = config.load_config(home, environ={}).capabilities
    assert caps["province"].central_phone_intake and not caps["hq"].central_phone_intake  # R1.2
    assert caps["hq"].analysis_centre and caps["province"].analysis_centre                 # R7.2
    assert not caps["county"].analysis_centre
    assert all(caps[lv].database_tier for lv in ("hq", "province", "prefecture"))           # R7.2
    assert all(caps[lv].collection_point for lv in ("prefecture", "county", "station"))
    assert caps["hq"].designates_direct_report and not caps["province"].designates_direct_report


def test_environment_overrides_and_bad_values_are_named(tmp_path):
    home = tmp_path / "n"
    home.mkdir()
    (home / "node.toml").write_text(config.render_node_toml("county", "440305", "x", "http://x", None))
    cfg = config.load_config(home, environ={"N12315_REPLICATION__BATCH_SIZE": "50"})
    assert cfg.replication.batch_size == 50
    with pytest.raises(Exception) as err:
        config.load_config(home, environ={"N12315_REPLICATION__BATCH_SIZE": "lots"})
    assert "replication.batch_size" in str(err.value)


def test_readme_leads_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
