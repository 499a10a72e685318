"""Emergency plans (预案) as versioned data (R3.3).

A plan is a TOML file under ``configs/plans/``: the event type, the defaults a directive
issued from it takes (severity, deadlines, report counts), the duties of each level and the
steps. A plan id may have several versions; the one in force on a day is the newest whose
``effective_from`` has come, and a directive issued from a plan carries that version's
``attachment()`` inside its signed body, so every node sees the plan it was issued under.

* ``load_plans(directory=None)`` — every version by id (raises ``PlanError`` naming file and key)
* ``get_plan(node, id, version=None)`` / ``list_plans(node)`` — the node's cached copy
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from node.config import CONFIGS_DIR, LEVEL_NAMES_ZH
from node.directives.common import CATEGORIES, CERTAINTIES, COUNT_KEY_RE, CST, SEVERITIES, URGENCIES
from node.errors import NodeError, invalid
from node.runtime import Node

PLANS_DIR = CONFIGS_DIR / "plans"
_PLAN_KEYS = {"id", "version", "effective_from", "name", "name_en", "event_type", "event_type_en", "title",
              "summary", "category", "severity", "urgency", "certainty", "ack_within_minutes",
              "report_within_minutes", "report_counts", "basis", "authority", "duties", "steps"}
_STEP_KEYS = {"order", "title", "detail", "within_minutes", "levels"}


class PlanError(ValueError):
    """A plan file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Plan:
    id: str
    version: int
    effective_from: date
    name: str
    name_en: str
    event_type: str
    event_type_en: str
    title: str
    summary: str
    category: str
    severity: str
    urgency: str
    certainty: str
    ack_within_minutes: int
    report_within_minutes: int | None
    report_counts: tuple[str, ...]
    basis: tuple[str, ...]
    authority: str
    duties: dict[str, str] = field(default_factory=dict)
    steps: tuple[dict[str, Any], ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "effective_from": self.effective_from.isoformat(),
                "name": self.name, "name_en": self.name_en, "event_type": self.event_type,
                "event_type_en": self.event_type_en, "title": self.title, "summary": self.summary,
                "category": self.category, "severity": self.severity, "urgency": self.urgency,
                "certainty": self.certainty, "ack_within_minutes": self.ack_within_minutes,
                "report_within_minutes": self.report_within_minutes, "report_counts": list(self.report_counts),
                "basis": list(self.basis), "authority": self.authority, "duties": dict(self.duties),
                "steps": [dict(s) for s in self.steps]}

    def attachment(self) -> dict[str, Any]:
        """What a directive issued from this plan carries inside its signed body."""
        return {"id": self.id, "version": self.version, "name": self.name, "event_type": self.event_type,
                "steps": [dict(s) for s in self.steps], "duties": dict(self.duties),
                "report_counts": list(self.report_counts), "basis": list(self.basis)}


def _plan_from(data: Mapping[str, Any], source: str) -> Plan:
    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in data:
            raise PlanError(f"{source}: missing key {key}")
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise PlanError(f"{source}: key {key} has the wrong type")
        return value
    unknown = set(data) - _PLAN_KEYS
    if unknown:
        raise PlanError(f"{source}: unknown key {min(unknown)}")
    plan_id = need("id", str)
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", plan_id):
        raise PlanError(f"{source}: id must be lower-case letters, digits and _")
    version = need("version", int)
    effective = need("effective_from", date)
    for key, allowed in (("category", CATEGORIES), ("severity", SEVERITIES), ("urgency", URGENCIES),
                         ("certainty", CERTAINTIES)):
        if need(key, str) not in allowed:
            raise PlanError(f"{source}: {key} must be one of {', '.join(allowed)}")
    ack = need("ack_within_minutes", int)
    report = data.get("report_within_minutes")
    if report is not None and not isinstance(report, int):
        raise PlanError(f"{source}: report_within_minutes must be an integer")
    duties = need("duties", dict)
    for level, text in duties.items():
        if level not in LEVEL_NAMES_ZH or not isinstance(text, str):
            raise PlanError(f"{source}: duties.{level} must be a level name with a text")
    steps = []
    for i, step in enumerate(need("steps", list)):
        if not isinstance(step, dict) or set(step) - _STEP_KEYS or "title" not in step:
            raise PlanError(f"{source}: steps[{i}] must hold title and only {sorted(_STEP_KEYS)}")
        for level in step.get("levels", []):
            if level not in LEVEL_NAMES_ZH:
                raise PlanError(f"{source}: steps[{i}].levels has unknown level {level}")
        steps.append({k: step[k] for k in sorted(step)})
    counts = need("report_counts", list) if "report_counts" in data else []
    for key in counts:
        if not isinstance(key, str) or not COUNT_KEY_RE.match(key):
            raise PlanError(f"{source}: report_counts entry {key!r} is not a count key")
    return Plan(id=plan_id, version=version, effective_from=effective, name=need("name", str),
                name_en=str(data.get("name_en", "")), event_type=need("event_type", str),
                event_type_en=str(data.get("event_type_en", "")), title=need("title", str),
                summary=need("summary", str), category=data["category"], severity=data["severity"],
                urgency=data["urgency"], certainty=data["certainty"], ack_within_minutes=ack,
                report_within_minutes=report, report_counts=tuple(counts),
                basis=tuple(str(b) for b in data.get("basis", [])), authority=str(data.get("authority", "")),
                duties=dict(duties), steps=tuple(steps), source=source)


def load_plans(directory: Path | None = None) -> dict[str, list[Plan]]:
    """Every plan version under ``directory`` (default ``configs/plans``), by id, oldest first."""
    directory = directory or PLANS_DIR
    plans: dict[str, list[Plan]] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"{path.name}: {exc}") from None
        plan = _plan_from(data, path.name)
        versions = plans.setdefault(plan.id, [])
        if any(p.version == plan.version for p in versions):
            raise PlanError(f"{path.name}: plan {plan.id} version {plan.version} is defined twice")
        versions.append(plan)
    for versions in plans.values():
        versions.sort(key=lambda p: p.version)
    return plans


def _plans(node: Node) -> dict[str, list[Plan]]:
    plans = node.cache.get("plans")
    if plans is None:
        try:
            plans = load_plans()
        except PlanError as exc:
            raise NodeError(500, "plan_error", f"预案文件有误 / emergency plan file is invalid: {exc}") from None
        node.cache["plans"] = plans
    return plans


def get_plan(node: Node, plan_id: str, version: int | None = None, on: date | None = None,
             field_name: str = "plan") -> Plan:
    """A plan by id: the given version, else the newest one in force on ``on`` (today)."""
    versions = _plans(node).get(plan_id)
    if not versions:
        raise invalid(field_name, f"未知预案 {plan_id} / unknown emergency plan {plan_id}")
    if version is not None:
        for p in versions:
            if p.version == version:
                return p
        raise invalid("plan_version", f"预案 {plan_id} 没有版本 {version} / plan {plan_id} has no version {version}")
    on = on or node.now().astimezone(CST).date()
    in_force = [p for p in versions if p.effective_from <= on]
    if not in_force:
        raise invalid(field_name, f"预案 {plan_id} 尚未生效 / plan {plan_id} is not in force yet")
    return in_force[-1]


def list_plans(node: Node) -> list[dict[str, Any]]:
    today = node.now().astimezone(CST).date()
    out = []
    for _, versions in sorted(_plans(node).items()):
        current = [p for p in versions if p.effective_from <= today]
        chosen = current[-1] if current else versions[-1]
        doc = chosen.to_dict()
        doc["versions"] = [p.version for p in versions]
        doc["in_force"] = bool(current)
        out.append(doc)
    return out
