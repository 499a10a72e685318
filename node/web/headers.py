"""Security headers on every response (issue 13 item 8 "security headers on every response").

* ``X-Content-Type-Options: nosniff`` everywhere: a JSON reply holding a submitted text is never
  run as a script or shown as HTML by a browser that guesses types.
* ``Cache-Control: no-store`` on every reply to a request that carried a bearer token — staff
  data must not stay in a browser or proxy cache (desk and portal pages get it from
  ``page_headers``).
* ``Content-Security-Policy: default-src 'none'`` on everything that is not a page (JSON, Atom,
  CAP XML): if a browser does render one, it loads and runs nothing. Pages (``/desk/``,
  ``/public/``) get their own policy, ``Referrer-Policy`` and ``no-store`` from
  ``node.web.pages.page_headers``; a policy already set is left alone.
"""
from __future__ import annotations

from flask import Flask, Response, request

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def apply(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.authorization is not None or request.headers.get("Authorization"):
        response.headers["Cache-Control"] = "no-store"
    if response.mimetype != "text/html":
        response.headers.setdefault("Content-Security-Policy", API_POLICY)
    return response


def register(app: Flask) -> None:
    app.after_request(apply)
