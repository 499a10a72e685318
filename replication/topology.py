"""Where a document goes next in the tree (R1.5 "up to the lowest common ancestor and down
again"; RELIABILITY rule 16): pure lookups over this node's links."""
from __future__ import annotations

from federation.models import Link
from replication.engine import Replicator


def next_hop(rep: Replicator, dest: str) -> str | None:
    """The linked node a document for ``dest`` goes to next, or None when it has arrived
    (``dest`` is this node) or no link leads there (the caller keeps and flags it)."""
    if dest == rep.code:
        return None
    # one plain query: this runs for every document at every hop
    rows = rep.db.execute_sql(  # type: ignore[no-untyped-call]
        "SELECT code, role FROM link WHERE state = 'active'").fetchall()
    # the deepest child whose subtree holds dest (a county under a province directly, or
    # a prefecture, whichever this node is linked to)
    best = None
    parent = None
    for code, role in rows:
        if role == "parent":
            parent = code
        elif role == "child" and rep.is_within(dest, code) and (best is None or rep.is_within(code, best)):
            best = code
    if best is not None:
        return str(best)
    if rep.is_within(dest, rep.code):
        return None  # inside my subtree but no linked child covers it
    return str(parent) if parent else None


def parent_code() -> str | None:
    parent = Link.get_or_none((Link.role == "parent") & (Link.state != "revoked"))
    return parent.code if parent else None


def child_codes() -> list[str]:
    return [row.code for row in Link.select(Link.code).where((Link.role == "child") & (Link.state != "revoked"))]
