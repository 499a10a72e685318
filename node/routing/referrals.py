"""The directory of competent bodies outside market regulation (R2.5; docs/routing.md §1):
what ``refer`` takes as ``body``, with the hotline and what the consumer is told.

The bodies come from this node's ``bodies.toml``; the case lifecycle asks ``resolve`` when a
case is referred, so the outcome it records names a body the directory knows.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.routing import rules, tables
from node.runtime import Node


def resolve(node: Node, code: str) -> Mapping[str, Any] | None:
    """The body ``code`` as the case records it, or None when the directory has no such body."""
    b = rules.body(code, tables.for_node(node))
    return b.to_dict() if b else None


def referral_bodies(node: Node, category: str | None = None) -> list[dict[str, Any]]:
    """The directory; for a ``category``, the bodies suggested for it, best match first."""
    t = tables.for_node(node)
    if category:
        return [b.to_dict() for b in rules.suggest_bodies(category, t)]
    return [b.to_dict() for b in t.bodies.values()]
