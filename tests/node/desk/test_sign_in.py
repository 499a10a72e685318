"""Signing in to the desk (issue 11 item 1; CONTRACT §9): the form, sessions, CSRF, lockout,
idle timeout, password changes and roles — all through the pages, as a browser would."""
from __future__ import annotations

import re

import pytest

from tests.node.desk.conftest import PASSWORD


def _login_events(desk):
    from node.accounts import login_events
    with desk.node.activate():
        return login_events()


def test_the_desk_without_a_session_sends_you_to_the_sign_in_form(desk):
    resp = desk.get("/desk/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/desk/login")
    form = desk.text(desk.get("/desk/login"))
    assert '<html lang="zh-CN">' in form
    assert 'name="login"' in form and 'name="password"' in form
    assert len(re.findall(r'<button[^>]*type="submit"', form)) == 1


def test_right_password_opens_the_desk_and_wrong_one_shows_the_form_again(desk):
    desk.user("intake1", "intake")
    wrong = desk.sign_in("intake1", "not the password")
    assert wrong.status_code == 401
    page = desk.text(wrong)
    assert "登录名或密码错误" in page and 'name="password"' in page
    assert desk.get("/desk/").status_code == 302            # no session was started
    ok = desk.sign_in("intake1")
    assert ok.status_code == 302 and ok.headers["Location"] == "/desk/"
    home = desk.get("/desk/")
    assert home.status_code == 200
    assert "我的工作台" in desk.text(home) and "intake1" in desk.text(home)
    assert [e["outcome"] for e in _login_events(desk)][:2] == ["ok", "bad_password"]


def test_unknown_login_gets_the_same_answer_as_a_wrong_password(desk):
    desk.user("handler1", "handler")
    unknown = desk.sign_in("nobody", PASSWORD)
    wrong = desk.sign_in("handler1", "wrong password")
    assert unknown.status_code == wrong.status_code == 401
    message = re.compile(r'id="login-error">([^<]+)<')
    assert message.search(desk.text(unknown)).group(1) == message.search(desk.text(wrong)).group(1)


def test_the_session_cookie_is_httponly_and_samesite_strict(desk):
    desk.user("leader1", "leader")
    resp = desk.sign_in("leader1")
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("n12315_desk="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie          # served over http:// here; https:// nodes set it


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(desk):
    desk.user("intake1", "intake")
    desk.get("/desk/login")
    resp = desk.post("/desk/login", {"login": "intake1", "password": PASSWORD}, csrf=False)
    assert resp.status_code == 400
    assert "表单已过期" in desk.text(resp)
    assert _login_events(desk) == []                        # not even an attempt was recorded
    assert desk.get("/desk/").status_code == 302
    forged = desk.post("/desk/login", {"login": "intake1", "password": PASSWORD, "csrf_token": "forged"},
                       csrf=False)
    assert forged.status_code == 400


def test_five_failures_lock_the_login_for_fifteen_minutes_and_are_recorded(desk, clock):
    desk.user("handler1", "handler")
    for _ in range(4):
        assert desk.sign_in("handler1", "wrong password").status_code == 401
    fifth = desk.sign_in("handler1", "wrong password")
    assert fifth.status_code == 423 and "已锁定" in desk.text(fifth)
    # while locked even the right password is refused
    assert desk.sign_in("handler1").status_code == 423
    clock.advance(minutes=14)
    assert desk.sign_in("handler1").status_code == 423
    clock.advance(minutes=2)
    assert desk.sign_in("handler1").status_code == 302
    events = _login_events(desk)
    assert [e["outcome"] for e in reversed(events)] == ["bad_password"] * 5 + ["locked", "locked", "ok"]
    assert all(e["address"] == "127.0.0.1" for e in events)


def test_an_idle_session_ends_after_thirty_minutes(desk, clock):
    desk.user("supervisor1", "supervisor")
    desk.sign_in("supervisor1")
    clock.advance(minutes=29)
    assert desk.get("/desk/").status_code == 200          # a request resets the idle time
    clock.advance(minutes=29)
    assert desk.get("/desk/").status_code == 200
    clock.advance(minutes=31)
    gone = desk.get("/desk/")
    assert gone.status_code == 302 and "reason=idle" in gone.headers["Location"]
    assert "长时间未操作" in desk.text(desk.get(gone.headers["Location"]))


def test_sign_out_ends_the_session(desk):
    desk.user("analyst1", "analyst")
    desk.sign_in("analyst1")
    desk.get("/desk/")
    assert desk.post("/desk/logout").status_code == 302
    assert desk.get("/desk/").status_code == 302


def test_a_new_password_or_a_disabled_user_ends_every_session(desk):
    from node.accounts import User, set_password
    desk.user("intake1", "intake")
    desk.sign_in("intake1")
    assert desk.get("/desk/").status_code == 200
    with desk.node.activate():
        set_password("intake1", "a brand new password")
    assert desk.get("/desk/").status_code == 302
    desk.sign_in("intake1", "a brand new password")
    assert desk.get("/desk/").status_code == 200
    with desk.node.activate():
        User.update(disabled=True).where(User.login == "intake1").execute()
    assert desk.get("/desk/").status_code == 302
    assert desk.sign_in("intake1", "a brand new password").status_code == 401


def test_a_user_without_a_password_cannot_sign_in(desk):
    desk.user("apionly", "handler", password=None)
    assert desk.sign_in("apionly", "").status_code == 401


def test_next_only_leads_within_the_desk(desk):
    desk.user("intake1", "intake")
    desk.get("/desk/login")
    resp = desk.post("/desk/login", {"login": "intake1", "password": PASSWORD, "next": "https://evil.example/"})
    assert resp.headers["Location"] == "/desk/"


@pytest.mark.parametrize("role, sees, hidden", [
    ("intake", ["登记", "案件"], ["数据看板", "系统管理"]),
    ("analyst", ["数据看板", "案件"], ["登记", "系统管理"]),
    ("admin", ["登记", "数据看板", "系统管理", "应急指挥"], []),
    ("discipline", ["案件"], ["登记", "数据看板", "系统管理"]),
])
def test_each_role_sees_its_own_menu(desk, role, sees, hidden):
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    nav = re.search(r'<nav class="menu".*?</nav>', desk.text(desk.get("/desk/")), re.S).group(0)
    for label in sees:
        assert f">{label}<" in nav
    for label in hidden:
        assert f">{label}<" not in nav


def test_english_on_request_for_the_session(desk):
    desk.user("leader1", "leader")
    desk.sign_in("leader1")
    page = desk.text(desk.get("/desk/?lang=en"))
    assert '<html lang="en">' in page and "My desk" in page
    assert '<html lang="en">' in desk.text(desk.get("/desk/"))       # kept for the session
    assert '<html lang="zh-CN">' in desk.text(desk.get("/desk/?lang=zh_CN"))


def test_pages_carry_a_strict_content_security_policy_and_no_store(desk):
    resp = desk.get("/desk/login")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "http://" not in desk.text(resp).replace('href="http://www.w3.org', "")


def test_the_api_keeps_working_with_tokens_and_needs_no_csrf(desk):
    token = desk.user("intake1", "intake")
    resp = desk.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
