"""A desk user agent over the Flask test client: signs in through the form, keeps the cookie,
reads the CSRF token from each page the way a browser submits it."""
from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

PASSWORD = "correct horse 12315"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Desk:
    def __init__(self, node: Any, clock: Any):
        from node.app import create_app
        self.node = node
        self.clock = clock
        self.app = create_app(node)
        self.client = self.app.test_client()
        self._csrf = ""

    # -- accounts, made the way an operator makes them -----------------------------------------
    def user(self, login: str, role: str, password: str | None = PASSWORD) -> str:
        from node.accounts import add_user, set_password
        with self.node.activate():
            token = add_user(login, role, self.node.now())
            if password is not None:
                set_password(login, password)
        return token

    # -- a browser's moves ------------------------------------------------------------------
    def get(self, path: str, **kw: Any):
        resp = self.client.get(path, **kw)
        self._remember(resp)
        return resp

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any):
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self._csrf)
        resp = self.client.post(path, data=form, **kw)
        self._remember(resp)
        return resp

    def _remember(self, resp) -> None:
        if resp.mimetype == "text/html":
            found = _CSRF.search(resp.get_data(as_text=True))
            if found:
                self._csrf = unescape(found.group(1))

    def sign_in(self, login: str, password: str = PASSWORD):
        self.get("/desk/login")
        return self.post("/desk/login", {"login": login, "password": password, "next": "/desk/"})

    def text(self, resp) -> str:
        return resp.get_data(as_text=True)


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)
