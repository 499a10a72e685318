"""``n12315 audit verify|list`` and ``n12315 user disable|tokens|token-revoke`` through the real
console script (CONTRACT §11; issue 13 items 4-5)."""
from __future__ import annotations

import json
import sqlite3

from tests import test_cli
from tests.test_cli import assert_refused, run

county = test_cli.county   # the CLI tests' node fixture, used here by name


def _app_for(home):
    """The node as `serve` runs it, in this process: the CLI changes the database from another."""
    from node.app import create_app
    from node.home import open_node
    node = open_node(home)
    return node, create_app(node).test_client()


def test_disable_from_the_cli_stops_a_serving_nodes_token_at_the_next_request(county):
    token = run(county, "user", "add", "ann", "--role", "intake").stdout.strip().splitlines()[-1]
    node, client = _app_for(county)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/cases", headers=headers).status_code == 200
        assert run(county, "user", "disable", "ann").returncode == 0
        assert client.get("/api/v1/cases", headers=headers).status_code == 401
        assert run(county, "user", "enable", "ann").returncode == 0
        assert client.get("/api/v1/cases", headers=headers).status_code == 200
        tokens = json.loads(run(county, "user", "tokens", "ann", "--json").stdout)
        assert [t["state"] for t in tokens] == ["active"] and token not in json.dumps(tokens)
        assert run(county, "user", "token-revoke", "ann", str(tokens[0]["id"])).returncode == 0
        assert client.get("/api/v1/cases", headers=headers).status_code == 401
        assert_refused(run(county, "user", "token-revoke", "ann", "999"), "999")
    finally:
        node.close()


def test_audit_verify_names_the_first_changed_entry(county):
    for login in ("a1", "a2", "a3"):
        assert run(county, "user", "add", login, "--role", "handler").returncode == 0
    assert run(county, "audit", "seal").returncode == 0
    ok = run(county, "audit", "verify", "--json")
    doc = json.loads(ok.stdout)
    assert ok.returncode == 0 and doc["ok"] is True and doc["entries"] == 6 and doc["first_bad"] is None
    listed = run(county, "audit", "list", "--limit", "2", "--json")
    assert [e["seq"] for e in json.loads(listed.stdout)] == [6, 5]
    with sqlite3.connect(county / "node.db") as db:
        db.execute("UPDATE audit_entry SET detail = ? WHERE seq = 3", ('{"role":"admin"}',))
    bad = run(county, "audit", "verify")
    assert_refused(bad, "#3", "user.add", "changed")
    as_json = run(county, "audit", "verify", "--json")
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and doc["ok"] is False
    assert doc["first_bad"]["seq"] == 3 and doc["first_bad"]["problem"] == "changed"


def test_audit_verify_names_a_removed_entry(county):
    for login in ("a1", "a2"):
        run(county, "user", "add", login, "--role", "handler")
    with sqlite3.connect(county / "node.db") as db:
        db.execute("DELETE FROM audit_entry WHERE seq = 2")
    assert_refused(run(county, "audit", "verify"), "#2", "removed")
