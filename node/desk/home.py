"""我的工作台 — what this user must do now at this node (issue 11 item 2).

Each tile is a count that links to the filtered list behind it: cases waiting for an
acceptance decision, cases due within two working days, overdue cases, cases a person must
look at (proposals and urges from other nodes, returned or held cases), and directives
waiting for this node's acknowledgement. Counts are read with the same domain functions and
filters as the lists they link to, so a tile and its list never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.cases import count_cases
from node.directives import awaiting_acknowledgement
from node.web.i18n import N_


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    count: int
    href: str
    tone: str = ""


def _query(filters: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in filters.items())


def tiles(node: Any, user: Any) -> list[Tile]:
    here = {"handling_node": node.code, "held_as": "handler"}
    waiting = {**here, "status": "registered"}
    due = {**here, "due_within_days": "2"}
    overdue = {**here, "overdue": "true"}
    attention = {"attention": "true"}
    out = [
        Tile("waiting", N_("Waiting for an acceptance decision"), count_cases(node, waiting, user),
             "/desk/cases?" + _query(waiting)),
        Tile("due-soon", N_("Due within 2 working days"), count_cases(node, due, user),
             "/desk/cases?" + _query(due), "warn"),
        Tile("overdue", N_("Overdue"), count_cases(node, overdue, user), "/desk/cases?" + _query(overdue), "bad"),
        Tile("attention", N_("Proposals, urges and cases held for a person"), count_cases(node, attention, user),
             "/desk/cases?" + _query(attention), "warn"),
    ]
    if node.config.level != "hq":
        out.append(Tile("directives", N_("Directives waiting for this node's acknowledgement"),
                        len(awaiting_acknowledgement(node)), "/desk/directives?pending=1", "bad"))
    return out
