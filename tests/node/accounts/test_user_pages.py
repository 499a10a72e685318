"""The user pages of the desk's administration (issue 11 item 9; CONTRACT §4, §9): add a user
(token shown once), change a role, reset a password, disable and enable, issue a new token —
each confirmed first, through the same functions as ``n12315 user …``, as a browser does it."""
from __future__ import annotations

import re
from html import unescape

import pytest

from tests.node.desk.conftest import PASSWORD, Desk

NEW_PASSWORD = "a fresh desk password"


def _row(desk, login):
    from node.accounts import User
    with desk.node.activate():
        return User.get_or_none(User.login == login)


def _token_on(page: str) -> str:
    return unescape(re.search(r'id="new-token" value="([^"]+)"', page).group(1))


def _api(desk, token):
    return desk.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})


def _confirm_then_do(desk, path, data=None):
    """The two POSTs of every change: the confirmation page, then the change."""
    data = dict(data or {})
    first = desk.post(path, data)
    assert first.status_code == 200, desk.text(first)
    assert 'id="confirm-action"' in desk.text(first)
    return first, desk.post(path, {**data, "confirmed": "1"})


def test_the_user_list_shows_every_account_and_no_hash(admin):
    admin.user("intake1", "intake")
    admin.user("apionly", "handler", password=None)
    page = admin.text(admin.get("/desk/admin/users"))
    assert 'id="user-intake1"' in page and 'id="user-apionly"' in page and 'id="user-admin1"' in page
    assert "无（仅 API）" in page                        # apionly has no desk password
    for login in ("intake1", "admin1"):
        row = _row(admin, login)
        for shown in (admin.text(admin.get("/desk/admin/users")), admin.text(admin.get(f"/desk/admin/user/{login}"))):
            assert row.token_hash not in shown and row.password_hash not in shown
            assert "$argon2" not in shown


def test_adding_a_user_confirms_first_then_shows_a_token_that_works_and_a_password_that_signs_in(admin):
    form = {"login": "window2", "role": "intake", "display_name": "李窗口", "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD}
    assert admin.get("/desk/admin/users/new").status_code == 200
    first = admin.post("/desk/admin/users/new", form)
    assert first.status_code == 200 and 'id="confirm-action"' in admin.text(first)
    assert "window2" in admin.text(first) and "受理登记员" in admin.text(first)
    assert _row(admin, "window2") is None                       # nothing made before the confirmation
    done = admin.post("/desk/admin/users/new", {**form, "confirmed": "1"})
    assert done.status_code == 200
    page = admin.text(done)
    assert "只显示这一次" in page and 'id="token-warning"' in page
    token = _token_on(page)
    row = _row(admin, "window2")
    assert row.role == "intake" and row.display_name == "李窗口" and row.password_hash
    assert token not in admin.text(admin.get("/desk/admin/user/window2"))     # shown once only
    assert _api(admin, token).status_code == 200
    newcomer = Desk(admin.node, admin.clock)
    assert newcomer.sign_in("window2", NEW_PASSWORD).status_code == 302
    assert newcomer.get("/desk/").status_code == 200


def test_an_account_for_the_api_only_has_no_desk_password(admin):
    _, done = _confirm_then_do(admin, "/desk/admin/users/new", {"login": "bridge", "role": "analyst"})
    assert done.status_code == 200
    assert _api(admin, _token_on(admin.text(done))).status_code == 200
    assert _row(admin, "bridge").password_hash is None


@pytest.mark.parametrize("form, field, message", [
    ({"login": "admin1", "role": "intake"}, "login", "已存在"),
    ({"login": "bad login!", "role": "intake"}, "login", "登录名只能含"),
    ({"login": "x1", "role": "emperor"}, "role", "未知角色"),
    ({"login": "x1", "role": "intake", "password": "short", "password_again": "short"}, "password", "至少 8"),
    ({"login": "x1", "role": "intake", "password": NEW_PASSWORD, "password_again": "something else"},
     "password_again", "两次输入的密码不一致"),
])
def test_a_bad_new_user_is_shown_beside_the_field_and_nothing_is_made(admin, form, field, message):
    from node.accounts import User
    with admin.node.activate():
        before = User.select().count()
    resp = admin.post("/desk/admin/users/new", {**form, "confirmed": "1"})
    assert resp.status_code in (409, 422)
    page = admin.text(resp)
    error = re.search(rf'id="e-{field}"[^>]*>([^<]+)<', page)
    assert error and message in error.group(1)
    assert 'value="short"' not in page and NEW_PASSWORD not in page      # a typed password is not echoed
    with admin.node.activate():
        assert User.select().count() == before


def _menu(desk) -> str:
    return re.search(r'<nav class="menu".*?</nav>', desk.text(desk.get("/desk/")), re.S).group(0)


def test_changing_a_role_confirms_then_applies_at_the_next_request(admin, other):
    admin.user("ana1", "analyst")
    other.sign_in("ana1")
    assert ">数据看板<" in _menu(other) and ">督办<" not in _menu(other)
    first, done = _confirm_then_do(admin, "/desk/admin/user/ana1/role", {"role": "supervisor"})
    assert "统计分析员" in admin.text(first) and "督办员" in admin.text(first)
    assert done.status_code == 302 and done.headers["Location"].endswith("?done=role")
    assert _row(admin, "ana1").role == "supervisor"
    assert "督办员" in admin.text(admin.get("/desk/admin/user/ana1?done=role"))
    assert ">督办<" in _menu(other) and ">数据看板<" not in _menu(other)     # same session, new role


def test_resetting_a_password_ends_that_users_session(admin, other):
    admin.user("handler1", "handler")
    other.sign_in("handler1")
    assert other.get("/desk/").status_code == 200
    form = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    first = admin.post("/desk/admin/user/handler1/password", form)
    assert "所有工作台会话立即结束" in admin.text(first) and 'id="confirm-action"' in admin.text(first)
    assert other.get("/desk/").status_code == 200                       # the confirmation changed nothing yet
    done = admin.post("/desk/admin/user/handler1/password", {**form, "confirmed": "1"})
    assert done.status_code == 302
    ended = other.get("/desk/")
    assert ended.status_code == 302 and "reason=ended" in ended.headers["Location"]
    assert other.sign_in("handler1", PASSWORD).status_code == 401
    assert other.sign_in("handler1", NEW_PASSWORD).status_code == 302
    assert admin.get("/desk/admin/users").status_code == 200            # the admin's own session goes on


def test_a_reset_password_lifts_a_lock(admin, other):
    admin.user("handler1", "handler")
    for _ in range(5):
        other.sign_in("handler1", "wrong password")
    assert _row(admin, "handler1").locked_until is not None
    assert 'id="locked-logins"' in admin.text(admin.get("/desk/admin"))
    _confirm_then_do(admin, "/desk/admin/user/handler1/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert other.sign_in("handler1", NEW_PASSWORD).status_code == 302


def test_an_admin_resetting_their_own_password_stays_signed_in(admin, other):
    other.sign_in("admin1")
    _, done = _confirm_then_do(admin, "/desk/admin/user/admin1/password",
                               {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302
    assert admin.get("/desk/admin/users").status_code == 200
    assert other.get("/desk/").status_code == 302                       # their other session ended


def test_disabling_refuses_the_token_and_ends_the_session_at_the_next_request(admin, other):
    token = admin.user("intake1", "intake")
    other.sign_in("intake1")
    stale = Desk(admin.node, admin.clock)
    stale.sign_in("intake1")
    assert other.get("/desk/").status_code == 200 and _api(admin, token).status_code == 200
    first, done = _confirm_then_do(admin, "/desk/admin/user/intake1/disable")
    assert "API 令牌被拒绝" in admin.text(first)
    assert done.status_code == 302
    assert _api(admin, token).status_code == 401
    assert other.get("/desk/").status_code == 302
    assert other.sign_in("intake1").status_code == 401
    assert "已停用" in admin.text(admin.get("/desk/admin/user/intake1"))
    # enabled again: the token works and the user signs in anew (the old session stays ended)
    _, again = _confirm_then_do(admin, "/desk/admin/user/intake1/enable")
    assert again.status_code == 302
    assert _api(admin, token).status_code == 200
    assert other.sign_in("intake1").status_code == 302
    assert stale.get("/desk/").status_code == 302           # a session from before the disabling stays ended


def test_an_admin_cannot_disable_or_demote_their_own_account(admin):
    page = admin.text(admin.get("/desk/admin/user/admin1"))
    assert 'id="act-disable"' not in page and 'id="no-self-disable"' in page
    for path, data in (("/desk/admin/user/admin1/disable", {}), ("/desk/admin/user/admin1/role", {"role": "analyst"})):
        for confirmed in ({}, {"confirmed": "1"}):
            resp = admin.post(path, {**data, **confirmed})
            assert resp.status_code == 409
            assert "不能" in admin.text(resp) and "自己" in admin.text(resp)
            assert 'id="confirm-action"' not in admin.text(resp)
    row = _row(admin, "admin1")
    assert row.role == "admin" and not row.disabled
    assert admin.get("/desk/admin").status_code == 200


def test_a_new_token_is_shown_once_and_the_old_one_stops(admin):
    old = admin.user("leader1", "leader")
    first = admin.post("/desk/admin/user/leader1/token")
    assert "立即失效" in admin.text(first) and 'id="confirm-action"' in admin.text(first)
    assert _api(admin, old).status_code == 200                          # not yet: only the confirmation
    done = admin.post("/desk/admin/user/leader1/token", {"confirmed": "1"})
    assert done.status_code == 200
    new = _token_on(admin.text(done))
    assert new != old
    assert _api(admin, old).status_code == 401 and _api(admin, new).status_code == 200


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(admin):
    token = admin.user("intake1", "intake")
    admin.get("/desk/admin/user/intake1")
    for path, data in (("/desk/admin/user/intake1/disable", {}), ("/desk/admin/user/intake1/role", {"role": "admin"}),
                       ("/desk/admin/user/intake1/token", {}),
                       ("/desk/admin/users/new", {"login": "sneaky", "role": "admin"})):
        resp = admin.post(path, {**data, "confirmed": "1"}, csrf=False)
        assert resp.status_code == 400 and "表单已过期" in admin.text(resp)
        forged = admin.post(path, {**data, "confirmed": "1", "csrf_token": "forged"}, csrf=False)
        assert forged.status_code == 400
    row = _row(admin, "intake1")
    assert row.role == "intake" and not row.disabled
    assert _api(admin, token).status_code == 200
    assert _row(admin, "sneaky") is None


def test_a_display_name_is_shown_as_text(admin):
    _confirm_then_do(admin, "/desk/admin/users/new",
                     {"login": "evil", "role": "intake", "display_name": "<script>alert(1)</script>"})
    for path in ("/desk/admin/users", "/desk/admin/user/evil"):
        page = admin.text(admin.get(path))
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_user_is_a_404_page(admin):
    assert admin.get("/desk/admin/user/nobody").status_code == 404
    assert admin.post("/desk/admin/user/nobody/disable", {"confirmed": "1"}).status_code == 404


def test_the_user_pages_in_english(admin):
    page = admin.text(admin.get("/desk/admin/users?lang=en"))
    assert '<html lang="en">' in page and "Add a user" in page
    page = admin.text(admin.get("/desk/admin/user/admin1"))
    assert "You cannot disable your own account" in page
