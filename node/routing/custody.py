"""Who handles a case and who holds a copy, read off the case row (R1.5, R2.3; docs/routing.md
§3, §5, §7).

Ownership: only the node whose row says ``held_as = "handler"`` changes a case (the case
domain refuses every other action with 403 naming the handler), and custody leaves a node
in the same transaction as the transfer document that carries it, so at any moment at most
one node is the handler and a case never forks.

The row carries its custody trail (the ``route`` column: one entry per holder, in order)
and the list of nodes holding a copy (``holders``); this module reads both, names units for
notes and notices, and says what the unit accused by a report against its staff may see.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.cases import Actor
from node.divisions import load_divisions
from node.routing import rules, tables
from node.routing.documents import from_json, to_json
from node.runtime import Node

# the actor of what routing does by itself (automatic distribution, receipt, reminders)
SYSTEM = Actor("system", "admin")


def unit_name(code: str) -> str:
    """The bureau (or station) a node code stands for, as notes and notices name it."""
    div = load_divisions()
    full = div.full_name(code) if div.is_current(code) else None
    if code == "000000":
        return "国家市场监督管理总局"
    if full:
        return f"{full}市场监督管理局"
    if div.level_of(code) == "station":
        county = div.full_name(code[:6]) or code[:6]
        return f"{county}市场监管所（{code}）"
    return code


def holders(row: Mapping[str, Any]) -> list[str]:
    return list(from_json(row.get("holders"), []))


def custody_trail(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(e) for e in from_json(row.get("route"), [])]


def returned_by(row: Mapping[str, Any]) -> list[str]:
    """The units that sent the case back as not theirs (routing skips them next time)."""
    return [e["node"] for e in custody_trail(row) if e.get("returned")]


def accused(node: Node, row: Mapping[str, Any]) -> str | None:
    """For a report against staff, the unit whose staff are accused (R2.3); else None."""
    if row.get("kind") != "report" or row.get("report_target") != "staff":
        return None
    return rules.decide(rules.CaseFacts.from_row(row), row["accepting_node"], load_divisions(),
                        tables.for_node(node)).accused


def redact(row: dict[str, Any]) -> dict[str, Any]:
    """What the unit accused by a report against its staff may hold (R2.3): that there is
    one, where it is handled — not what it says, nor who reported it."""
    resp = from_json(row.get("respondent"), {}) or {}
    return {**row, "summary": "针对执法人员的举报（内容保密，由上级纪检监察机构办理）/ report against staff "
                             "(confidential; handled by the discipline unit above)",
            "description": "", "complainant": to_json({"anonymous": True}),
            "respondent": to_json({"name": "（保密 / confidential）", "region_code": resp.get("region_code")}),
            "respondent_name": "", "respondent_uscc": None, "amount": None, "extensions": "{}"}
