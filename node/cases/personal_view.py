"""Who reads a case's personal data in full, and the deliberate, recorded read of it by anyone
else (issue 13 item 3 "masking by role" and the ``pii.read`` part of item 4; docs/privacy-access.md).

The matrix, decided here and written down in docs/privacy-access.md:

* **in full** — the people the complainant's data is for: the case's *handler* (a user with a
  case-handling role, ``handler`` or ``admin``, at the node that handles the case, i.e. the case
  is held here as ``handler``; for a report against staff that role is ``discipline``), and
  ``intake`` at the node that accepted or handles the case (it registered the person and
  makes the follow-up call);
* **masked** (``李**``, ``139****0000``, the division of an address) — everyone else who may
  read the case: ``supervisor``, ``leader``, ``analyst``, ``discipline`` on ordinary cases,
  and every role on a copy this node keeps on the route or for supervision;
* **open with a reason** — any role that may read the case can ask for the full data with a
  written reason (``reveal``); each such read is one ``pii.read`` entry of the node's audit log
  naming user, case and reason. A copy that holds only masked data has nothing to open (409).

Reports against staff are visible to ``discipline`` only (R2.3) before any of this applies
(``common.visible``). Plain functions: the API, the desk, the CLI and the export all call them.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from node.audit import record
from node.cases.common import DISCIPLINE
from node.errors import NodeError
from node.privacy import mask_person, mask_text
from node.runtime import Node

HANDLING_ROLES = ("handler", "admin")     # the case-handling roles of CONTRACT §4 (ACT_ROLES) but discipline
REASON_MIN = 4        # "回访核实" is a reason; "x" or "看看" is not
REASON_MAX = 500
# free-text fields of the case (and of its history) where a phone or ID number may have been typed
TEXT_KEYS = ("description", "demand")


def sees_in_full(node: Node, case: Mapping[str, Any], actor: Any) -> bool:
    """Whether ``actor`` reads ``case`` (as ``to_api`` shows it) unmasked at ``node`` without asking."""
    role = getattr(actor, "role", None)
    handled_here = (case.get("held_as") or "handler") == "handler" and case.get("handling_node") == node.code
    if case.get("department") == DISCIPLINE:
        return role == DISCIPLINE and handled_here
    if role in HANDLING_ROLES:
        return handled_here
    if role == "intake":
        return handled_here or case.get("accepting_node") == node.code
    return False


def masked(case: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the case with the complainant masked (``complainant.masked: true``) and phone or
    ID numbers in its free text starred."""
    out = dict(case)
    if out.get("complainant"):
        out["complainant"] = mask_person(out["complainant"])
    for key in TEXT_KEYS:
        if out.get(key):
            out[key] = mask_text(out[key])
    for key in ("history", "superseded_history"):
        if out.get(key):
            out[key] = [dict(e, note=mask_text(e["note"])) if e.get("note") else e for e in out[key]]
    return out


def present(node: Node, case: Mapping[str, Any], actor: Any) -> dict[str, Any]:
    """The case as ``actor`` may read it without asking: in full or masked (the matrix above)."""
    return dict(case) if sees_in_full(node, case, actor) else masked(case)


def present_all(node: Node, items: list[Mapping[str, Any]], actor: Any) -> list[dict[str, Any]]:
    return [present(node, item, actor) for item in items]


def check_reason(payload: Any) -> str:
    """The written reason of a deliberate read: 400 naming ``reason`` when absent or too short."""
    value = payload.get("reason") if isinstance(payload, Mapping) else None
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise NodeError(400, "required", "查看完整个人信息须填写理由（reason）/ a reason is required to read the "
                                         "personal data in full", "reason")
    if len(text) < REASON_MIN or len(text) > REASON_MAX:
        raise NodeError(400, "invalid", f"理由（reason）须为 {REASON_MIN}–{REASON_MAX} 个字 / the reason must be "
                                        f"{REASON_MIN}-{REASON_MAX} characters", "reason")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in text):
        raise NodeError(400, "invalid", "理由（reason）含控制字符 / the reason holds control characters", "reason")
    return text


def reveal(node: Node, case: Mapping[str, Any], actor: Any, payload: Any, *, via: str) -> dict[str, Any]:
    """The case in full for a deliberate read with a reason (``payload["reason"]``), recorded as
    one ``pii.read`` audit entry naming user, case and reason. ``case`` is the full case the
    actor may see (``get_case``); nothing is recorded when the reason is refused or when this
    node holds only masked data (409 ``not_held``)."""
    reason = check_reason(payload)
    if (case.get("complainant") or {}).get("masked"):
        raise NodeError(409, "not_held", "本节点只持有脱敏副本，完整信息在承办单位 / this node holds a masked copy "
                                         f"only: the full data is at the handling unit {case.get('handling_node')}",
                        None)
    record(node, getattr(actor, "login", "system"), "pii.read", case["id"],
           {"reason": reason, "role": getattr(actor, "role", ""), "via": via})
    return copy.deepcopy(dict(case))
