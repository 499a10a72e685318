"""Which nodes a directive is for, and the one forwarding rule (R3.1, R3.4; CONTRACT §6).

Pure functions over the division tree, shared by the issuer (checking the targets), every
relay (forwarding only into subtrees that hold a target) and the progress roll-up (which
codes a parent expects below a child before the child reports). ``docs/directives.md``
"Targets" describes the specs: ``"*"``, ``"CODE"`` and ``"CODE/*"``.

``area_name`` names a node for people (progress entries, CAP areas): the link's name where
this node has one, else the division table's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from federation.models import Link
from node.directives.common import divisions, is_within
from node.errors import invalid, shown
from node.runtime import Node

MAX_TARGETS = 500

IsWithin = Callable[[str, str], bool]

def normalise_targets(raw: Any, issuer: str, within: IsWithin | None = None) -> list[str]:
    """Check and normalise target specs (see docs/directives.md "Targets").

    ``"*"`` — every node below the issuer (the default); ``"CODE"`` — that node only;
    ``"CODE/*"`` — that node and its whole subtree. Every code must lie strictly below the
    issuer: a directive never goes upward or sideways.
    """
    within = within or is_within
    table = divisions()
    if raw is None:
        return ["*"]
    if not isinstance(raw, list) or not raw:
        raise invalid("targets", "targets 须为非空列表（省略表示全部下级）/ targets must be a non-empty list "
                                 "(omit it for every node below)")
    if len(raw) > MAX_TARGETS:
        raise invalid("targets", f"targets 不能超过 {MAX_TARGETS} 项 / at most {MAX_TARGETS} targets")
    out: list[str] = []
    for i, item in enumerate(raw):
        name = f"targets[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise invalid(name, f"{name} 须为节点代码 / {name} must be a node code")
        item = item.strip()
        if item == "*":
            spec = "*"
        else:
            subtree = item.endswith("/*")
            code = item[:-2] if subtree else item
            if table.level_of(code) is None:
                raise invalid(name, f"未知节点代码 {shown(code)} / unknown node code {shown(code)}")
            if code == issuer:
                if not subtree:
                    raise invalid(name, f"指令对象须为本节点的下级，不能是本节点 {issuer} / a target must lie below "
                                        f"the issuer, not the issuer itself")
                spec = "*"
            elif within(issuer, code):
                raise invalid(name, f"指令只能向下级下达，{code} 是本节点的上级 / directives travel only down: "
                                    f"{code} is above the issuer {issuer}")
            elif not within(code, issuer):
                raise invalid(name, f"{code} 不在本节点 {issuer} 辖区内，不能向平级或其他地区下达指令 / {code} is "
                                    f"outside the issuer's subtree (no sideways directives)")
            else:
                spec = f"{code}/*" if subtree else code
        if spec not in out:
            out.append(spec)
    return ["*"] if "*" in out else out


def target_root(spec: str) -> str | None:
    """The code a spec names (``"CODE"`` or ``"CODE/*"``); ``None`` for ``"*"``."""
    if spec == "*":
        return None
    return spec.removesuffix("/*")


def is_target(specs: Sequence[str], code: str, issuer: str, within: IsWithin) -> bool:
    """Is ``code`` itself one of the directive's targets?"""
    for spec in specs:
        if spec == "*":
            if code != issuer and within(code, issuer):
                return True
        elif spec.endswith("/*"):
            if within(code, spec[:-2]):
                return True
        elif code == spec:
            return True
    return False


def leads_into(specs: Sequence[str], child: str, within: IsWithin) -> bool:
    """Does the subtree of ``child`` (a node below the issuer) hold a target? The one
    forwarding rule: a directive is relayed only into such subtrees."""
    for spec in specs:
        if spec == "*":
            return True
        root = target_root(spec)
        assert root is not None
        if within(root, child):
            return True
        if spec.endswith("/*") and within(child, root):
            return True
    return False


def expected_codes(specs: Sequence[str], child: str, issuer: str, within: IsWithin) -> list[str]:
    """Targets a parent knows of in ``child``'s subtree before the child reports: the child
    itself if it is a target, and every explicitly named code inside it."""
    out = []
    if is_target(specs, child, issuer, within):
        out.append(child)
    for spec in specs:
        root = target_root(spec)
        if root is not None and root != child and within(root, child) and root not in out:
            out.append(root)
    return out


def area_name(node: Node, code: str) -> str:
    """A node's name for people; a station without a link is named after its county."""
    table = divisions()
    if code == node.code:
        return node.config.name
    link = Link.get_or_none(Link.code == code)
    if link is not None and link.name:
        return link.name
    if code == "000000":
        return "全国"
    name = table.full_name(code)
    if name:
        return name
    county = code[:6]
    return f"{table.full_name(county) or county} 市场监管所 {code}"

