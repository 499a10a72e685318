"""Inputs an outside tester sent that used to end in a 500, or files others could read
(issue "privacy and security", found from outside); each answer is a clear 4xx that changes
nothing, and a node's files are its owner's only."""
from __future__ import annotations

import json
import stat

import pytest

from tests.node.cases.examples import complaint

CASES = "/api/v1/cases"


def _post_raw(app_client, path: str, body: bytes, role: str | None = "intake"):
    return app_client.client.post(path, data=body, headers={**app_client.headers(role),
                                                             "Content-Type": "application/json"})


@pytest.mark.parametrize("path, role", [(CASES, "intake"), ("/federation/v1/join", None),
                                        ("/api/v1/directives", "leader")])
def test_json_nested_ten_thousand_deep_is_a_400(app_client, path, role):
    body = b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    before = app_client.count_rows()
    resp = _post_raw(app_client, path, body, role)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == "malformed"
    assert app_client.count_rows() == before


def test_moderately_deep_json_is_named_too_deep(app_client):
    nested: object = 1
    for _ in range(40):
        nested = [nested]
    body = json.dumps({**complaint(), "extensions": {"x": nested}})
    resp = _post_raw(app_client, CASES, body.encode())
    assert resp.status_code == 400 and "nested too deep" in resp.get_json()["error"]["message"]


def test_a_lone_surrogate_is_a_400_naming_the_field(app_client):
    body = json.dumps(complaint(summary="坏字符 \ud800")).encode()   # json.dumps writes it as \ud800
    before = app_client.count_rows()
    resp = _post_raw(app_client, CASES, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "summary"
    assert app_client.count_rows() == before


def test_a_key_given_twice_is_a_400(app_client):
    text = json.dumps(complaint())
    body = text[:-1] + ', "summary": "second"}'
    resp = _post_raw(app_client, CASES, body.encode())
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "summary"


def test_a_node_home_database_and_keys_are_private(tmp_path, make_node):
    node = make_node(tmp_path, "county", "440305")
    home = node.config.home_path
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "keys" / "node-key-1.pem").stat().st_mode) == 0o600
    if node.config.db_url.startswith("postgresql"):
        assert not (home / "node.db").exists()      # the data lives in the server, nothing to guard here
        return
    with node.activate():
        from node.accounts import add_user
        add_user("someone", "intake", node.now())       # writes: the WAL exists now
    for path in (home / "node.db", home / "node.db-wal", home / "keys" / "node-key-1.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700


def test_an_older_world_readable_database_is_made_private_on_open(tmp_path, make_node):
    from node.home import open_node
    node = make_node(tmp_path, "county", "440305")
    home = node.config.home_path
    db = home / "node.db"
    if node.config.db_url.startswith("postgresql"):
        node.close()
        open_node(home).close()                       # opening a server-backed node makes no file
        assert not db.exists()
        return
    node.close()
    db.chmod(0o644)
    open_node(home).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
