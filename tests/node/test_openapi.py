"""``GET /api/v1/openapi.json`` describes every endpoint the app serves, and nothing else.

Whoever adds a route describes it in its domain's ``describe(doc)`` (``node.app.describers``);
this test names the missing one. The desk's HTML pages (``/desk/``) and the portal's
(``/public/`` outside ``/public/v1/``) are for people, not for integrators, and are not part
of the API description.
"""
from __future__ import annotations

from node.web.openapi import rule_to_path

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PAGE_PREFIXES = ("/desk/", "/public/")


def served(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or (rule.rule.startswith(PAGE_PREFIXES) and not rule.rule.startswith("/public/v1/")):
            continue
        for method in rule.methods - IGNORED_METHODS:
            out.add((rule_to_path(rule.rule), method.lower()))
    return out


def test_every_route_is_described(app_client):
    spec = app_client.get("/api/v1/openapi.json", role=None)
    assert spec.status_code == 200
    doc = spec.get_json()
    assert doc["openapi"].startswith("3.1")
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    missing = sorted(served(app_client.app) - described)
    assert not missing, f"routes no describer describes: {missing}"
    stale = sorted(described - served(app_client.app))
    assert not stale, f"described routes the app does not serve: {stale}"


def test_refs_resolve_and_operations_have_responses(app_client):
    doc = app_client.get("/api/v1/openapi.json", role=None).get_json()
    schemas = doc["components"]["schemas"]

    def walk(value):
        if isinstance(value, dict):
            ref = value.get("$ref")
            if ref is not None:
                assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (path, method)
            assert op.get("responses"), (path, method)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


def test_rule_to_path():
    assert rule_to_path("/api/v1/cases/<case_id>/actions") == "/api/v1/cases/{case_id}/actions"
    assert rule_to_path("/x/<int:n>/<path:rest>") == "/x/{n}/{rest}"
