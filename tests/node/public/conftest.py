"""A consumer's browser over the Flask test client: keeps the anonymous session cookie and
reads the CSRF token from each page, as a phone browser submits it."""
from __future__ import annotations

import dataclasses
import re
from html import unescape
from typing import Any

import pytest

from node.public import limits

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Consumer:
    def __init__(self, node: Any, address: str = "203.0.113.7"):
        from node.app import create_app
        self.node = node
        self.app = create_app(node)
        self.client = self.app.test_client()
        self.address = address
        self._csrf = ""

    def get(self, path: str, **kw: Any):
        resp = self.client.get(path, environ_base={"REMOTE_ADDR": self.address}, **kw)
        self._remember(resp)
        return resp

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any):
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self._csrf)
        resp = self.client.post(path, data=form, environ_base={"REMOTE_ADDR": self.address}, **kw)
        self._remember(resp)
        return resp

    def _remember(self, resp) -> None:
        if resp.mimetype == "text/html":
            found = _CSRF.search(resp.get_data(as_text=True))
            if found:
                self._csrf = unescape(found.group(1))

    @staticmethod
    def text(resp) -> str:
        return resp.get_data(as_text=True)


def configure(node: Any, **public: Any) -> None:
    """Change the node's [public] settings for a test (the config is frozen: replace it)."""
    node.config = dataclasses.replace(node.config, public=dataclasses.replace(node.config.public, **public))


@pytest.fixture
def county(tmp_path, make_node):
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    limits.reset(node)
    yield node
    limits.reset(node)


def complaint_form(**over: Any) -> dict[str, Any]:
    form = {"kind": "complaint", "complainant.name": "张三", "complainant.phone": "13800138000",
            "complainant.address": "广东省深圳市南山区科技园路 1 号", "respondent.name": "华为技术有限公司",
            "respondent.uscc": "914403001922038216", "respondent.region_code": "440305", "category": "G0303",
            "summary": "手机屏幕三天后失灵", "description": "购买后第三天屏幕无法触控。", "demand": "退货退款",
            "occurred_on": "2026-09-20", "amount": "2999", "consent": "1"}
    form.update(over)
    return {k: v for k, v in form.items() if v is not None}
