"""Emergency command and dispatch down the tree: directives, plans, acknowledgements, reports.

Serves R3.1 (online dispatch, tracking and supervision), R3.2 (food and consumer-safety
incidents), R3.3 (emergency plans 预案 as versioned data), R3.4 (urgent information to the
leadership; on their order the bureau where it happened is directed to act; progress is
tracked), CONTRACT §6 and RELIABILITY rules 12, 15-18 and F22. Design notes in
``docs/directives.md``.

Public API (no Flask; the web layer, jobs and the CLI call these inside ``node.activate()``):

* ``issue(node, payload, actor) -> dict`` — validate, sign, store, relay (roles leader/admin,
  level capability ``issues_directives``).
* ``update(node, id, payload, actor)`` / ``cancel(node, id, payload, actor)`` — at the
  issuer; CAP ``Update`` / ``Cancel`` messages that reference the original.
* ``acknowledge(node, id, payload, actor)`` — 签收 by a named person at a target node.
* ``add_report(node, id, payload, actor)`` — 处置反馈: text, counts, attachments' metadata.
* ``get(node, id, actor)`` / ``list_directives(node, filters, actor)`` — with ``progress``
  over this node's subtree (the whole target set at the issuer).
* ``directive_from_case(node, case_id, actor, overrides=None)`` — R3.4: an especially
  urgent case becomes, with one action, a directive to the bureau where it happened.
* ``load_plans()`` / ``list_plans(node)`` / ``get_plan(node, id, version=None)`` — 预案.
* ``flush_progress(node)`` and ``check_overdue(node)`` — the two jobs of ``serve``.

How documents travel (``docs/replication.md``): ``directive.issue``, ``.update`` and
``.cancel`` are signed once by the issuer, addressed to the issuer's own code (the subtree
they are for) and registered as *fan-out* kinds, so each node's replication verifies the
issuer's signature and the hop policy before the handler here runs; the handler stores the
directive and forwards the same signed document only into child subtrees that contain a
target. Nothing travels up but ``directive.progress`` (one hop: a node's subtree snapshot,
versioned, to the parent it got the directive from) and ``directive.report`` (a situation
report, relayed up to the issuer). Parents roll up their children's snapshots (rule 18), so
the issuer's view is exact however many duplicates or late arrivals there were.
"""
from __future__ import annotations

import json
import logging
import re
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from federation.models import Link
from federation.storage import write_tx
from node.config import CONFIGS_DIR, LEVEL_NAMES_ZH
from node.directives.models import (
    Directive,
    DirectiveMessage,
    DirectiveProgress,
    DirectiveRelay,
    DirectiveReminder,
    DirectiveReport,
)
from node.errors import NodeError, conflict, forbidden, invalid, not_found
from node.runtime import Node
from node.network.transport import handler, replicator
from replication import documents, outbox
from replication.engine import Delivery
from replication.models import SendCounter
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
CHANNEL = "directives"

SEVERITIES = {"extreme": "特别严重", "severe": "严重", "moderate": "较重", "minor": "一般"}
URGENCIES = {"immediate": "立即", "expected": "尽快", "future": "适时"}
CERTAINTIES = {"observed": "已证实", "likely": "很可能", "possible": "可能", "unlikely": "不太可能"}
CATEGORIES = {
    "food_safety": "食品安全",
    "product_safety": "产品质量安全",
    "consumer_safety": "消费安全",
    "infringement": "侵权假冒",
    "mass_complaint": "群体性投诉",
    "consumer_rights": "消费维权",
    "other": "其他",
}
STATUS_NAMES = {"active": "执行中", "cancelled": "已撤销"}
NODE_STATUS_NAMES = {"pending": "未送达", "delivered": "已送达", "acknowledged": "已签收",
                     "no_route": "无可达链路"}
REMINDER_LEVELS = {1: "提醒", 2: "催办", 3: "通报"}

ISSUE_ROLES = ("leader", "admin")
ACK_ROLES = ("leader", "admin", "supervisor", "handler", "intake")
READ_ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")

DEFAULT_ACK_WITHIN_MINUTES = 60
MAX_MINUTES = 30 * 24 * 60
TITLE_MAX = 200
BODY_MAX = 20_000
NOTE_MAX = 2_000
REPORT_TEXT_MAX = 20_000
MAX_TARGETS = 500
MAX_COUNT_KEYS = 50
MAX_ATTACHMENTS = 50
#: per-node entries carried in one progress snapshot; counts are always exact, and when a
#: subtree has more entries the unacknowledged ones are kept first (they make the overdue list)
DETAIL_LIMIT = 1000

_COUNT_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_GOODS_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")

IsWithin = Callable[[str, str], bool]


# -- small helpers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user of the API, or the operator at the CLI."""
    login: str
    role: str
    name: str = ""

    @property
    def display(self) -> str:
        return self.name or self.login


def as_actor(user: Any) -> Actor:
    if isinstance(user, Actor):
        return user
    return Actor(login=str(user.login), role=str(user.role), name=str(getattr(user, "display_name", "") or ""))


def _db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def show(value: Any) -> str | None:
    """+08:00, whole seconds (the same instant the CAP rendering shows)."""
    dt = _aware(value)
    return None if dt is None else dt.astimezone(CST).isoformat(timespec="seconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _require_role(actor: Actor, roles: Sequence[str]) -> None:
    if actor.role not in roles:
        raise forbidden(f"角色 {actor.role} 无权执行此操作（需要：{'/'.join(roles)}） / "
                        f"role {actor.role} may not do this (needs {'/'.join(roles)})")


def _divisions():
    from node.divisions import load_divisions
    return load_divisions()


def is_within(code: str, ancestor: str) -> bool:
    return bool(_divisions().is_within(code, ancestor))


def _json_object(payload: Any, allowed: Iterable[str], *, optional: bool = False) -> Mapping[str, Any]:
    """The request body as an object with only ``allowed`` fields (400/422 naming the field);
    ``optional``: an absent body counts as ``{}``."""
    if optional and payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    _unknown_fields(payload, allowed)
    return payload


def _unknown_fields(payload: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = set(allowed)
    for key in payload:
        if key not in allowed:
            name = f"{prefix}{key}"
            raise invalid(name, f"未知字段 {name} / unknown field {name}")


def _text(payload: Mapping[str, Any], name: str, *, required: bool, max_len: int,
          label: str = "") -> str | None:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise invalid(name, f"{label or name}为必填项 / {name} is required")
        return None
    if not isinstance(value, str):
        raise invalid(name, f"{label or name}须为文本 / {name} must be a string")
    value = value.strip()
    if len(value) > max_len:
        raise invalid(name, f"{label or name}不能超过 {max_len} 字 / {name} is longer than {max_len} characters")
    return value


def _enum(payload: Mapping[str, Any], name: str, allowed: Mapping[str, str], default: str | None) -> str:
    value = payload.get(name, default)
    if value is None:
        raise invalid(name, f"{name} 为必填项，可选：{', '.join(allowed)} / {name} is required")
    if not isinstance(value, str) or value not in allowed:
        raise invalid(name, f"{name} 取值无效 {value!r}，可选：{', '.join(allowed)} / invalid {name}")
    return value


def _minutes(payload: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = payload.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, f"{name} 须为整数分钟 / {name} must be a whole number of minutes")
    if not 1 <= value <= MAX_MINUTES:
        raise invalid(name, f"{name} 须在 1 到 {MAX_MINUTES} 分钟之间 / {name} must be 1..{MAX_MINUTES} minutes")
    return value


def _bool(payload: Mapping[str, Any], name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if not isinstance(value, bool):
        raise invalid(name, f"{name} 须为 true 或 false / {name} must be a boolean")
    return value


# -- targets: pure functions over the division tree --------------------------------------------
def normalise_targets(raw: Any, issuer: str, within: IsWithin | None = None) -> list[str]:
    """Check and normalise target specs (see docs/directives.md "Targets").

    ``"*"`` — every node below the issuer (the default); ``"CODE"`` — that node only;
    ``"CODE/*"`` — that node and its whole subtree. Every code must lie strictly below the
    issuer: a directive never goes upward or sideways.
    """
    within = within or is_within
    divisions = _divisions()
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
            if divisions.level_of(code) is None:
                raise invalid(name, f"未知节点代码 {code} / unknown node code {code}")
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


def _root(spec: str) -> str | None:
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
        root = _root(spec)
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
        root = _root(spec)
        if root is not None and root != child and within(root, child) and root not in out:
            out.append(root)
    return out


# -- plans (预案, R3.3) ---------------------------------------------------------------------------
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
        if not isinstance(key, str) or not _COUNT_KEY_RE.match(key):
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


# -- issuing -------------------------------------------------------------------------------------
ISSUE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "targets",
                "ack_within_minutes", "report_within_minutes", "plan", "plan_version", "exercise")
UPDATE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "ack_within_minutes",
                 "report_within_minutes", "note")


def _parse_issue(node: Node, payload: Any) -> dict[str, Any]:
    payload = _json_object(payload, ISSUE_FIELDS)
    plan: Plan | None = None
    if payload.get("plan") is not None:
        if not isinstance(payload["plan"], str):
            raise invalid("plan", "plan 须为预案编号 / plan must be a plan id")
        version = payload.get("plan_version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise invalid("plan_version", "plan_version 须为整数 / plan_version must be an integer")
        plan = get_plan(node, payload["plan"], version)
    elif payload.get("plan_version") is not None:
        raise invalid("plan_version", "plan_version 需与 plan 一起给出 / plan_version needs plan")
    d = plan.to_dict() if plan else {}
    fields = {
        "title": _text(payload, "title", required=plan is None, max_len=TITLE_MAX, label="标题") or d.get("title"),
        "body": _text(payload, "body", required=plan is None, max_len=BODY_MAX, label="正文") or d.get("summary"),
        "severity": _enum(payload, "severity", SEVERITIES, d.get("severity")),
        "urgency": _enum(payload, "urgency", URGENCIES, d.get("urgency", "immediate")),
        "certainty": _enum(payload, "certainty", CERTAINTIES, d.get("certainty", "observed")),
        "category": _category(node, payload, d.get("category", "other")),
        "targets": normalise_targets(payload.get("targets"), node.code),
        "ack_within_minutes": _minutes(payload, "ack_within_minutes",
                                       d.get("ack_within_minutes", DEFAULT_ACK_WITHIN_MINUTES)),
        "report_within_minutes": _minutes(payload, "report_within_minutes", d.get("report_within_minutes")),
        "exercise": _bool(payload, "exercise", False),
        "plan": plan.attachment() if plan else None,
    }
    return fields


def _category(node: Node, payload: Mapping[str, Any], default: str | None) -> str:
    """A directive category, or a goods/services code of the node's category table
    (``GET /api/v1/categories``, e.g. ``G0101`` 预包装食品) for a directive about one kind of goods."""
    value = payload.get("category", default)
    if isinstance(value, str) and value not in CATEGORIES and _GOODS_CODE_RE.match(value):
        from node.cases.categories import load_categories
        table = node.cache.get("categories") or load_categories()
        if table.is_known(value):
            return value
    return _enum(payload, "category", CATEGORIES, default)


def category_name(code: str) -> str:
    if code in CATEGORIES:
        return CATEGORIES[code]
    from node.cases.categories import load_categories
    return load_categories().name(code) or code


def _take_id(node: Node, now: datetime) -> str:
    """``<issuer>-D<YYYYMMDD>-<0001>``: a per-node, per-day counter, one upsert."""
    day = now.astimezone(CST).strftime("%Y%m%d")
    p = node.db.param
    cursor = node.db.execute_sql(
        'INSERT INTO "day_counter" ("scope", "day", "value") '
        f"VALUES ({p}, {p}, 1) "
        'ON CONFLICT ("scope", "day") DO UPDATE SET "value" = "day_counter"."value" + 1 '
        'RETURNING "value"', [f"directive:{node.code}", day])
    return f"{node.code}-D{day}-{int(cursor.fetchone()[0]):04d}"


def _content(row: Directive) -> dict[str, Any]:
    """The directive's signed content as of its current version (what Alert/Update carry)."""
    return {
        "directive_id": row.directive_id, "version": row.version, "issuer": row.issuer,
        "issuer_name": row.issuer_name, "issued_by": row.issued_by, "title": row.title, "body": row.body,
        "severity": row.severity, "urgency": row.urgency, "certainty": row.certainty, "category": row.category,
        "targets": json.loads(row.targets), "ack_within_minutes": row.ack_within_minutes,
        "report_within_minutes": row.report_within_minutes, "issued_at": show(row.issued_at),
        "ack_due_at": show(row.ack_due_at), "report_due_at": show(row.report_due_at),
        "plan": json.loads(row.plan) if row.plan else None, "case_id": row.case_id, "exercise": row.exercise,
    }


def _children() -> list[Link]:
    return list(Link.select()
                .where((Link.role == "child") & (Link.state != "revoked"))
                .order_by(Link.code))


def _relay_new(node: Node, row: Directive, doc: dict[str, Any], now: datetime,
               delivery: Delivery | None) -> list[str]:
    """Hand a new directive on to every child whose subtree holds a target."""
    specs = json.loads(row.targets)
    rep = replicator(node)
    sent = []
    for link in _children():
        if not leads_into(specs, link.code, is_within):
            continue
        if delivery is not None:
            delivery.forward(link.code)
        else:
            outbox.enqueue(rep, link.code, CHANNEL, doc, [node.code], now)
        DirectiveRelay.insert(directive_id=row.directive_id, child=link.code, child_level=link.level,
                              child_name=link.name or "", relayed_at=_db_time(now)).execute()
        sent.append(link.code)
    return sent


def _relay_again(node: Node, directive_id: str, doc: dict[str, Any], now: datetime,
                 delivery: Delivery | None) -> None:
    """Updates and cancels follow the original into the same child subtrees."""
    rep = replicator(node)
    for relay in DirectiveRelay.children_of(directive_id):
        if delivery is not None:
            delivery.forward(relay.child)
        else:
            outbox.enqueue(rep, relay.child, CHANNEL, doc, [node.code], now)


def _send_change(node: Node, row: Directive, msg_type: str, content: dict[str, Any], note: str,
                 now: datetime) -> None:
    """At the issuer, inside the caller's transaction: sign a CAP Update or Cancel, keep it
    with the directive's messages and send it after the original (rule 18)."""
    doc = documents.create(f"directive.{msg_type.lower()}", channel=CHANNEL, origin=node.code, dest=node.code,
                           body=content, keypair=node.keypair, now=now)
    row.save()
    DirectiveMessage.insert(directive_id=row.directive_id, version=row.version, msg_type=msg_type,
                            sent_at=_db_time(now), doc_id=doc["id"], doc=_dumps(doc), note=note).execute()
    _relay_again(node, row.directive_id, doc, now, None)


def issue(node: Node, payload: Any, actor: Any, *, case_id: str | None = None) -> dict[str, Any]:
    """Issue a directive down the tree; return it as ``get`` shows it (CONTRACT §6)."""
    actor = as_actor(actor)
    _require_role(actor, ISSUE_ROLES)
    if not node.config.capabilities.issues_directives:
        raise forbidden(f"本级节点（{LEVEL_NAMES_ZH.get(node.level, node.level)}）不能下达指令 / "
                        f"a {node.level} node does not issue directives", code="no_capability")
    fields = _parse_issue(node, payload)
    now = node.now()
    ack_due = now + timedelta(minutes=fields["ack_within_minutes"])
    report_due = (now + timedelta(minutes=fields["report_within_minutes"])
                  if fields["report_within_minutes"] else None)
    with write_tx(node.db):
        directive_id = _take_id(node, now)
        content = {
            "directive_id": directive_id, "version": 1, "msg_type": "Alert", "issuer": node.code,
            "issuer_name": node.config.name, "issued_by": actor.display, "title": fields["title"],
            "body": fields["body"], "severity": fields["severity"], "urgency": fields["urgency"],
            "certainty": fields["certainty"], "category": fields["category"], "targets": fields["targets"],
            "ack_within_minutes": fields["ack_within_minutes"],
            "report_within_minutes": fields["report_within_minutes"], "issued_at": show(now),
            "sent_at": show(now), "ack_due_at": show(ack_due), "report_due_at": show(report_due),
            "plan": fields["plan"], "case_id": case_id, "exercise": fields["exercise"],
        }
        doc = documents.create("directive.issue", channel=CHANNEL, origin=node.code, dest=node.code,
                               body=content, keypair=node.keypair, now=now)
        row = _store_new(node, content, doc, role="issuer", now=now, received_from=None)
        _relay_new(node, row, doc, now, None)
    log.info("directive %s issued by %s to %s", directive_id, node.code, fields["targets"])
    return get(node, directive_id, actor)


def _store_new(node: Node, content: Mapping[str, Any], doc: Mapping[str, Any], *, role: str, now: datetime,
               received_from: str | None) -> Directive:
    target = role == "target"
    row = Directive.create(
        directive_id=content["directive_id"], issuer=content["issuer"], issuer_name=content.get("issuer_name", ""),
        issued_by=content.get("issued_by", ""), role=role, is_target=target, title=content["title"],
        body=content["body"], severity=content["severity"], urgency=content["urgency"],
        certainty=content.get("certainty", "observed"), category=content["category"],
        targets=_dumps(content["targets"]), ack_within_minutes=content["ack_within_minutes"],
        report_within_minutes=content.get("report_within_minutes"),
        issued_at=_db_time(_aware(content["issued_at"])), ack_due_at=_db_time(_aware(content["ack_due_at"])),
        report_due_at=_db_time(_aware(content["report_due_at"])) if content.get("report_due_at") else None,
        plan=_dumps(content["plan"]) if content.get("plan") else None, case_id=content.get("case_id"),
        exercise=bool(content.get("exercise")), status="active", version=int(content["version"]),
        updated_at=_db_time(now), received_at=_db_time(now), received_from=received_from,
        delivered_at=_db_time(now) if target else None)
    DirectiveMessage.insert(directive_id=content["directive_id"], version=int(content["version"]),
                            msg_type="Alert", sent_at=_db_time(_aware(content["sent_at"])), doc_id=str(doc["id"]),
                            doc=_dumps(doc), note="").execute()
    return row


def _load_for_issuer(directive_id: str, actor: Actor) -> Directive:
    _require_role(actor, ISSUE_ROLES)
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    if row.role != "issuer":
        raise forbidden(f"只有下达机关 {row.issuer} 可以更新或撤销指令 / only the issuer {row.issuer} may update "
                        f"or cancel it", code="not_issuer")
    if row.status == "cancelled":
        raise conflict(f"指令 {directive_id} 已撤销，不能再更新或撤销 / directive {directive_id} is cancelled",
                       code="cancelled")
    return row


def update(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """A CAP ``Update``: changed fields, a new version, the same targets."""
    actor = as_actor(actor)
    if not isinstance(payload, Mapping):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    if "targets" in payload:
        raise invalid("targets", "更新不能改变指令对象，请撤销后重新下达 / an update cannot change the targets; "
                                 "cancel and issue again")
    _unknown_fields(payload, UPDATE_FIELDS)
    now = node.now()
    with write_tx(node.db):
        row = _load_for_issuer(directive_id, actor)
        changes: dict[str, Any] = {}
        for name, max_len in (("title", TITLE_MAX), ("body", BODY_MAX)):
            if name in payload:
                changes[name] = _text(payload, name, required=True, max_len=max_len)
        for name, allowed in (("severity", SEVERITIES), ("urgency", URGENCIES), ("certainty", CERTAINTIES)):
            if name in payload:
                changes[name] = _enum(payload, name, allowed, None)
        if "category" in payload:
            changes["category"] = _category(node, payload, None)
        if "ack_within_minutes" in payload:
            changes["ack_within_minutes"] = _minutes(payload, "ack_within_minutes", None)
            if changes["ack_within_minutes"] is None:
                raise invalid("ack_within_minutes", "ack_within_minutes 不能为空 / ack_within_minutes is required")
        if "report_within_minutes" in payload:
            changes["report_within_minutes"] = _minutes(payload, "report_within_minutes", None)
        note = _text(payload, "note", required=False, max_len=NOTE_MAX) or ""
        changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
        if not changes:
            raise invalid("body", "没有需要更新的内容 / nothing to update")
        for k, v in changes.items():
            setattr(row, k, v)
        issued_at = _aware(row.issued_at)
        row.ack_due_at = _db_time(issued_at + timedelta(minutes=row.ack_within_minutes))
        row.report_due_at = (_db_time(issued_at + timedelta(minutes=row.report_within_minutes))
                             if row.report_within_minutes else None)
        row.version += 1
        row.updated_at = _db_time(now)
        content = {**_content(row), "msg_type": "Update", "sent_at": show(now), "note": note,
                   "changed": sorted(changes)}
        _send_change(node, row, "Update", content, note, now)
    return get(node, directive_id, actor)


def cancel(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """A CAP ``Cancel``: the directive stops; acknowledgements and reports are refused after it."""
    actor = as_actor(actor)
    payload = _json_object(payload, ("reason",), optional=True)
    reason = _text(payload, "reason", required=False, max_len=NOTE_MAX) or ""
    now = node.now()
    with write_tx(node.db):
        row = _load_for_issuer(directive_id, actor)
        row.version += 1
        row.status = "cancelled"
        row.cancelled_at = _db_time(now)
        row.cancel_reason = reason
        row.updated_at = _db_time(now)
        content = {"directive_id": directive_id, "version": row.version, "msg_type": "Cancel",
                   "issuer": node.code, "sent_at": show(now), "reason": reason, "cancelled_by": actor.display}
        _send_change(node, row, "Cancel", content, reason, now)
    return get(node, directive_id, actor)


# -- acknowledgement and reports at a target ---------------------------------------------------
def _target_row(directive_id: str, node: Node, doing: str) -> Directive:
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    if not row.is_target:
        raise conflict(f"本节点 {node.code} 不是指令 {directive_id} 的下达对象，不能{doing} / this node is not a target "
                       f"of {directive_id}", code="not_target")
    if row.status == "cancelled":
        raise conflict(f"指令 {directive_id} 已撤销，不能再{doing} / directive {directive_id} is cancelled",
                       code="cancelled")
    return row


def _person(payload: Mapping[str, Any], actor: Actor) -> str:
    return _text(payload, "name", required=False, max_len=100, label="签收人") or actor.display


def _ack_row(node: Node, row: Directive, person: str, login: str, note: str, now: datetime) -> bool:
    """Set the acknowledgement once (a conditional update: two concurrent acks, one wins)."""
    n = (Directive.update(acknowledged_at=_db_time(now), acknowledged_by=person, acknowledged_login=login,
                          ack_note=note, delivered_at=row.delivered_at or _db_time(now))
         .where((Directive.directive_id == row.directive_id) & Directive.acknowledged_at.is_null())
         .execute())
    return bool(n)


def acknowledge(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """签收: a named person at a target node signs for the directive, once."""
    actor = as_actor(actor)
    _require_role(actor, ACK_ROLES)
    payload = _json_object(payload, ("note", "name"), optional=True)
    note = _text(payload, "note", required=False, max_len=NOTE_MAX) or ""
    person = _person(payload, actor)
    now = node.now()
    with write_tx(node.db):
        row = _target_row(directive_id, node, "签收")
        if row.acknowledged_at is not None or not _ack_row(node, row, person, actor.login, note, now):
            raise conflict(f"指令 {directive_id} 已由 {row.acknowledged_by} 签收，不能重复签收 / already acknowledged",
                           code="already_acknowledged")
        _progress_changed(node, directive_id, now)
    return get(node, directive_id, actor)


def _parse_counts(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("counts", "counts 须为 {名称: 非负整数} / counts must map names to whole numbers")
    if len(value) > MAX_COUNT_KEYS:
        raise invalid("counts", f"counts 最多 {MAX_COUNT_KEYS} 项 / at most {MAX_COUNT_KEYS} counts")
    out = {}
    for key, n in value.items():
        name = f"counts.{key}"
        if not isinstance(key, str) or not _COUNT_KEY_RE.match(key):
            raise invalid(name, f"{name}：名称须为小写字母开头的 a-z0-9_ / count names are lower-case a-z0-9_")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise invalid(name, f"{name} 须为非负整数（不接受小数）/ {name} must be a whole number ≥ 0")
        out[key] = n
    return out


def _parse_attachments(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("attachments", "attachments 须为列表 / attachments must be a list")
    if len(value) > MAX_ATTACHMENTS:
        raise invalid("attachments", f"附件最多 {MAX_ATTACHMENTS} 个 / at most {MAX_ATTACHMENTS} attachments")
    out = []
    for i, item in enumerate(value):
        prefix = f"attachments[{i}]"
        if not isinstance(item, Mapping):
            raise invalid(prefix, f"{prefix} 须为对象 / {prefix} must be an object")
        _unknown_fields(item, ("name", "size", "mime_type", "sha256", "uri"), prefix + ".")
        name = _text(item, "name", required=True, max_len=200, label=f"{prefix}.name")
        size = item.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise invalid(f"{prefix}.size", f"{prefix}.size 须为字节数 / size in bytes")
        sha = item.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA256_RE.match(sha)):
            raise invalid(f"{prefix}.sha256", f"{prefix}.sha256 须为 64 位十六进制 / 64 hex digits")
        entry: dict[str, Any] = {"name": name}
        if size is not None:
            entry["size"] = size
        if sha is not None:
            entry["sha256"] = sha
        for key in ("mime_type", "uri"):
            text = _text(item, key, required=False, max_len=500, label=f"{prefix}.{key}")
            if text:
                entry[key] = text
        out.append(entry)
    return out


def add_report(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """处置反馈: a situation report with text, counts and attachments' metadata.

    The first report also acknowledges the directive if nobody had yet (the reporter signs
    for it). The report travels up to the issuer; its counts roll up in the snapshots.
    """
    actor = as_actor(actor)
    _require_role(actor, ACK_ROLES)
    payload = _json_object(payload, ("text", "counts", "attachments", "name"))
    text = _text(payload, "text", required=True, max_len=REPORT_TEXT_MAX, label="反馈内容")
    counts = _parse_counts(payload.get("counts"))
    attachments = _parse_attachments(payload.get("attachments"))
    person = _person(payload, actor)
    now = node.now()
    with write_tx(node.db):
        row = _target_row(directive_id, node, "提交处置反馈")
        if row.acknowledged_at is None:
            _ack_row(node, row, person, actor.login, "随处置反馈签收 / acknowledged with the first report", now)
        report = {"report_id": f"{node.code}-{uuid.uuid4().hex[:12]}", "directive_id": directive_id,
                  "node": node.code, "node_name": node.config.name, "text": text, "counts": counts,
                  "attachments": attachments, "reported_by": person, "reported_at": show(now)}
        _store_report(report, now)
        totals = Counter(json.loads(row.report_totals or "{}"))
        totals.update(counts)
        (Directive.update(report_count=Directive.report_count + 1, last_report_at=_db_time(now),
                          report_totals=_dumps(dict(totals)))
         .where(Directive.directive_id == directive_id)
         .execute())
        doc = documents.create("directive.report", channel=CHANNEL, origin=node.code, dest=row.issuer,
                               body=report, keypair=node.keypair, now=now)
        if row.received_from:
            outbox.enqueue(replicator(node), row.received_from, CHANNEL, doc, [node.code], now)
        _progress_changed(node, directive_id, now)
    return _report_api(DirectiveReport.get(DirectiveReport.report_id == report["report_id"]))


def _store_report(report: Mapping[str, Any], now: datetime) -> bool:
    if DirectiveReport.get_or_none(DirectiveReport.report_id == report["report_id"]) is not None:
        return False
    DirectiveReport.insert(report_id=report["report_id"], directive_id=report["directive_id"],
                           node=report["node"], node_name=report.get("node_name", ""), text=report["text"],
                           counts=_dumps(report.get("counts") or {}),
                           attachments=_dumps(report.get("attachments") or []),
                           reported_by=report.get("reported_by", ""),
                           reported_at=_db_time(_aware(report["reported_at"])), received_at=_db_time(now)).execute()
    return True


def _report_api(r: DirectiveReport) -> dict[str, Any]:
    return {"id": r.report_id, "directive_id": r.directive_id, "node": r.node, "node_name": r.node_name,
            "text": r.text, "counts": json.loads(r.counts), "attachments": json.loads(r.attachments),
            "reported_by": r.reported_by, "reported_at": show(r.reported_at), "received_at": show(r.received_at)}


# -- progress: snapshots keyed by (directive, node) with a version (rule 18) ---------------------
def _own_entry(node: Node, row: Directive) -> dict[str, Any]:
    status = "acknowledged" if row.acknowledged_at else ("delivered" if row.delivered_at else "pending")
    return {"target": True, "status": status, "name": node.config.name, "level": node.level,
            "delivered_at": show(row.delivered_at), "acknowledged_at": show(row.acknowledged_at),
            "acknowledged_by": row.acknowledged_by, "note": row.ack_note or None, "reports": row.report_count,
            "last_report_at": show(row.last_report_at), "report_totals": json.loads(row.report_totals or "{}")}


def _count_entry(counts: Counter, entry: Mapping[str, Any]) -> None:
    counts["targets"] += 1
    if entry["status"] in ("delivered", "acknowledged"):
        counts["delivered"] += 1
    if entry["status"] == "acknowledged":
        counts["acknowledged"] += 1
    if entry.get("reports"):
        counts["reported"] += 1


def subtree(node: Node, row: Directive) -> dict[str, Any]:
    """This node's view of its subtree for one directive: exact counts and per-node entries.

    Own state, plus for every child the directive went to either the child's latest
    snapshot (replaced only by a higher version) or, until it reports, what this node
    knows of it: the child itself and the codes named inside it, not yet delivered.
    """
    me = node.code
    specs = json.loads(row.targets)
    local: dict[str, dict[str, Any]] = {}
    counts: Counter = Counter()
    totals: Counter = Counter()
    entries: dict[str, dict[str, Any]] = {}
    truncated = False
    if row.is_target:
        own = _own_entry(node, row)
        local[me] = own
        totals.update(own["report_totals"])
    relays = list(DirectiveRelay.children_of(row.directive_id))
    snaps = {p.node: p for p in DirectiveProgress.select()
             .where((DirectiveProgress.directive_id == row.directive_id) & (DirectiveProgress.node != me))}
    for relay in relays:
        snap = snaps.get(relay.child)
        if snap is not None and snap.version > 0:
            data = json.loads(snap.payload)
            for key in ("targets", "delivered", "acknowledged", "reported"):
                counts[key] += int(data.get(key, 0))
            totals.update({k: int(v) for k, v in (data.get("report_totals") or {}).items()})
            entries.update(data.get("nodes") or {})
            truncated = truncated or bool(data.get("truncated"))
            continue
        for code in expected_codes(specs, relay.child, row.issuer, is_within):
            local[code] = {"target": True, "status": "pending",
                           "name": relay.child_name if code == relay.child else "",
                           "level": relay.child_level if code == relay.child else (_divisions().level_of(code) or "")}
    covered = [r.child for r in relays]
    for spec in specs:
        root = _root(spec)
        if root is None or root == me or not is_within(root, me) or root in local:
            continue
        if any(is_within(root, c) for c in covered):
            continue
        local[root] = {"target": True, "status": "no_route", "name": "",
                       "level": _divisions().level_of(root) or ""}
    for code, entry in local.items():
        if not entry.get("name"):
            entry["name"] = _area_name(node, code)
        _count_entry(counts, entry)
    entries.update(local)
    return {"targets": counts["targets"], "delivered": counts["delivered"], "acknowledged": counts["acknowledged"],
            "reported": counts["reported"], "report_totals": dict(sorted(totals.items())), "nodes": entries,
            "truncated": truncated}


def _trim(nodes: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], bool]:
    if len(nodes) <= DETAIL_LIMIT:
        return nodes, False
    order = sorted(nodes, key=lambda c: (nodes[c]["status"] == "acknowledged", c))
    return {c: nodes[c] for c in order[:DETAIL_LIMIT]}, True


def _pending(own: DirectiveProgress) -> bool:
    """Is the last snapshot we sent still unacknowledged in the outbox?"""
    if own.sent_seq is None or own.sent_to is None:
        return False
    counter = (SendCounter.select()
               .where((SendCounter.dest == own.sent_to) & (SendCounter.channel == CHANNEL))
               .first())
    return counter is not None and counter.epoch == own.sent_epoch and counter.acked_seq < own.sent_seq


def _own_progress_row(node: Node, directive_id: str, now: datetime) -> DirectiveProgress:
    own = DirectiveProgress.get_or_none((DirectiveProgress.directive_id == directive_id)
                                        & (DirectiveProgress.node == node.code))
    if own is None:
        DirectiveProgress.insert(directive_id=directive_id, node=node.code, version=0, payload="{}",
                                 updated_at=_db_time(now)).execute()
        own = DirectiveProgress.get((DirectiveProgress.directive_id == directive_id)
                                    & (DirectiveProgress.node == node.code))
    return own


def _progress_changed(node: Node, directive_id: str, now: datetime) -> None:
    """Something in this node's subtree changed: send a new snapshot up now, or — while the
    previous one still waits in the outbox — mark it owed (``flush_progress`` sends it), so
    a burst of changes becomes one snapshot instead of one message per change (rule 18)."""
    row = Directive.by_id(directive_id)
    if row is None or row.role == "issuer" or not row.received_from:
        return
    own = _own_progress_row(node, directive_id, now)
    if _pending(own):
        if not own.dirty:
            (DirectiveProgress.update(dirty=True)
             .where(DirectiveProgress.id == own.id)
             .execute())
        return
    _emit(node, row, own, now)


def _emit(node: Node, row: Directive, own: DirectiveProgress, now: datetime) -> None:
    view = subtree(node, row)
    nodes, cut = _trim(view["nodes"])
    version = int(own.version) + 1
    body = {**view, "nodes": nodes, "truncated": view["truncated"] or cut, "directive_id": row.directive_id,
            "node": node.code, "version": version, "as_of": show(now)}
    rep = replicator(node)
    doc = documents.create("directive.progress", channel=CHANNEL, origin=node.code, dest=row.received_from,
                           body=body, keypair=node.keypair, now=now)
    seq = outbox.enqueue(rep, row.received_from, CHANNEL, doc, [node.code], now)
    (DirectiveProgress.update(version=version, payload=_dumps(body), updated_at=_db_time(now), dirty=False,
                              sent_epoch=rep.epoch(), sent_seq=seq, sent_to=row.received_from)
     .where(DirectiveProgress.id == own.id)
     .execute())


def flush_progress(node: Node) -> int:
    """Send the snapshots that are owed (the ``directives.progress`` job); return how many."""
    rows = list(DirectiveProgress.select()
                .where(DirectiveProgress.dirty & (DirectiveProgress.node == node.code)))
    sent = 0
    for own in rows:
        now = node.now()
        with write_tx(node.db):
            row = Directive.by_id(own.directive_id)
            fresh = DirectiveProgress.get_or_none(DirectiveProgress.id == own.id)
            if row is None or fresh is None or not fresh.dirty or not row.received_from:
                continue
            _emit(node, row, fresh, now)
            sent += 1
    return sent


def progress_view(node: Node, row: Directive, now: datetime | None = None) -> dict[str, Any]:
    """``progress`` as the API shows it: counts, the overdue nodes, per-node entries."""
    now = now or node.now()
    view = subtree(node, row)
    active = row.status == "active"
    ack_late = active and now > _aware(row.ack_due_at)
    report_late = active and row.report_due_at is not None and now > _aware(row.report_due_at)
    nodes = dict(sorted(view["nodes"].items()))
    overdue = sorted(c for c, e in nodes.items() if ack_late and e["status"] != "acknowledged")
    reports_overdue = sorted(c for c, e in nodes.items() if report_late and not e.get("reports"))
    for code, entry in nodes.items():
        entry["overdue"] = code in overdue
        entry["status_name"] = NODE_STATUS_NAMES.get(entry["status"], entry["status"])
    return {"scope": node.code, "as_of": show(now), "targets": view["targets"], "delivered": view["delivered"],
            "acknowledged": view["acknowledged"], "reported": view["reported"],
            "complete": view["targets"] > 0 and view["acknowledged"] == view["targets"],
            "overdue": overdue,
            "overdue_count": (view["targets"] - view["acknowledged"]) if ack_late else 0,
            "reports_overdue": reports_overdue, "report_totals": view["report_totals"],
            "truncated": view["truncated"], "nodes": nodes}


# -- reading ---------------------------------------------------------------------------------
def _summary(node: Node, row: Directive) -> dict[str, Any]:
    doc = _content(row)
    doc.update({
        "id": row.directive_id, "status": row.status, "status_name": STATUS_NAMES.get(row.status, row.status),
        "severity_name": SEVERITIES.get(row.severity), "urgency_name": URGENCIES.get(row.urgency),
        "category_name": category_name(row.category), "role_here": row.role,
        "received_at": show(row.received_at), "received_from": row.received_from,
        "updated_at": show(row.updated_at), "cancelled_at": show(row.cancelled_at),
        "cancel_reason": row.cancel_reason,
        "mine": ({"target": True, "delivered_at": show(row.delivered_at),
                  "acknowledged_at": show(row.acknowledged_at), "acknowledged_by": row.acknowledged_by,
                  "note": row.ack_note, "reports": row.report_count} if row.is_target else {"target": False}),
        "cap_url": f"/cap/v1/directives/{row.directive_id}.xml",
    })
    return doc


def get(node: Node, directive_id: str, actor: Any) -> dict[str, Any]:
    actor = as_actor(actor)
    _require_role(actor, READ_ROLES)
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    doc = _summary(node, row)
    doc["progress"] = progress_view(node, row)
    doc["reports"] = [_report_api(r) for r in DirectiveReport.for_directive(directive_id)]
    doc["reminders"] = [{"node": r.late_node, "level": r.level, "level_name": REMINDER_LEVELS.get(r.level),
                         "about": r.about, "raised_at": show(r.raised_at), "message": r.message}
                        for r in DirectiveReminder.for_directive(directive_id)]
    doc["history"] = [{"version": m.version, "msg_type": m.msg_type, "sent_at": show(m.sent_at), "note": m.note,
                       "cap_url": f"/cap/v1/directives/{directive_id}/v{m.version}.xml"}
                      for m in DirectiveMessage.for_directive(directive_id)]
    return doc


def list_directives(node: Node, filters: Mapping[str, Any], actor: Any) -> dict[str, Any]:
    """Directives held here, newest first: ``status``, ``role`` (issuer|target|relay), ``case_id``."""
    actor = as_actor(actor)
    _require_role(actor, READ_ROLES)
    q = Directive.select()
    status = filters.get("status")
    if status:
        if status not in STATUS_NAMES:
            raise invalid("status", f"status 可选：{', '.join(STATUS_NAMES)} / unknown status")
        q = q.where(Directive.status == status)
    role = filters.get("role")
    if role:
        if role not in ("issuer", "target", "relay"):
            raise invalid("role", "role 可选：issuer, target, relay / unknown role")
        q = q.where(Directive.role == role)
    if filters.get("case_id"):
        q = q.where(Directive.case_id == filters["case_id"])
    try:
        limit = min(200, max(1, int(filters.get("limit") or 50)))
    except (TypeError, ValueError):
        raise invalid("limit", "limit 须为整数 / limit must be a number") from None
    rows = list(q.order_by(Directive.issued_at.desc(), Directive.pk.desc()).limit(limit))
    now = node.now()
    items = []
    for row in rows:
        doc = _summary(node, row)
        view = progress_view(node, row, now)
        doc["progress"] = {k: view[k] for k in ("targets", "delivered", "acknowledged", "reported", "complete",
                                                "overdue_count")}
        items.append(doc)
    return {"items": items}


def reports(node: Node, directive_id: str, actor: Any) -> dict[str, Any]:
    actor = as_actor(actor)
    _require_role(actor, READ_ROLES)
    if Directive.by_id(directive_id) is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    return {"items": [_report_api(r) for r in DirectiveReport.for_directive(directive_id)]}


def messages(directive_id: str) -> list[dict[str, Any]]:
    """The signed messages of a directive, oldest first (for CAP rendering)."""
    return [json.loads(m.doc) for m in DirectiveMessage.for_directive(directive_id)]


# -- overdue acknowledgements: escalating reminders -------------------------------------------
def _level_for(late_s: float, window_s: float) -> int:
    if late_s < 0:
        return 0
    if late_s < window_s:
        return 1
    if late_s < 2 * window_s:
        return 2
    return 3


def check_overdue(node: Node) -> list[dict[str, Any]]:
    """Raise escalating reminders (1 提醒 at the deadline, 2 催办 one window later, 3 通报
    two windows later) here about this node itself and about each late child. Idempotent:
    one reminder per (directive, late node, level). Returns the new ones."""
    now = node.now()
    new: list[dict[str, Any]] = []
    rows = list(Directive.select()
                .where((Directive.status == "active") & (Directive.ack_due_at < _db_time(now))))
    for row in rows:
        window = row.ack_within_minutes * 60.0
        late_s = (now - _aware(row.ack_due_at)).total_seconds()
        level = _level_for(late_s, window)
        if level == 0:
            continue
        late: list[tuple[str, str, str]] = []
        if row.is_target and row.acknowledged_at is None:
            late.append((node.code, "self", node.config.name))
        view = subtree(node, row)
        for relay in DirectiveRelay.children_of(row.directive_id):
            entry = view["nodes"].get(relay.child)
            if entry is not None and entry.get("target") and entry["status"] != "acknowledged":
                late.append((relay.child, "child", relay.child_name or relay.child))
        if not late:
            continue
        with write_tx(node.db):
            for code, about, name in late:
                for lv in range(1, level + 1):
                    exists = DirectiveReminder.get_or_none(
                        (DirectiveReminder.directive_id == row.directive_id)
                        & (DirectiveReminder.late_node == code) & (DirectiveReminder.level == lv))
                    if exists is not None:
                        continue
                    who = "本单位" if about == "self" else f"下级 {name}（{code}）"
                    message = (f"【{REMINDER_LEVELS[lv]}】{who}未在时限内签收指令《{row.title}》（{row.directive_id}），"
                               f"已超时 {int(late_s // 60)} 分钟 / {code} has not acknowledged {row.directive_id}, "
                               f"{int(late_s // 60)} min overdue (level {lv})")
                    DirectiveReminder.insert(directive_id=row.directive_id, late_node=code, level=lv,
                                             raised_at=_db_time(now), about=about, message=message).execute()
                    log.warning("%s", message)
                    new.append({"directive_id": row.directive_id, "node": code, "level": lv, "about": about,
                                "message": message})
    return new


# -- from case to command (R3.4, 属地负责) ----------------------------------------------------------
FROM_CASE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "ack_within_minutes",
                    "report_within_minutes", "plan", "plan_version", "exercise", "subtree")


def directive_from_case(node: Node, case_id: str, actor: Any, overrides: Mapping[str, Any] | None = None
                        ) -> dict[str, Any]:
    """Raise an especially urgent case to a directive to the bureau where it happened.

    Reads the case (``node.cases.models.Case``, read only): the respondent's region decides the
    local bureau (属地负责), which must lie below this node. Urgent and especially urgent
    (``urgent`` / ``critical``) cases only. The directive carries ``case_id``; the case is
    found again with ``GET /api/v1/directives?case_id=``.
    """
    from node.cases.models import Case
    actor = as_actor(actor)
    _require_role(actor, ISSUE_ROLES)
    overrides = dict(overrides or {})
    _unknown_fields(overrides, FROM_CASE_FIELDS)
    case = Case.by_id(case_id)
    if case is None or case.department == "discipline":  # staff reports stay with discipline (R2.3)
        raise not_found(f"案件 {case_id} 不存在 / no case {case_id}")
    if case.urgency not in ("critical", "urgent"):
        raise invalid("urgency", f"案件 {case_id} 为一般件，只有紧急、特别紧急案件可转为指令 / only urgent and "
                                 f"especially urgent cases become directives")
    region = case.respondent_region
    if not region:
        raise invalid("respondent.region_code", "案件缺少事发地区划代码 / the case has no respondent region")
    if region == node.code:
        raise invalid("respondent.region_code", f"事发地即本局 {node.code}，请直接处置 / the case happened in this "
                                                f"bureau's own area: act directly")
    if not is_within(region, node.code):
        raise invalid("respondent.region_code", f"事发地 {region} 不在本局辖区内，应由共同上级下达 / {region} is "
                                                f"outside this bureau's subtree")
    respondent = json.loads(case.respondent or "{}")
    urgency_zh = {"critical": "特别紧急", "urgent": "紧急"}[case.urgency]
    body_lines = [f"案件 {case.case_id}（{urgency_zh}）：{case.summary}"]
    if case.description:
        body_lines.append(case.description)
    if respondent.get("name") or respondent.get("address"):
        body_lines.append(f"涉事经营者：{respondent.get('name') or '—'}，地址：{respondent.get('address') or '—'}")
    body_lines.append("请属地立即赶赴现场核查处置，并按时限签收、报告处置情况。")
    payload: dict[str, Any] = {
        "title": f"【案件转指令】{case.summary}"[:TITLE_MAX],
        "body": "\n".join(body_lines)[:BODY_MAX],
        "severity": "severe" if case.urgency == "critical" else "moderate",
        "urgency": "immediate" if case.urgency == "critical" else "expected",
        "category": "food_safety" if (case.category or "").startswith("G01") else (
            "product_safety" if (case.category or "").startswith("G") else "consumer_rights"),
        "ack_within_minutes": 30 if case.urgency == "critical" else 60,
    }
    subtree_too = overrides.pop("subtree", False)
    if not isinstance(subtree_too, bool):
        raise invalid("subtree", "subtree 须为 true 或 false / subtree must be a boolean")
    if overrides.get("plan"):
        # the plan's defaults (severity, deadlines…) win over the case-derived ones
        for key in ("severity", "urgency", "category", "ack_within_minutes"):
            payload.pop(key, None)
    payload.update(overrides)
    payload["targets"] = [f"{region}/*" if subtree_too else region]
    return issue(node, payload, actor, case_id=case.case_id)


# -- receiving: handlers registered with replication ------------------------------------------
def _check_from_above(node: Node, delivery: Delivery) -> Mapping[str, Any]:
    body = delivery.body
    if delivery.sender_role != "parent":
        raise ApplyError(f"指令只能自上而下传递，{delivery.sender} 是本节点的下级 / directives travel only down: "
                         f"{delivery.sender} is not this node's parent")
    issuer = delivery.origin
    if body.get("issuer") != issuer or delivery.dest != issuer:
        raise ApplyError("指令的下达机关与签名来源不符 / the directive's issuer differs from its signed origin")
    if issuer == node.code or not is_within(node.code, issuer):
        raise ApplyError(f"下达机关 {issuer} 不是本节点的上级 / issuer {issuer} is not above this node")
    if not isinstance(body.get("directive_id"), str) or not isinstance(body.get("version"), int):
        raise ApplyError("指令缺少编号或版本 / directive lacks id or version")
    return body


_CONTENT_KEYS = ("directive_id", "version", "issuer", "title", "body", "severity", "urgency", "category",
                 "targets", "ack_within_minutes", "issued_at", "ack_due_at", "sent_at")


def _check_content(body: Mapping[str, Any]) -> list[str]:
    for key in _CONTENT_KEYS:
        if body.get(key) in (None, ""):
            raise ApplyError(f"指令缺少字段 {key} / directive lacks {key}")
    category = body["category"]
    if body["severity"] not in SEVERITIES or body["urgency"] not in URGENCIES or not isinstance(category, str) \
            or (category not in CATEGORIES and not _GOODS_CODE_RE.match(category)):
        raise ApplyError("指令的级别、紧急程度或类别无效 / invalid severity, urgency or category")
    try:
        return normalise_targets(list(body["targets"]), str(body["issuer"]))
    except NodeError as exc:
        raise ApplyError(f"指令对象无效 / invalid targets: {exc.message}") from None


def apply_issue(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    if body.get("msg_type", "Alert") != "Alert" or body["version"] != 1:
        raise ApplyError("directive.issue 须为第 1 版 Alert / directive.issue must be version 1")
    specs = _check_content(body)
    if Directive.by_id(body["directive_id"]) is not None:
        return  # already held (a relay path never delivers twice; be idempotent anyway)
    if not leads_into(specs, node.code, is_within):
        log.warning("directive %s reached %s, which holds no target: ignored", body["directive_id"], node.code)
        return
    role = "target" if is_target(specs, node.code, str(body["issuer"]), is_within) else "relay"
    now = delivery.now
    row = _store_new(node, body, delivery.doc, role=role, now=now, received_from=delivery.sender)
    _relay_new(node, row, delivery.doc, now, delivery)
    auto = node.extras.get("directives.auto_ack")
    if role == "target" and auto:
        _ack_row(node, row, str(auto), "system", "自动签收（基准测试）/ automatic acknowledgement (benchmark)", now)
    _progress_changed(node, row.directive_id, now)


def apply_update(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    row = Directive.by_id(body["directive_id"])
    if row is None:
        raise ApplyError(f"更新了未知指令 {body['directive_id']} / update for an unknown directive")
    if body["version"] <= row.version:
        return
    if row.status == "cancelled":
        raise ApplyError(f"指令 {row.directive_id} 已撤销，不能更新 / update for a cancelled directive")
    _check_content(body)
    if list(body["targets"]) != json.loads(row.targets):
        raise ApplyError("更新不能改变指令对象 / an update cannot change the targets")
    now = delivery.now
    (Directive.update(title=body["title"], body=body["body"], severity=body["severity"], urgency=body["urgency"],
                      certainty=body.get("certainty", "observed"), category=body["category"],
                      ack_within_minutes=body["ack_within_minutes"],
                      report_within_minutes=body.get("report_within_minutes"),
                      ack_due_at=_db_time(_aware(body["ack_due_at"])),
                      report_due_at=_db_time(_aware(body["report_due_at"])) if body.get("report_due_at") else None,
                      version=body["version"], updated_at=_db_time(now))
     .where(Directive.directive_id == row.directive_id)
     .execute())
    _record_and_relay(node, row, body, delivery, "Update", str(body.get("note") or ""), now)


def apply_cancel(node: Node, delivery: Delivery) -> None:
    body = _check_from_above(node, delivery)
    row = Directive.by_id(body["directive_id"])
    if row is None:
        raise ApplyError(f"撤销了未知指令 {body['directive_id']} / cancel for an unknown directive")
    if body["version"] <= row.version or row.status == "cancelled":
        return
    now = delivery.now
    (Directive.update(status="cancelled", cancelled_at=_db_time(now), cancel_reason=str(body.get("reason") or ""),
                      version=body["version"], updated_at=_db_time(now))
     .where(Directive.directive_id == row.directive_id)
     .execute())
    _record_and_relay(node, row, body, delivery, "Cancel", str(body.get("reason") or ""), now)


def _record_and_relay(node: Node, row: Directive, body: dict, delivery: Delivery, msg_type: str, note: str,
                      now: datetime) -> None:
    """Keep the CAP message of an update or cancel and pass the signed document on down."""
    DirectiveMessage.insert(directive_id=row.directive_id, version=body["version"], msg_type=msg_type,
                            sent_at=_db_time(_aware(body["sent_at"])), doc_id=str(delivery.doc["id"]),
                            doc=_dumps(delivery.doc), note=note).execute()
    _relay_again(node, row.directive_id, delivery.doc, now, delivery)


def _check_from_below(node: Node, delivery: Delivery) -> Directive:
    if delivery.sender_role != "child":
        raise ApplyError(f"{delivery.kind} 只能由下级上报 / {delivery.kind} travels only up")
    did = delivery.body.get("directive_id")
    row = Directive.by_id(did) if isinstance(did, str) else None
    if row is None:
        raise ApplyError(f"未知指令 {did} / unknown directive {did}")
    if DirectiveRelay.get_or_none((DirectiveRelay.directive_id == row.directive_id)
                                  & (DirectiveRelay.child == delivery.sender)) is None:
        raise ApplyError(f"未向 {delivery.sender} 下发过指令 {did} / {did} was never sent to {delivery.sender}")
    return row


def apply_progress(node: Node, delivery: Delivery) -> None:
    row = _check_from_below(node, delivery)
    body = delivery.body
    if delivery.origin != delivery.sender or body.get("node") != delivery.sender or delivery.dest != node.code:
        raise ApplyError("进度快照只走一跳，须由该下级自己签发 / a progress snapshot travels one hop, from its node")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ApplyError("进度快照缺少版本 / snapshot lacks a version")
    for key in ("targets", "delivered", "acknowledged", "reported"):
        if not isinstance(body.get(key), int) or body[key] < 0:
            raise ApplyError(f"进度快照字段 {key} 无效 / invalid snapshot field {key}")
    if not isinstance(body.get("nodes"), dict):
        raise ApplyError("进度快照缺少 nodes / snapshot lacks nodes")
    if not body["acknowledged"] <= body["delivered"] <= body["targets"] or body["reported"] > body["targets"]:
        raise ApplyError("进度快照的计数自相矛盾 / snapshot counts contradict each other")
    outside = [code for code in body["nodes"] if not is_within(str(code), delivery.sender)]
    if outside:
        raise ApplyError(f"下级 {delivery.sender} 的快照含辖区外节点 {outside[0]} / a snapshot may only describe "
                         f"its own subtree")
    now = delivery.now
    current = DirectiveProgress.get_or_none((DirectiveProgress.directive_id == row.directive_id)
                                            & (DirectiveProgress.node == delivery.sender))
    if current is not None and current.version >= version:
        return  # a duplicate or a late, older snapshot: replaced only by a higher version (rule 18)
    if current is None:
        DirectiveProgress.insert(directive_id=row.directive_id, node=delivery.sender, version=version,
                                 payload=_dumps(body), updated_at=_db_time(now)).execute()
    else:
        (DirectiveProgress.update(version=version, payload=_dumps(body), updated_at=_db_time(now))
         .where(DirectiveProgress.id == current.id)
         .execute())
    _progress_changed(node, row.directive_id, now)


def apply_report(node: Node, delivery: Delivery) -> None:
    row = _check_from_below(node, delivery)
    body = delivery.body
    if delivery.dest != row.issuer or body.get("node") != delivery.origin:
        raise ApplyError("处置反馈须发往下达机关并由反馈单位签发 / a report goes to the issuer, signed by its node")
    for key in ("report_id", "text", "reported_at"):
        if not isinstance(body.get(key), str):
            raise ApplyError(f"处置反馈缺少 {key} / report lacks {key}")
    _store_report(body, delivery.now)
    if node.code != row.issuer and row.received_from:
        delivery.forward(row.received_from)


def register_handlers(node: Node, registry: Registry) -> None:
    """The directive documents this node applies (``node.domains`` installs it)."""
    registry.register("directive.issue", handler(node, apply_issue), fanout=True)
    registry.register("directive.update", handler(node, apply_update), fanout=True)
    registry.register("directive.cancel", handler(node, apply_cancel), fanout=True)
    registry.register("directive.progress", handler(node, apply_progress))
    registry.register("directive.report", handler(node, apply_report))
    from node.directives import warnings as consumer_warnings
    consumer_warnings.register_handlers(node, registry)


def job_specs(node: Node) -> list[Any]:
    return [
        ("directives.progress", lambda n: n.config.replication.push_interval_s, flush_progress),
        ("directives.overdue", lambda n: 60.0, check_overdue),
    ]




# -- CAP renderings (node/services/cap.py does the XML) -----------------------------------------
def _area_name(node: Node, code: str) -> str:
    divisions = _divisions()
    if code == node.code:
        return node.config.name
    link = Link.get_or_none(Link.code == code)
    if link is not None and link.name:
        return link.name
    if code == "000000":
        return "全国"
    name = divisions.full_name(code)
    if name:
        return name
    county = code[:6]
    return f"{divisions.full_name(county) or county} 市场监管所 {code}"


def cap_areas(node: Node, targets: Sequence[str], issuer: str, issuer_name: str = "") -> list[dict[str, Any]]:
    """CAP ``area`` blocks: one per target spec, with the region code as ``geocode``."""
    areas = []
    for spec in targets:
        if spec == "*":
            areas.append({"desc": f"{issuer_name or _area_name(node, issuer)}辖区全部下级单位 / every bureau below "
                                   f"{issuer}", "codes": [issuer]})
            continue
        root = _root(spec)
        assert root is not None
        name = _area_name(node, root)
        areas.append({"desc": f"{name}（含下级）" if spec.endswith("/*") else name, "codes": [root]})
    return areas


def _message_contents(directive_id: str) -> list[dict[str, Any]]:
    """The body of every message, a Cancel completed with the content it cancels."""
    out: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for doc in messages(directive_id):
        body = dict(doc["body"])
        if body.get("msg_type") == "Cancel":
            body = {**last, **body}
        else:
            last = body
        out.append(body)
    return out


def cap_xml(node: Node, directive_id: str, version: int | None = None) -> bytes:
    """The directive as a CAP 1.2 alert: its latest message (Alert, Update or Cancel) or the
    message of ``version``; Update and Cancel reference the earlier messages."""
    from node.directives import cap
    if Directive.by_id(directive_id) is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    contents = _message_contents(directive_id)
    if version is None:
        chosen = contents[-1]
    else:
        matching = [c for c in contents if int(c["version"]) == version]
        if not matching:
            raise not_found(f"指令 {directive_id} 没有第 {version} 版 / no version {version} of {directive_id}")
        chosen = matching[0]
    history = [{"version": c["version"], "sent_at": c["sent_at"]} for c in contents]
    chosen = {**chosen, "category_name": category_name(str(chosen.get("category")))}
    return cap.directive_alert(chosen, history,
                               cap_areas(node, chosen["targets"], str(chosen["issuer"]),
                                         str(chosen.get("issuer_name", ""))))


def cap_ack_xml(node: Node, directive_id: str, code: str) -> bytes:
    """A CAP ``Ack`` for ``code``'s acknowledgement, where this node knows of it (the
    acknowledging node itself, and every node above it up to the issuer)."""
    from node.directives import cap
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    entry = progress_view(node, row)["nodes"].get(code)
    if entry is None or entry["status"] != "acknowledged" or not entry.get("acknowledged_at"):
        raise not_found(f"本节点不知道 {code} 对 {directive_id} 的签收 / no acknowledgement by {code} known here")
    contents = _message_contents(directive_id)
    history = [{"version": c["version"], "sent_at": c["sent_at"]} for c in contents]
    return cap.ack_alert(contents[0], code, entry.get("name") or code, entry["acknowledged_at"],
                         entry.get("acknowledged_by"), entry.get("note"), history)
