"""The Flask application factory — the only way to make a node's web app (STYLE.md).

``create_app(node)`` registers the blueprints (one per noun) and binds the node's database
around every request with ``node.activate()``, so several nodes can share a process.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Flask, request
from flask_wtf.csrf import CSRFProtect

from node import db as dbmod
from node import domains
from node.runtime import Node
from node.web import errors, headers, i18n, pages, session

log = logging.getLogger(__name__)


PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(node: Node) -> Flask:
    app = Flask(f"n12315-{node.code}", root_path=str(PACKAGE_DIR), static_folder="static",
                template_folder="templates")
    app.config["NODE"] = node
    app.config["MAX_CONTENT_LENGTH"] = node.config.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)
    headers.register(app)

    domains.install()
    _pages(app, node)
    for bp in blueprints():
        app.register_blueprint(bp)
    app.config["OPENAPI_DESCRIBERS"] = describers()

    federation_limit = node.config.replication.max_batch_bytes + 256 * 1024
    # What the HTTP server may read at most (``serve`` gives it to waitress, which would
    # otherwise buffer up to 1 GiB before the app's own check answers 413).
    # Evidence uploads (desk and portal) may be as large as one attachment plus the form.
    upload_limit = node.config.evidence.max_bytes + 1024 * 1024
    app.config["MAX_REQUEST_BYTES"] = max(node.config.max_body_bytes, federation_limit, upload_limit)

    @app.before_request
    def _limits():
        # staff API bodies stop at 1 MiB (CONTRACT §5); replication batches may be larger
        if request.path.startswith("/federation/"):
            request.max_content_length = federation_limit

    @app.before_request
    def _bind():
        if app.config.get("BIND_THREADS_FOR_GOOD"):
            if dbmod.all_models()[0]._meta.database is not node.db:
                node.bind_thread()
            return
        ctx = node.activate()
        ctx.__enter__()
        request.environ["n12315.bind"] = ctx

    @app.after_request
    def _kick(response):
        # a write may have queued documents for a peer: push them now (serve only)
        kick = node.extras.get("kick")
        if kick is not None and request.method == "POST" and response.status_code < 400:
            kick()
        # messages queued by this request (a status change told, a one-time code): send now
        wake = node.extras.get("wake")
        if wake is not None and node.extras.pop("notify_pending", False):
            wake("notify.flush")
        return response

    @app.teardown_request
    def _unbind(exc):
        ctx = request.environ.pop("n12315.bind", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)

    return app


def _pages(app: Flask, node: Node) -> None:
    """The desk's shell: signed sessions, catalogues, CSRF on every desk form, page headers."""
    session.configure(app, node.config.home_path, https=node.config.url.startswith("https://"))
    i18n.configure(app)
    # CSRF is checked for desk forms only: the JSON API authenticates with bearer tokens and the
    # federation with HTTP signatures, neither of which a browser sends by itself.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None   # the session's own idle timeout bounds it
    csrf = CSRFProtect(app)

    @app.before_request
    def _desk_forms():
        if request.method == "POST" and request.path.startswith(PAGE_PREFIXES):
            csrf.protect()

    @app.after_request
    def _page_headers(response):
        if request.path.startswith(PAGE_PREFIXES):
            pages.page_headers(response)
        elif request.path.startswith("/static/"):
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


PAGE_PREFIXES = ("/desk/", "/public/")


def describers() -> list[Callable[[dict], None]]:
    """Each domain's part of the OpenAPI document, in the order they build on each other."""
    from node.cases import openapi as cases_doc
    from node.directives import openapi as directives_doc
    from node.evidence import openapi as evidence_doc
    from node.network import openapi as network_doc
    from node.open311 import openapi as open311_doc
    from node.ops import api as ops_api
    from node.public import openapi as public_doc
    from node.publicity import openapi as publicity_doc
    from node.routing import api as routing_api
    from node.stats import api as stats_api
    return [cases_doc.describe, network_doc.describe, directives_doc.describe, stats_api.describe,
            routing_api.describe, evidence_doc.describe, publicity_doc.describe,
            public_doc.describe, open311_doc.describe, ops_api.describe]


def blueprints() -> list[Blueprint]:
    """Every blueprint, one per domain API (and, later, per domain's pages)."""
    from node import desk
    from node.accounts import pages as accounts_pages
    from node.cases import api as cases_api
    from node.cases import pages as cases_pages
    from node.cases.case_page import bp as case_page_bp
    from node.directives import api as directives_api
    from node.directives import pages as directives_pages
    from node.directives import public_api as directives_public
    from node.evidence import api as evidence_api
    from node.evidence import pages as evidence_pages
    from node.network import api as network_api
    from node.network import federation_api, links_api
    from node.network import pages as network_pages
    from node.open311 import api as open311_api
    from node.ops import api as ops_api
    from node.public import pages as public_pages
    from node.publicity import api as publicity_api
    from node.routing import api as routing_api
    from node.routing import pages as routing_pages
    from node.stats import api as stats_api
    from node.stats import pages as stats_pages
    from node.web import health, meta
    return [health.bp, cases_api.bp, cases_api.reference, meta.bp, network_api.bp, federation_api.bp, links_api.bp, directives_api.bp,
            stats_api.bp, directives_public.bp, routing_api.bp, desk.bp, cases_pages.bp, routing_pages.bp,
            directives_pages.bp, stats_pages.bp, network_pages.bp, case_page_bp, accounts_pages.bp, evidence_api.bp, evidence_pages.bp,
            public_pages.bp, publicity_api.bp, open311_api.bp, ops_api.bp]
