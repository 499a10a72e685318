"""A ``requests`` transport adapter that hands requests to a Flask app in this process.

STYLE.md "Tests": production code talks through a ``requests.Session``; tests mount this
adapter for a node's base URL so the request reaches that node's ``app.test_client()``
unchanged (method, full URL with host, headers, body bytes), and the answer comes back as
a ``requests.Response``. RFC 9421 signatures cover ``@target-uri``, so the URL the app
sees is exactly the URL that was signed.

    session = requests.Session()
    FlaskAdapter(parent_app, "http://440000.test").mount(session)
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class FlaskAdapter(BaseAdapter):
    """Routes requests under ``base_url`` to ``app``; ``calls`` counts what was sent."""

    def __init__(self, app: Any, base_url: str) -> None:
        super().__init__()
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.client = app.test_client()
        self.calls: list[tuple[str, str]] = []

    def mount(self, session: requests.Session) -> requests.Session:
        # requests picks the longest matching prefix, so "http://a.test/" never catches
        # "http://a.test.other/".
        session.mount(self.base_url + "/", self)
        return session

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = request.url or ""
        if not url.startswith(self.base_url + "/") and url != self.base_url:
            raise requests.ConnectionError(f"no app mounted for {url}")
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        self.calls.append((request.method or "GET", url))
        res = self.client.open(path, method=request.method, headers=headers, data=body or b"",
                               base_url=f"{parts.scheme}://{parts.netloc}")
        response = requests.Response()
        response.status_code = res.status_code
        response.reason = res.status.partition(" ")[2]
        response._content = res.get_data()
        response.headers = CaseInsensitiveDict(dict(res.headers))
        response.encoding = res.charset if hasattr(res, "charset") else "utf-8"
        response.url = url
        response.request = request
        return response

    def close(self) -> None:
        pass
