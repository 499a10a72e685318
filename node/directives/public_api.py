"""Public consumer information and CAP renderings (R4.4, R6.4; R3.1; CONTRACT §6).

No token needed for what the public may read:

* ``GET /public/v1/warnings`` — JSON feed of this node's published warnings and tips (its own
  and those of every bureau above it); ``?kind=warning|tip|typical_case|hotspot|notice``
* ``GET /public/v1/warnings.atom`` — the same as an Atom 1.0 feed (RFC 4287)
* ``GET /public/v1/warnings/<id>`` — one warning (a withdrawn one says so)
* ``GET /public/v1/warnings.html`` — moved: a redirect to the portal's ``/public/warnings`` (issue 12)
* ``GET /cap/v1/warnings/<id>.xml`` — a warning as CAP 1.2 (Public scope; withdrawn → Cancel)

Staff only (bearer token), because directives are internal orders (CAP scope Restricted):

* ``GET /cap/v1/directives/<id>.xml`` — the directive's latest message as CAP 1.2 (Alert,
  Update or Cancel); ``/cap/v1/directives/<id>/v<n>.xml`` one version;
  ``/cap/v1/directives/<id>/acks/<code>.xml`` a node's acknowledgement as CAP ``Ack``.
* ``POST /api/v1/warnings`` (leader, admin) → 201; ``GET /api/v1/warnings`` (withdrawn too);
  ``POST /api/v1/warnings/<id>/withdraw`` ``{"reason"}`` at the publishing node.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Blueprint, Response, jsonify, redirect, request

from node.directives import cap, cap_directives
from node.directives import warnings as warnings_svc
from node.directives.common import show
from node.web.auth import current_node, current_user
from node.web.body import json_body
from node.web.paging import parse_limit

bp = Blueprint("public", __name__)

ATOM_NS = "http://www.w3.org/2005/Atom"


def _limit() -> int:
    return parse_limit(request.args.get("limit"))


def _xml(body: bytes, mime: str) -> Response:
    return Response(body, mimetype=mime, content_type=f"{mime}; charset=utf-8")


# -- public feed ------------------------------------------------------------------------------
@bp.get("/public/v1/warnings")
def warnings_json():
    node = current_node()
    items = warnings_svc.public_feed(node, request.args.get("kind") or None, _limit())
    return jsonify({"node": {"code": node.code, "name": node.config.name, "level": node.level},
                    "as_of": show(node.now()), "items": items})


@bp.get("/public/v1/warnings/<warning_id>")
def warning_json(warning_id: str):
    return jsonify(warnings_svc.get_public(current_node(), warning_id))


@bp.get("/public/v1/warnings.atom")
def warnings_atom():
    node = current_node()
    items = warnings_svc.public_feed(node, request.args.get("kind") or None, _limit())
    # the node's configured address, never the request's Host header (a forged Host would put
    # another site's links into every subscriber's feed)
    base = node.config.url.rstrip("/")
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: cap.xml_safe(v) for k, v in attrs.items()})
        if text is not None:
            el.text = cap.xml_safe(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    sub(feed, "id", f"urn:n12315:{node.code}:warnings")
    sub(feed, "title", f"{node.config.name} 消费警示与消费提示")
    sub(feed, "updated", items[0]["published_at"] if items else show(node.now()))
    sub(feed, "link", rel="self", href=f"{base}/public/v1/warnings.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/public/", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", node.config.name)
    for w in items:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:n12315:warning:{w['id']}")
        sub(entry, "title", f"【{w['kind_name']}】{w['title']}")
        sub(entry, "updated", w["published_at"])
        sub(entry, "published", w["published_at"])
        a = sub(entry, "author")
        sub(a, "name", w["issuer_name"] or w["issuer"])
        sub(entry, "category", term=w["kind"], label=w["kind_name"])
        sub(entry, "link", rel="alternate", href=f"{base}/public/v1/warnings/{w['id']}", type="application/json")
        sub(entry, "link", rel="related", href=f"{base}{w['cap_url']}", type=cap.MIME_TYPE)
        sub(entry, "content", w["body"], type="text")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return _xml(body, "application/atom+xml")


@bp.get("/public/v1/warnings.html")
def warnings_page():
    """The first public page (before the portal, issue 12): now the portal's warnings page."""
    return redirect("/public/warnings", code=301)


@bp.get("/cap/v1/warnings/<warning_id>.xml")
def warning_cap(warning_id: str):
    return _xml(warnings_svc.cap_xml(current_node(), warning_id), cap.MIME_TYPE)


# -- CAP of directives (staff) ------------------------------------------------------------------
@bp.get("/cap/v1/directives/<directive_id>.xml")
def directive_cap(directive_id: str):
    current_user()
    return _xml(cap_directives.cap_xml(current_node(), directive_id), cap.MIME_TYPE)


@bp.get("/cap/v1/directives/<directive_id>/v<int:version>.xml")
def directive_cap_version(directive_id: str, version: int):
    current_user()
    return _xml(cap_directives.cap_xml(current_node(), directive_id, version), cap.MIME_TYPE)


@bp.get("/cap/v1/directives/<directive_id>/acks/<code>.xml")
def directive_cap_ack(directive_id: str, code: str):
    current_user()
    return _xml(cap_directives.cap_ack_xml(current_node(), directive_id, code), cap.MIME_TYPE)


# -- staff: publishing and withdrawing ----------------------------------------------------------
@bp.post("/api/v1/warnings")
def publish():
    user = current_user(*warnings_svc.PUBLISH_ROLES)
    return jsonify(warnings_svc.publish(current_node(), json_body(), user)), 201


@bp.get("/api/v1/warnings")
def list_all():
    user = current_user()
    return jsonify(warnings_svc.list_all(current_node(), user))


@bp.post("/api/v1/warnings/<warning_id>/withdraw")
def withdraw(warning_id: str):
    user = current_user(*warnings_svc.PUBLISH_ROLES)
    body = json_body() if request.get_data(cache=True) else {}
    return jsonify(warnings_svc.withdraw(current_node(), warning_id, body, user))
