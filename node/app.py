"""The Flask application factory — the only way to make a node's web app (STYLE.md).

``create_app(node)`` registers the blueprints (one per noun) and binds the node's database
around every request with ``node.activate()``, so several nodes can share a process.
"""
from __future__ import annotations

import json
import logging

from flask import Flask, request

from node import db as dbmod
from node.errors import NodeError
from node.runtime import Node
from node.web import errors

log = logging.getLogger(__name__)


def create_app(node: Node) -> Flask:
    app = Flask(f"n12315-{node.code}")
    app.config["NODE"] = node
    app.config["MAX_CONTENT_LENGTH"] = node.config.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)

    from node.web import health
    app.register_blueprint(health.bp)
    for name in ("cases", "meta", "federation", "links", "directives", "stats", "public", "routing"):
        try:
            module = __import__(f"node.web.{name}", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name != f"node.web.{name}":
                raise
            continue
        app.register_blueprint(module.bp)

    @app.before_request
    def _limits():
        # staff API bodies stop at 1 MiB (CONTRACT §5); replication batches may be larger
        if request.path.startswith("/federation/"):
            request.max_content_length = node.config.replication.max_batch_bytes + 256 * 1024

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
        return response

    @app.teardown_request
    def _unbind(exc):
        ctx = request.environ.pop("n12315.bind", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)

    return app


def json_body(max_depth: int = 8) -> dict:
    """Parse the request body as a JSON object or raise 400 naming the problem."""
    raw = request.get_data(cache=True)
    if not raw:
        raise NodeError(400, "malformed", "请求体为空，需要 JSON 对象 / empty body; a JSON object is required")
    try:
        data = json.loads(raw, parse_float=_keep_float_marker)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NodeError(400, "malformed", f"JSON 格式错误：{exc} / malformed JSON") from None
    if not isinstance(data, dict):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    return data


class FloatMarker(float):
    """A JSON number with a fraction, kept recognisable so money checks can refuse it."""


def _keep_float_marker(s: str) -> FloatMarker:
    return FloatMarker(s)
