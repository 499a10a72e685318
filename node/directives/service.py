"""Emergency command and dispatch down the tree: the actions (R3.1-R3.4; CONTRACT §6).

Serves R3.1 (online dispatch), R3.2 (food and consumer-safety incidents), R3.3 (issuing
from a plan 预案) and R3.4 (on the leadership's order the bureau concerned is directed to
act). Design notes in ``docs/directives.md``. No Flask: the API, the CLI and
``from_case`` call these inside ``node.activate()``.

* ``issue(node, payload, actor) -> dict`` — validate, sign, store, relay (roles leader/admin,
  level capability ``issues_directives``).
* ``update(node, id, payload, actor)`` / ``cancel(node, id, payload, actor)`` — at the
  issuer; CAP ``Update`` / ``Cancel`` messages that reference the original.
* ``acknowledge(node, id, payload, actor)`` — 签收 by a named person at a target node.
* ``add_report(node, id, payload, actor)`` — 处置反馈: text, counts, attachments' metadata.

Each returns the directive (or report) as ``reading.get`` shows it. How the signed
documents travel is told in ``node/directives/documents.py``.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from federation.storage import write_tx
from node.cases import load_categories
from node.config import LEVEL_NAMES_ZH
from node.directives.common import (
    ACK_ROLES,
    BODY_MAX,
    CATEGORIES,
    CERTAINTIES,
    CHANNEL,
    COUNT_KEY_RE,
    CST,
    GOODS_CODE_RE,
    ISSUE_ROLES,
    SEVERITIES,
    TITLE_MAX,
    URGENCIES,
    Actor,
    as_actor,
    aware,
    bool_field,
    db_time,
    dumps,
    enum_field,
    json_object,
    minutes_field,
    require_role,
    show,
    text_field,
    unknown_fields,
)
from node.directives.models import Directive, DirectiveMessage, DirectiveReport
from node.directives.plans import Plan, get_plan
from node.directives.progress import progress_changed
from node.directives.reading import get
from node.directives.store import ack_row, relay_again, relay_new, report_api, signed_content, store_new, store_report
from node.directives.targets import normalise_targets
from node.errors import NodeError, conflict, forbidden, invalid, not_found
from node.network import replicator
from node.runtime import Node
from replication import documents, outbox

log = logging.getLogger(__name__)

DEFAULT_ACK_WITHIN_MINUTES = 60
NOTE_MAX = 2_000
REPORT_TEXT_MAX = 20_000
MAX_COUNT_KEYS = 50
MAX_ATTACHMENTS = 50

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# -- issuing, updating, cancelling (at the issuer) ------------------------------------------------
ISSUE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "targets",
                "ack_within_minutes", "report_within_minutes", "plan", "plan_version", "exercise")
UPDATE_FIELDS = ("title", "body", "severity", "urgency", "certainty", "category", "ack_within_minutes",
                 "report_within_minutes", "note")


def parse_issue(node: Node, payload: Any) -> dict[str, Any]:
    payload = json_object(payload, ISSUE_FIELDS)
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
        "title": text_field(payload, "title", required=plan is None, max_len=TITLE_MAX, label="标题") or d.get("title"),
        "body": text_field(payload, "body", required=plan is None, max_len=BODY_MAX, label="正文") or d.get("summary"),
        "severity": enum_field(payload, "severity", SEVERITIES, d.get("severity")),
        "urgency": enum_field(payload, "urgency", URGENCIES, d.get("urgency", "immediate")),
        "certainty": enum_field(payload, "certainty", CERTAINTIES, d.get("certainty", "observed")),
        "category": _category(node, payload, d.get("category", "other")),
        "targets": normalise_targets(payload.get("targets"), node.code),
        "ack_within_minutes": minutes_field(payload, "ack_within_minutes",
                                            d.get("ack_within_minutes", DEFAULT_ACK_WITHIN_MINUTES)),
        "report_within_minutes": minutes_field(payload, "report_within_minutes", d.get("report_within_minutes")),
        "exercise": bool_field(payload, "exercise", False),
        "plan": plan.attachment() if plan else None,
    }
    return fields


def _category(node: Node, payload: Mapping[str, Any], default: str | None) -> str:
    """A directive category, or a goods/services code of the node's category table
    (``GET /api/v1/categories``, e.g. ``G0101`` 预包装食品) for a directive about one kind of goods."""
    value = payload.get("category", default)
    if isinstance(value, str) and value not in CATEGORIES and GOODS_CODE_RE.match(value):
        table = node.cache.get("categories") or load_categories()
        if table.is_known(value):
            return value
    return enum_field(payload, "category", CATEGORIES, default)


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


def issue(node: Node, payload: Any, actor: Any, *, case_id: str | None = None) -> dict[str, Any]:
    """Issue a directive down the tree; return it as ``get`` shows it (CONTRACT §6)."""
    actor = as_actor(actor)
    require_role(actor, ISSUE_ROLES)
    if not node.config.capabilities.issues_directives:
        raise forbidden(f"本级节点（{LEVEL_NAMES_ZH.get(node.level, node.level)}）不能下达指令 / "
                        f"a {node.level} node does not issue directives", code="no_capability")
    fields = parse_issue(node, payload)
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
        row = store_new(node, content, doc, role="issuer", now=now, received_from=None)
        relay_new(node, row, doc, now, None)
    log.info("directive %s issued by %s to %s", directive_id, node.code, fields["targets"])
    return get(node, directive_id, actor)


def _send_change(node: Node, row: Directive, msg_type: str, content: dict[str, Any], note: str,
                 now: datetime) -> None:
    """At the issuer, inside the caller's transaction: sign a CAP Update or Cancel, keep it
    with the directive's messages and send it after the original (rule 18)."""
    doc = documents.create(f"directive.{msg_type.lower()}", channel=CHANNEL, origin=node.code, dest=node.code,
                           body=content, keypair=node.keypair, now=now)
    row.save()
    DirectiveMessage.insert(directive_id=row.directive_id, version=row.version, msg_type=msg_type,
                            sent_at=db_time(now), doc_id=doc["id"], doc=dumps(doc), note=note).execute()
    relay_again(node, row.directive_id, doc, now, None)


def _load_for_issuer(directive_id: str, actor: Actor) -> Directive:
    require_role(actor, ISSUE_ROLES)
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
    unknown_fields(payload, UPDATE_FIELDS)
    now = node.now()
    with write_tx(node.db):
        row = _load_for_issuer(directive_id, actor)
        changes: dict[str, Any] = {}
        for name, max_len in (("title", TITLE_MAX), ("body", BODY_MAX)):
            if name in payload:
                changes[name] = text_field(payload, name, required=True, max_len=max_len)
        for name, allowed in (("severity", SEVERITIES), ("urgency", URGENCIES), ("certainty", CERTAINTIES)):
            if name in payload:
                changes[name] = enum_field(payload, name, allowed, None)
        if "category" in payload:
            changes["category"] = _category(node, payload, None)
        if "ack_within_minutes" in payload:
            changes["ack_within_minutes"] = minutes_field(payload, "ack_within_minutes", None)
            if changes["ack_within_minutes"] is None:
                raise invalid("ack_within_minutes", "ack_within_minutes 不能为空 / ack_within_minutes is required")
        if "report_within_minutes" in payload:
            changes["report_within_minutes"] = minutes_field(payload, "report_within_minutes", None)
        note = text_field(payload, "note", required=False, max_len=NOTE_MAX) or ""
        changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
        if not changes:
            raise invalid("body", "没有需要更新的内容 / nothing to update")
        for k, v in changes.items():
            setattr(row, k, v)
        issued_at = aware(row.issued_at)
        row.ack_due_at = db_time(issued_at + timedelta(minutes=row.ack_within_minutes))
        row.report_due_at = (db_time(issued_at + timedelta(minutes=row.report_within_minutes))
                             if row.report_within_minutes else None)
        row.version += 1
        row.updated_at = db_time(now)
        content = {**signed_content(row), "msg_type": "Update", "sent_at": show(now), "note": note,
                   "changed": sorted(changes)}
        _send_change(node, row, "Update", content, note, now)
    return get(node, directive_id, actor)


def cancel(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """A CAP ``Cancel``: the directive stops; acknowledgements and reports are refused after it."""
    actor = as_actor(actor)
    payload = json_object(payload, ("reason",), optional=True)
    reason = text_field(payload, "reason", required=False, max_len=NOTE_MAX) or ""
    now = node.now()
    with write_tx(node.db):
        row = _load_for_issuer(directive_id, actor)
        row.version += 1
        row.status = "cancelled"
        row.cancelled_at = db_time(now)
        row.cancel_reason = reason
        row.updated_at = db_time(now)
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
    return text_field(payload, "name", required=False, max_len=100, label="签收人") or actor.display


def acknowledge(node: Node, directive_id: str, payload: Any, actor: Any) -> dict[str, Any]:
    """签收: a named person at a target node signs for the directive, once."""
    actor = as_actor(actor)
    require_role(actor, ACK_ROLES)
    payload = json_object(payload, ("note", "name"), optional=True)
    note = text_field(payload, "note", required=False, max_len=NOTE_MAX) or ""
    person = _person(payload, actor)
    now = node.now()
    with write_tx(node.db):
        row = _target_row(directive_id, node, "签收")
        if row.acknowledged_at is not None or not ack_row(node, row, person, actor.login, note, now):
            raise conflict(f"指令 {directive_id} 已由 {row.acknowledged_by} 签收，不能重复签收 / already acknowledged",
                           code="already_acknowledged")
        progress_changed(node, directive_id, now)
    return get(node, directive_id, actor)


def parse_counts(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("counts", "counts 须为 {名称: 非负整数} / counts must map names to whole numbers")
    if len(value) > MAX_COUNT_KEYS:
        raise invalid("counts", f"counts 最多 {MAX_COUNT_KEYS} 项 / at most {MAX_COUNT_KEYS} counts")
    out = {}
    for key, n in value.items():
        name = f"counts.{key}"
        if not isinstance(key, str) or not COUNT_KEY_RE.match(key):
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
        unknown_fields(item, ("name", "size", "mime_type", "sha256", "uri"), prefix + ".")
        name = text_field(item, "name", required=True, max_len=200, label=f"{prefix}.name")
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
            text = text_field(item, key, required=False, max_len=500, label=f"{prefix}.{key}")
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
    require_role(actor, ACK_ROLES)
    payload = json_object(payload, ("text", "counts", "attachments", "name"))
    text = text_field(payload, "text", required=True, max_len=REPORT_TEXT_MAX, label="反馈内容")
    counts = parse_counts(payload.get("counts"))
    attachments = _parse_attachments(payload.get("attachments"))
    person = _person(payload, actor)
    now = node.now()
    with write_tx(node.db):
        row = _target_row(directive_id, node, "提交处置反馈")
        if row.acknowledged_at is None:
            ack_row(node, row, person, actor.login, "随处置反馈签收 / acknowledged with the first report", now)
        report = {"report_id": f"{node.code}-{uuid.uuid4().hex[:12]}", "directive_id": directive_id,
                  "node": node.code, "node_name": node.config.name, "text": text, "counts": counts,
                  "attachments": attachments, "reported_by": person, "reported_at": show(now)}
        store_report(report, now)
        totals = Counter(json.loads(row.report_totals or "{}"))
        totals.update(counts)
        (Directive.update(report_count=Directive.report_count + 1, last_report_at=db_time(now),
                          report_totals=dumps(dict(totals)))
         .where(Directive.directive_id == directive_id)
         .execute())
        doc = documents.create("directive.report", channel=CHANNEL, origin=node.code, dest=row.issuer,
                               body=report, keypair=node.keypair, now=now)
        if row.received_from:
            outbox.enqueue(replicator(node), row.received_from, CHANNEL, doc, [node.code], now)
        progress_changed(node, directive_id, now)
    return report_api(DirectiveReport.get(DirectiveReport.report_id == report["report_id"]))
