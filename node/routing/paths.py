"""The tree paths a case document travels (R1.5, R2.6; docs/routing.md "Documents").

Pure functions over the division table: which nodes a document passes between two nodes,
and the fewest destinations that reach every holder of a copy. They rely on the invariant
that a node's code lies inside its parent's region (MISSION), so the path through the tree
can be read off the codes without asking the network.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def on_path(x: str, a: str, b: str, divisions: Any) -> bool:
    """``x`` lies on the tree path from ``a`` to ``b`` (``b`` included, ``a`` excluded).

    Relies on the invariant that a node's code lies inside its parent's region (MISSION):
    a node containing exactly one of the two is strictly between them, and a node
    containing both is on the path only when it is their lowest common ancestor."""
    if x == b:
        return True
    if x == a:
        return False
    ia, ib = divisions.is_within(a, x), divisions.is_within(b, x)
    if ia != ib:
        return True
    if ia and ib:
        return bool(x == divisions.lowest_common_ancestor(a, b))
    return False


def cover(me: str, targets: Iterable[str], divisions: Any) -> list[str]:
    """The fewest destinations whose paths from ``me`` pass every target (a document applied
    by every node it passes reaches all of them); order kept."""
    ts = [t for t in dict.fromkeys(targets) if t and t != me]
    return [t for t in ts if not any(u != t and on_path(t, me, u, divisions) for u in ts)]


def path_nodes(a: str, b: str, divisions: Any) -> list[str]:
    """Region codes on the path from ``a`` to ``b`` by the division table (``b`` included):
    up to the lowest common ancestor, down again."""
    lca = divisions.lowest_common_ancestor(a, b)
    up = [c for c in divisions.chain(a)[1:] if divisions.is_within(c, lca)]
    down = [c for c in divisions.chain(b) if c != lca and divisions.is_within(c, lca)]
    return [c for c in up if c != lca] + ([lca] if lca not in (a, b) else []) + list(reversed(down))
