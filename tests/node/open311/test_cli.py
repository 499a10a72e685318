"""``n12315 open311 key add|list|revoke`` as an operator runs them (CONTRACT §10): the key is
the last line of stdout, it works at once, a revoked key is refused (403); refusals are one
line on stderr and a non-zero exit."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.open311.helpers import BASE, COMPLAINT_FORM
from tests.test_cli import assert_refused, init, run


@pytest.fixture
def county(tmp_path) -> Path:
    home = tmp_path / "nanshan"
    proc = init(home)
    assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture
def web(county) -> Iterator:
    """The same home opened in this process, behind the Flask test client."""
    from node.app import create_app
    from node.home import open_node
    node = open_node(county)
    try:
        yield create_app(node).test_client()
    finally:
        node.close()


def add(home: Path, name: str) -> subprocess.CompletedProcess:
    return run(home, "open311", "key", "add", name)


def test_key_add_prints_the_key_last_it_works_and_revoke_stops_it(county, web):
    proc = add(county, "civic-app")
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    assert key.startswith("o311_") and len(key) > 30
    r = web.post(f"{BASE}/requests.json", data={**COMPLAINT_FORM, "api_key": key})
    assert r.status_code == 201, r.get_data(as_text=True)

    listed = json.loads(run(county, "open311", "key", "list", "--json").stdout)
    assert [(k["name"], k["active"], k["revoked_at"]) for k in listed] == [("civic-app", True, None)]
    assert key not in json.dumps(listed)

    proc = run(county, "open311", "key", "revoke", "civic-app")
    assert proc.returncode == 0, proc.stderr
    r = web.post(f"{BASE}/requests.json", data={**COMPLAINT_FORM, "api_key": key})
    assert r.status_code == 403 and r.get_json() == [{"code": 403, "description": r.get_json()[0]["description"]}]
    assert "api_key" in r.get_json()[0]["description"]
    [row] = json.loads(run(county, "open311", "key", "list", "--json").stdout)
    assert row["active"] is False and row["revoked_at"]
    assert "已吊销" in run(county, "open311", "key", "list").stdout


def test_key_refusals_are_one_line(county):
    assert add(county, "app").returncode == 0
    assert_refused(add(county, "app"), "already exists")
    assert_refused(add(county, "bad name!"), "name")
    assert add(county, "bad name!").returncode == 2
    assert_refused(run(county, "open311", "key", "revoke", "nobody"), "nobody")
