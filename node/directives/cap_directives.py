"""A directive's CAP 1.2 messages, from what this node holds (R3.1; CONTRACT §6).

``cap.py`` renders plain dicts as XML; this module finds the dicts: the stored signed
messages of a directive (a Cancel completed with the content it cancels), its target areas
named for people, and an acknowledgement as this node knows it from the progress roll-up.

* ``cap_xml(node, id, version=None)`` — the latest message (Alert, Update or Cancel) or one version
* ``cap_ack_xml(node, id, code)`` — ``code``'s 签收 as a CAP ``Ack``
* ``cap_areas(node, targets, issuer, issuer_name)`` — CAP ``area`` blocks of the target specs
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.directives import cap
from node.directives.common import category_name
from node.directives.models import Directive
from node.directives.progress import progress_view
from node.directives.store import messages
from node.directives.targets import area_name, target_root
from node.errors import not_found
from node.runtime import Node


def cap_areas(node: Node, targets: Sequence[str], issuer: str, issuer_name: str = "") -> list[dict[str, Any]]:
    """CAP ``area`` blocks: one per target spec, with the region code as ``geocode``."""
    areas = []
    for spec in targets:
        if spec == "*":
            areas.append({"desc": f"{issuer_name or area_name(node, issuer)}辖区全部下级单位 / every bureau below "
                                   f"{issuer}", "codes": [issuer]})
            continue
        root = target_root(spec)
        assert root is not None
        name = area_name(node, root)
        areas.append({"desc": f"{name}（含下级）" if spec.endswith("/*") else name, "codes": [root]})
    return areas


def _message_contents(directive_id: str) -> list[dict[str, Any]]:
    """The body of every message, a Cancel completed with the content it cancels."""
    out: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for doc in messages(directive_id):
        body = dict(doc["body"])
        if body.get("msg_type") == "Cancel":
            body = {**last, **body}
        else:
            last = body
        out.append(body)
    return out


def cap_xml(node: Node, directive_id: str, version: int | None = None) -> bytes:
    """The directive as a CAP 1.2 alert: its latest message (Alert, Update or Cancel) or the
    message of ``version``; Update and Cancel reference the earlier messages."""
    if Directive.by_id(directive_id) is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    contents = _message_contents(directive_id)
    if version is None:
        chosen = contents[-1]
    else:
        matching = [c for c in contents if int(c["version"]) == version]
        if not matching:
            raise not_found(f"指令 {directive_id} 没有第 {version} 版 / no version {version} of {directive_id}")
        chosen = matching[0]
    history = [{"version": c["version"], "sent_at": c["sent_at"]} for c in contents]
    chosen = {**chosen, "category_name": category_name(str(chosen.get("category")))}
    return cap.directive_alert(chosen, history,
                               cap_areas(node, chosen["targets"], str(chosen["issuer"]),
                                         str(chosen.get("issuer_name", ""))))


def cap_ack_xml(node: Node, directive_id: str, code: str) -> bytes:
    """A CAP ``Ack`` for ``code``'s acknowledgement, where this node knows of it (the
    acknowledging node itself, and every node above it up to the issuer)."""
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    entry = progress_view(node, row)["nodes"].get(code)
    if entry is None or entry["status"] != "acknowledged" or not entry.get("acknowledged_at"):
        raise not_found(f"本节点不知道 {code} 对 {directive_id} 的签收 / no acknowledgement by {code} known here")
    contents = _message_contents(directive_id)
    history = [{"version": c["version"], "sent_at": c["sent_at"]} for c in contents]
    return cap.ack_alert(contents[0], code, entry.get("name") or code, entry["acknowledged_at"],
                         entry.get("acknowledged_by"), entry.get("note"), history)
