"""Accounts (issue 13 item 5; CONTRACT §4, §11): a disabled login's token and desk session stop
at the very next request; tokens expire after ``accounts.token_days``, can be listed without the
secret and revoked one by one; every change and every desk sign-in is in the audit log."""
from __future__ import annotations

from datetime import timedelta

import pytest

from node.accounts import list_tokens, reissue_token, revoke_token, set_disabled, set_password, set_role
from node.audit import list_entries, verify
from node.errors import NodeError
from tests.conftest import ApiClient
from tests.node.desk.conftest import Desk


def api(desk: Desk, token: str):
    return desk.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})


def actions(node, target: str | None = None) -> list[str]:
    return [e["action"] for e in reversed(list_entries(node, limit=500, target=target))]


def test_disable_ends_the_token_and_the_session_at_the_next_request(desk):
    token = desk.user("intake1", "intake")
    assert desk.sign_in("intake1").status_code == 302
    assert desk.get("/desk/").status_code == 200 and api(desk, token).status_code == 200
    with desk.node.activate():                        # what `n12315 user disable` calls
        set_disabled("intake1", True, now=desk.node.now())
    resp = api(desk, token)
    assert resp.status_code == 401 and "停用" in resp.get_json()["error"]["message"]
    page = desk.get("/desk/")
    assert page.status_code == 302 and "/desk/login" in page.headers["Location"]
    with desk.node.activate():
        set_disabled("intake1", False, now=desk.node.now())
    assert api(desk, token).status_code == 200        # enabled: the token works again …
    assert desk.get("/desk/").status_code == 302      # … the old session stays ended
    assert actions(desk.node, "intake1")[-2:] == ["user.disable", "user.enable"]


def test_a_token_expires_after_token_days(app_client: ApiClient):
    token = app_client.token("handler")
    app_client.clock.advance(days=90, seconds=-1)
    assert app_client.get("/api/v1/cases").status_code == 200
    app_client.clock.advance(seconds=1)
    resp = app_client.get("/api/v1/cases")
    assert resp.status_code == 401
    message = resp.get_json()["error"]["message"]
    assert "令牌已过期" in message and "token expired" in message
    with app_client.node.activate():                  # a new one works again
        fresh = reissue_token("handler1", now=app_client.node.now(), token_days=7)
        rows = list_tokens("handler1", app_client.node.now())
    assert token != fresh
    assert app_client.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert [r["state"] for r in rows] == ["active", "revoked"]
    assert rows[0]["expires_at"].startswith((app_client.node.now() + timedelta(days=7)).date().isoformat())


def test_tokens_are_listed_without_the_secret_and_revoked_one_by_one(app_client: ApiClient):
    token = app_client.token("intake")
    assert app_client.get("/api/v1/cases", role="intake").status_code == 200     # marks it used
    with app_client.node.activate():
        rows = list_tokens("intake1", app_client.node.now())
    assert len(rows) == 1 and rows[0]["state"] == "active" and rows[0]["last_used_at"]
    assert token.startswith(rows[0]["prefix"]) and token not in repr(rows)
    assert not any(len(str(v)) == 64 for v in rows[0].values())                   # no hash either
    with app_client.node.activate():
        revoked = revoke_token("intake1", rows[0]["id"], now=app_client.node.now())
    assert revoked["state"] == "revoked"
    assert app_client.get("/api/v1/cases", role="intake").status_code == 401
    with app_client.node.activate(), pytest.raises(NodeError) as again:
        revoke_token("intake1", rows[0]["id"], now=app_client.node.now())
    assert again.value.status == 409
    with app_client.node.activate(), pytest.raises(NodeError) as other:
        revoke_token("handler1", rows[0]["id"], now=app_client.node.now())      # not that login's token
    assert other.value.status == 404


def test_every_account_change_is_in_the_audit_log(desk):
    desk.user("h1", "handler")                      # user.add, token.issue, password.set
    node = desk.node
    with node.activate():
        set_role("h1", "supervisor", "admin9", now=node.now())
        reissue_token("h1", now=node.now(), actor="admin9")
        set_password("h1", "another good password", now=node.now(), actor="admin9")
    assert actions(node, "h1") == ["user.add", "token.issue", "password.set", "user.role", "token.revoke",
                                   "token.issue", "password.set"]
    role = next(e for e in list_entries(node) if e["action"] == "user.role")
    assert role["actor"] == "admin9" and role["detail"] == {"from": "handler", "to": "supervisor"}
    assert verify(node).ok


def test_desk_sign_ins_failures_and_lockout_are_audited(desk):
    desk.user("h1", "handler")
    assert desk.sign_in("h1").status_code == 302
    for _ in range(desk.node.config.desk.lockout_attempts):
        desk.sign_in("h1", "wrong password!")
    entries = [e for e in reversed(list_entries(desk.node, limit=100)) if e["action"].startswith("desk.")]
    assert [e["action"] for e in entries] == ["desk.sign_in"] + ["desk.sign_in_failed"] * 5 + ["desk.lockout"]
    assert entries[0]["actor"] == "h1" and entries[1]["actor"] == "anonymous"
    assert entries[1]["detail"]["outcome"] == "bad_password" and "ip" in entries[1]["detail"]
    assert "wrong password!" not in repr(entries)


def test_a_case_export_from_the_desk_is_audited(desk):
    desk.user("sup1", "supervisor")
    assert desk.sign_in("sup1").status_code == 302
    resp = desk.get("/desk/cases/export.xlsx")
    assert resp.status_code == 200
    export = next(e for e in list_entries(desk.node) if e["action"] == "export")
    assert export["actor"] == "sup1" and export["target"] == "cases" and export["detail"]["rows"] == 0
