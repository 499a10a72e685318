"""This node's subtree as the emergency-command desk shows it (issue 11 item 7; R3.1).

No Flask. The issuer does not know every node below it (docs/directives.md "Targets"): it
knows its child links, the node records it holds (its children's, signed at join), and the
nodes that earlier directives' progress snapshots named below it. ``known_subtree`` nests
those by the division table, so a leader picks targets on a tree; ``receivers`` says, for a
set of target specs, which known nodes will receive the directive as a target, whether
nodes unknown here will too (a ``CODE/*`` or ``*`` spec), and where no link leads.
``progress_rows`` lays a progress view out as that tree (indented by level).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from federation.models import NodeRecord
from node.directives.common import child_links, divisions, is_within
from node.directives.models import DirectiveProgress
from node.directives.targets import area_name, is_target, leads_into, target_root
from node.runtime import Node

LEVEL_RANK = {"hq": 0, "province": 1, "prefecture": 2, "county": 3, "station": 4}
#: how many recent progress snapshots are read for node names below the children
SNAPSHOTS_READ = 30
#: at most this many known nodes are offered as checkboxes (a subtree box covers the rest)
TREE_LIMIT = 2000
#: at most this many per-node rows on the live progress view (counts are always exact)
PROGRESS_ROWS = 300


@dataclass
class TreeNode:
    code: str
    name: str
    level: str
    linked: bool                       # a direct child link of this node
    children: list[TreeNode] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.children)


def known_nodes(node: Node) -> dict[str, dict[str, Any]]:
    """Every node strictly below this one that this node knows: ``code → {name, level, linked}``."""
    me = node.code
    known: dict[str, dict[str, Any]] = {}

    def add(code: str, name: str, level: str, linked: bool = False) -> None:
        if not isinstance(code, str) or code == me or not is_within(code, me):
            return
        entry = known.get(code)
        if entry is None:
            if len(known) >= TREE_LIMIT:     # the child links come first and are never left out
                return
            entry = known[code] = {"name": "", "level": "", "linked": False}
        entry["name"] = entry["name"] or name or ""
        entry["level"] = entry["level"] or level or divisions().level_of(code) or ""
        entry["linked"] = entry["linked"] or linked

    for link in child_links():
        add(link.code, link.name or "", link.level or "", linked=True)
    for rec in NodeRecord.select(NodeRecord.code, NodeRecord.body).where(NodeRecord.code != me):
        try:
            body = json.loads(rec.body)
        except ValueError:
            continue
        add(rec.code, str(body.get("name") or ""), str(body.get("level") or ""))
    snaps = (DirectiveProgress.select(DirectiveProgress.payload)
             .where(DirectiveProgress.node != me)
             .order_by(DirectiveProgress.updated_at.desc())
             .limit(SNAPSHOTS_READ))
    for snap in snaps:
        try:
            nodes = json.loads(snap.payload).get("nodes") or {}
        except (ValueError, AttributeError):
            continue
        for code, entry in nodes.items():
            if isinstance(entry, Mapping):
                add(code, str(entry.get("name") or ""), str(entry.get("level") or ""))
    for code, entry in known.items():
        if not entry["name"]:
            entry["name"] = area_name(node, code)
    return known


def known_subtree(node: Node, known: Mapping[str, Mapping[str, Any]] | None = None) -> list[TreeNode]:
    """The known nodes nested under their nearest known ancestor (by the division table)."""
    known = known_nodes(node) if known is None else known
    table = divisions()
    made = {code: TreeNode(code, str(e["name"]), str(e["level"]), bool(e["linked"])) for code, e in known.items()}
    roots: list[TreeNode] = []
    for code in sorted(made):
        try:
            ancestors = table.ancestors(code)
        except KeyError:
            ancestors = []
        parent = next((a for a in ancestors if a in made), None)
        (made[parent].children if parent else roots).append(made[code])
    return roots


def receivers(node: Node, specs: Sequence[str],
              known: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Who will receive a directive with these (normalised) target specs, as far as this node
    knows: the known target nodes, whether nodes unknown here may receive it too, and the
    named codes no child link leads to."""
    known = known_nodes(node) if known is None else known
    me = node.code
    found: dict[str, dict[str, Any]] = {}
    for code, entry in known.items():
        if is_target(specs, code, me, is_within):
            found[code] = {"code": code, "name": entry["name"], "level": entry["level"]}
    for spec in specs:
        root = target_root(spec)
        if root is not None and root not in found and is_target(specs, root, me, is_within):
            found[root] = {"code": root, "name": area_name(node, root),
                           "level": divisions().level_of(root) or ""}
    links = [link.code for link in child_links()]
    no_route = [spec for spec in specs if not any(leads_into([spec], c, is_within) for c in links)]
    return {"nodes": [found[c] for c in sorted(found)], "count": len(found),
            "open": any(s == "*" or s.endswith("/*") for s in specs), "no_route": no_route}


def target_labels(node: Node, specs: Sequence[str]) -> list[dict[str, Any]]:
    """A directive's target specs for people: ``{"spec", "code", "name", "subtree"}``."""
    out = []
    for spec in specs:
        root = target_root(spec)
        out.append({"spec": spec, "code": root, "name": area_name(node, root) if root else "",
                    "subtree": spec == "*" or spec.endswith("/*")})
    return out


def progress_rows(progress: Mapping[str, Any], here: Node,
                  limit: int = PROGRESS_ROWS) -> tuple[list[dict[str, Any]], int]:
    """Per-node rows of a progress view in tree order (codes sort parent first), each with
    ``depth`` below this node; beyond ``limit`` the acknowledged ones are left out first.
    Returns the rows and how many were left out."""
    nodes: Mapping[str, Mapping[str, Any]] = progress.get("nodes") or {}
    codes = sorted(nodes)
    if len(codes) > limit:
        keep = sorted(codes, key=lambda c: (nodes[c].get("status") == "acknowledged", c))[:limit]
        codes = sorted(keep)
    base = LEVEL_RANK.get(here.level, 0)
    rows = []
    for code in codes:
        entry = nodes[code]
        depth = max(0, LEVEL_RANK.get(str(entry.get("level") or ""), base + 1) - base - 1)
        rows.append({"code": code, "depth": min(depth, 4), **entry})
    return rows, len(nodes) - len(codes)
