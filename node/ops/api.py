"""``GET /metrics``: the node's figures in the Prometheus text format (issue 14 "Seen from
outside"; docs/metrics.md). The collection is ``node.ops.metrics``; this handler only checks
who asks and writes the registry out.

Access: a client in ``metrics.allow`` (default: this machine only) scrapes without a token;
anyone else needs a bearer token of role ``admin`` or ``monitor`` — a scraper gets a
``monitor`` token, which opens nothing else. No personal data is in any label.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from node.ops import metrics
from node.web import openapi as oa
from node.web.auth import current_user

bp = Blueprint("metrics", __name__)
EXTENSION = "n12315.metrics"
SCRAPE_ROLES = ("admin", "monitor")


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    node = state.app.config["NODE"]
    # read at start so a malformed metrics.allow stops the node naming the key
    state.app.extensions[EXTENSION] = (metrics.registry_for(node), metrics.allowed_networks(node.config))


@bp.get("/metrics")
def scrape():
    registry, networks = current_app.extensions[EXTENSION]
    if not metrics.may_scrape_without_token(request.remote_addr, networks):
        current_user(*SCRAPE_ROLES)
    # format 0.0.4: what every Prometheus 2.x and 3.x scrapes (the client's newer default is 1.0.0)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4,
                    headers={"Cache-Control": "no-store"})


PATHS: dict[str, dict[str, Any]] = {
    "/metrics": {
        "get": {"summary": "Prometheus 指标（文本格式）/ figures in the Prometheus text format: backlog, lag, "
                           "quarantine, jobs, calendar (no token from metrics.allow; else role admin or monitor)",
                "security": [{}, {"bearer": []}],
                "responses": {"200": {"description": "Prometheus text exposition format 0.0.4",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              **oa.errors(401, 403)}},
    },
}


def describe(doc: dict[str, Any]) -> None:
    doc["paths"].update(PATHS)
