"""Urging and taking over from the supervision board (督办, 提级办理; issue 11 item 6; R2.6;
docs/routing.md §3, §4, §8).

Two steps, as every desk action: ``plan_action`` says what will happen to each case before
anything is done — which handling unit receives the urge, whether it is recorded here (this
node handles the case) or travels there as a proposal (this node holds a copy), that a take
over moves the case to this node — and ``perform_action`` does it through the one path the
API takes, ``node.cases.act``: at a node holding a copy, ``urge`` and ``take_over`` become
proposals to the handler (``node.routing.proposals``). Each case is its own action; one that
fails (no longer visible, closed meanwhile, not a superior) is reported and the others go on.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from node.cases import CASE_ID_RE, TRANSITIONS, act, get_case, optional_text
from node.errors import NodeError
from node.routing.supervision_view import TAKE_OVER_ROLES, in_subtree, unit_names
from node.runtime import Node

ACTIONS = ("urge", "take_over")
MAX_CASES = 200          # cases one bulk action may name


@dataclass(frozen=True)
class Planned:
    """One case of a confirmation page."""
    case_id: str
    summary: str
    handling_node: str
    handling_unit: str
    here: bool                 # this node handles it: recorded here; else a proposal to the handler
    error: str = ""            # why it cannot be done ("中文 / English"); empty when it can


@dataclass
class Outcome:
    """What ``perform_action`` did: the cases done (with the unit that receives each) and the
    ones refused (with the reason, "中文 / English")."""
    action: str
    done: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def case_ids(values: Iterable[Any]) -> list[str]:
    """The case ids a form named (each once, in order); 422 on a malformed one or too many."""
    out: list[str] = []
    for value in values:
        cid = str(value).strip()
        if not cid:
            continue
        if CASE_ID_RE.match(cid) is None:
            raise NodeError(422, "invalid", f"案件编号无效：{cid[:40]} / not a case id: {cid[:40]}", "case")
        if cid not in out:
            out.append(cid)
    if not out:
        raise NodeError(422, "required", "请至少选择一件案件 / choose at least one case", "case")
    if len(out) > MAX_CASES:
        raise NodeError(422, "too_many", f"一次最多 {MAX_CASES} 件，已选 {len(out)} 件 / at most {MAX_CASES} cases at "
                                         f"once ({len(out)} chosen)", "case")
    return out


def check_text(action: str, text: Any) -> str:
    """The note of an urge or the reason of a take over, checked as the action checks it."""
    name = "note" if action == "urge" else "reason"
    return optional_text({name: text}, name)


def _check_role(action: str, actor: Any) -> None:
    if action == "take_over" and getattr(actor, "role", None) not in TAKE_OVER_ROLES:
        raise NodeError(403, "forbidden", "提级办理由领导、督办人员或管理员提出 / taking a case over is for "
                                          "leaders, supervisors and administrators")


def plan_action(node: Node, action: str, ids: list[str], actor: Any) -> list[Planned]:
    """What ``action`` would do to each case, for the confirmation page (nothing written)."""
    _check_role(action, actor)
    cases = []
    for cid in ids:
        try:
            case = get_case(node, cid, actor)
        except NodeError as exc:
            cases.append((cid, None, exc.message))
            continue
        cases.append((cid, case, _refusal(node, action, case)))
    names = unit_names(node, sorted({c["handling_node"] for _cid, c, _e in cases if c}))
    return [Planned(cid, c["summary"], c["handling_node"], names[c["handling_node"]],
                    (c.get("held_as") or "handler") == "handler", error)
            if c else Planned(cid, "", "", "", False, error)
            for cid, c, error in cases]


def _refusal(node: Node, action: str, case: dict[str, Any]) -> str:
    """Why the action cannot be asked for this case, seen from here ("" when it can)."""
    here = (case.get("held_as") or "handler") == "handler"
    status, kind = case["status"], case["kind"]
    if action == "urge":
        if status not in TRANSITIONS["urge"].get(kind, {}) and not (not here and status == "transferred"):
            return (f"案件状态为 {status}，无需督办 / the case is {status}: there is nothing left to urge")
        return ""
    if here:
        return "本节点即为承办单位，无需提级办理 / this node handles the case already"
    if not in_subtree(node, case["handling_node"]) or case["handling_node"] == node.code:
        return (f"承办单位 {case['handling_node']} 不在本节点辖区内，不能提级办理 / the handling unit "
                f"{case['handling_node']} is not below this node")
    if status not in TRANSITIONS["take_over"].get(kind, {}) and status != "transferred":
        return f"案件状态为 {status}，不能提级办理 / a case that is {status} cannot be taken over"
    return ""


def perform_action(node: Node, action: str, ids: list[str], text: str, actor: Any) -> Outcome:
    """Urge (with ``text`` as the note) or take over (``text`` as the reason) each case
    through ``node.cases.act``; a copy's action travels to the handler as a proposal."""
    if action not in ACTIONS:
        raise NodeError(422, "invalid", f"未知操作 {action[:20]} / unknown action {action[:20]}", "action")
    _check_role(action, actor)
    text = check_text(action, text)
    outcome = Outcome(action)
    for cid in ids:
        payload: dict[str, Any] = {"action": action}
        if text:
            payload["note" if action == "urge" else "reason"] = text
        try:
            result = act(node, cid, payload, actor)
        except NodeError as exc:
            outcome.failed.append((cid, exc.message))
            continue
        proposal = result.get("proposal")
        outcome.done.append((cid, proposal["to"] if proposal else node.code))
    return outcome
