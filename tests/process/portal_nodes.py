"""Real ``n12315 serve`` processes for the public portal's end-to-end tests (issue 12 "Tests";
CONTRACT §10), shared by tests/process/test_public_path.py and tests/browser/test_public_portal.py.

* ``start_nodes(base, tree, users, env)`` — ``admin_cli.demo.Federation`` over ``tree`` on free
  ports, every node initialised in parallel through the CLI (``n12315 init``, then ``n12315 user
  add LOGIN --role ROLE`` per user, login = role), served with ``env`` on top of the process
  environment (the ``N12315_NOTIFY__*`` / ``N12315_PUBLIC__*`` settings), and linked through
  ``link invite`` / ``link join``.
* ``PhoneBrowser`` — a ``requests.Session`` with a phone's user agent that reads the CSRF token
  from every page it gets and sends it back with each form, as a phone browser posts a form.
* ``receipt_of(html)``, ``status_of(html)``, ``codes_in(text)`` — what a person reads off a page
  or an SMS.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from typing import Any

import requests

from admin_cli.demo import Federation, cli_cmd, free_ports, last_line

PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CASE_ID = re.compile(r'id="case-id"[^>]*>([^<]+)<')
_QUERY_CODE = re.compile(r'id="query-code"[^>]*>([^<]+)<')
_STATUS = re.compile(r'id="case-status"[^>]*data-status="([^"]+)"[^>]*>([^<]*)<')
_SIX = re.compile(r"(?<!\d)\d{6}(?!\d)")


def _init(node: Any, roles: tuple[str, ...]) -> None:
    cli_cmd(node.home, "init", "--level", node.level, "--code", node.code, "--name", node.name,
            "--url", node.public_url)
    for role in roles:
        node.tokens[role] = last_line(cli_cmd(node.home, "user", "add", role, "--role", role).stdout)


def start_nodes(base: Path, tree: list[tuple[str, str, str, str | None]], users: dict[str, tuple[str, ...]],
                env: dict[str, str] | None = None) -> Federation:
    """Initialise, serve and link ``tree`` (each CLI call is a process start: in parallel)."""
    fed = Federation(base, 0, tree=tree, log=lambda s: None, env=env)
    for n, port in zip(fed.nodes.values(), free_ports(len(fed.nodes)), strict=True):
        n.port = port
    try:
        with ThreadPoolExecutor(len(fed.nodes)) as pool:
            for done in [pool.submit(_init, n, users.get(n.code, ("admin",))) for n in fed.nodes.values()]:
                done.result()
        fed.start_all()
        fed.link_all()
    except BaseException:
        fed.stop_all()
        raise
    return fed


class PhoneBrowser:
    """A consumer on a phone browser against one node's portal: keeps the anonymous session
    cookie and posts every form with the CSRF token of the last page it read."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": PHONE_UA, "Accept-Language": "zh-CN,zh;q=0.9"})
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> requests.Response:
        resp = self.http.get(self.base + path, timeout=30, **kw)
        self._remember(resp)
        return resp

    def post(self, path: str, data: dict[str, Any], **kw: Any) -> requests.Response:
        resp = self.http.post(self.base + path, data={"csrf_token": self.csrf, **data}, timeout=30, **kw)
        self._remember(resp)
        return resp

    def _remember(self, resp: requests.Response) -> None:
        if resp.headers.get("Content-Type", "").startswith("text/html"):
            found = _CSRF.search(resp.text)
            if found:
                self.csrf = unescape(found.group(1))


def receipt_of(html: str) -> tuple[str, str]:
    """The case number and query code shown on a receipt page."""
    case_id, code = _CASE_ID.search(html), _QUERY_CODE.search(html)
    assert case_id and code, f"no case-id / query-code on the receipt page: {html[:600]}"
    return unescape(case_id.group(1)).strip(), unescape(code.group(1)).strip()


def status_of(html: str) -> tuple[str, str]:
    """(status code, status as shown) from a progress page's ``id="case-status"``."""
    found = _STATUS.search(html)
    assert found, f"no case-status on the page: {html[:600]}"
    return found.group(1), unescape(found.group(2)).strip()


def codes_in(text: str) -> list[str]:
    """The six-digit runs of an SMS (a code message holds exactly one, CONTRACT §10)."""
    return _SIX.findall(text)


def without_csrf(html: str) -> str:
    """A page with its CSRF token's value blanked (the token is signed with the time)."""
    return _CSRF.sub('name="csrf_token" value=""', html)
