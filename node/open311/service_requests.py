"""Open311 service requests: a POST becomes a 12315 case, the GETs read the cases that came in
this way (issue 12 item 5; CONTRACT §10; GeoReport v2 "POST Service Request",
"GET Service Requests", "GET Service Request"; docs/open311.md).

* ``create_request(node, form, key_name)`` maps the standard form fields onto the case input
  of the data standard (CONTRACT §5, ``channel: "open311"``) and registers it through
  ``node.cases.create_case`` like any other intake, as the actor ``open311:<key name>`` with
  the ``intake`` role. A refusal of the case standard becomes a 400 naming the *Open311* field.
* ``list_requests`` / ``get_request`` show only cases whose channel is ``open311``: cases from
  the hotline, the counter or letters were never published by the people who brought them.
  They never show the complainant (name, phone, e-mail, address): ``address`` is where the
  business is (the respondent's address, else its division's name).

Plain values in, plain values out; ``api.py`` renders them.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from node.cases import (
    DISCIPLINE,
    DONE_STATUSES,
    OUTCOMES,
    SHANGHAI,
    STATUS_NAMES_ZH,
    Actor,
    Case,
    categories,
    create_case,
)
from node.divisions import HQ_CODE, load_divisions
from node.errors import NodeError
from node.open311.catalog import ATTRIBUTE_CODES, known_service
from node.runtime import Node

MAX_ROWS = 1000
DEFAULT_SPAN = timedelta(days=90)
MAX_SPAN = timedelta(days=90)
SUMMARY_MAX = 200
TEXT_MAX = 4000           # what GeoReport v2 allows for a description
_ATTRIBUTE_RE = re.compile(r"^attribute\[([^\]]*)\](\[\])?$")
_CJK_RE = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·]+$")

# Case-standard field → the Open311 field a client sent it in (errors name the latter).
FIELD_NAMES = {
    "summary": "description", "description": "description", "category": "service_code",
    "kind": "attribute[kind]", "complainant.name": "first_name", "complainant.anonymous": "first_name",
    "complainant.phone": "phone", "complainant.email": "email", "complainant.address": "address_string",
    "respondent.name": "attribute[respondent_name]", "respondent.uscc": "attribute[respondent_uscc]",
    "respondent.region_code": "attribute[respondent_region_code]",
    "respondent.address": "attribute[respondent_address]", "amount": "attribute[amount]",
    "demand": "attribute[demand]",
}

# The columns a request shows: the complainant's are not even read.
_COLUMNS = (Case.case_id, Case.kind, Case.status, Case.category, Case.summary, Case.description,
            Case.respondent, Case.respondent_region, Case.handling_node, Case.received_at, Case.updated_at,
            Case.next_due, Case.outcome)


def bad(field: str, message: str) -> NodeError:
    return NodeError(400, "invalid", f"{field}: {message}", field)


# -- POST ------------------------------------------------------------------------------------
def _text(form: Mapping[str, str], name: str, max_length: int = 500) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > max_length:
        raise bad(name, f"超过 {max_length} 字 / longer than {max_length} characters")
    return value or None


def _attributes(form: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key in form:
        m = _ATTRIBUTE_RE.match(key)
        if m is None:
            continue
        code = m.group(1)
        if code not in ATTRIBUTE_CODES:
            raise bad(key, f"未知属性 {code[:40]}（见 services/<service_code> 的 attributes）/ unknown attribute "
                           f"{code[:40]} (see the service definition)")
        value = (form.get(key) or "").strip()
        if value:
            out[code] = value
    return out


def _coordinate(form: Mapping[str, str]) -> str | None:
    lat, lng = form.get("lat"), form.get("long")
    if lat in (None, "") and lng in (None, ""):
        return None
    values = []
    for name, raw, bound in (("lat", lat, 90.0), ("long", lng, 180.0)):
        try:
            v = float(raw or "")
        except ValueError:
            raise bad(name, f"{name} 须为 ±{bound:g} 以内的十进制度数 / {name} must be decimal degrees within "
                            f"±{bound:g}") from None
        if not -bound <= v <= bound:
            raise bad(name, f"{name} 须为 ±{bound:g} 以内的十进制度数 / {name} must be decimal degrees within ±{bound:g}")
        values.append(raw.strip() if raw else "")
    return ",".join(values)


def _person_name(first: str | None, last: str | None) -> str | None:
    """A Chinese name is written family name first without a space (张 + 三 → 张三); any
    other keeps the Western order (John Smith)."""
    if first and last:
        if _CJK_RE.match(first) and _CJK_RE.match(last):
            return last + first
        return f"{first} {last}"
    return first or last


def default_region(node: Node) -> str | None:
    """The respondent's division when the client names none: the node's own county at a
    county or station node (a station's code is its county's + 3 digits); elsewhere none,
    so a complaint or report must name it."""
    if node.level == "county":
        return node.code
    if node.level == "station":
        return node.code[:6]
    return None


def case_payload(node: Node, form: Mapping[str, str]) -> dict[str, Any]:
    """The case input document (CONTRACT §5) for a POSTed service request."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise bad("service_code", "service_code 为必填项 / service_code is required")
    known_service(node, code)
    description = _text(form, "description", TEXT_MAX)
    if not description:
        raise bad("description", "description 为必填项（问题描述）/ description is required")
    name = _person_name(_text(form, "first_name", 100), _text(form, "last_name", 100))
    phone = _text(form, "phone", 20)
    email = _text(form, "email", 254)
    address = _text(form, "address_string", 500)
    attrs = _attributes(form)

    extra = []
    coordinate = _coordinate(form)
    if coordinate:
        extra.append(f"位置坐标 / coordinates (lat,long): {coordinate}")
    media_url = _text(form, "media_url", 2000)
    if media_url:
        extra.append(f"图片链接 / media_url: {media_url}")
    summary = next(line.strip() for line in description.splitlines() if line.strip())[:SUMMARY_MAX]
    kind = attrs.get("kind") or ("complaint" if name and phone and address else "consultation")

    payload: dict[str, Any] = {"kind": kind, "channel": "open311", "category": code, "summary": summary,
                               "description": "\n\n".join([description, *extra])}
    person = {k: v for k, v in (("name", name), ("phone", phone), ("email", email), ("address", address)) if v}
    if person:
        payload["complainant"] = person
    respondent = {key: attrs[attr] for key, attr in (("name", "respondent_name"), ("uscc", "respondent_uscc"),
                                                     ("region_code", "respondent_region_code"),
                                                     ("address", "respondent_address")) if attr in attrs}
    if kind in ("complaint", "report") and "region_code" not in respondent and default_region(node):
        respondent["region_code"] = default_region(node)
    if respondent:
        payload["respondent"] = respondent
    if "amount" in attrs:
        payload["amount"] = attrs["amount"]
    if "demand" in attrs:
        payload["demand"] = attrs["demand"]
    return payload


def create_request(node: Node, form: Mapping[str, str], key_name: str) -> dict[str, Any]:
    """Register the request as a case; the Open311 answer (``service_request_id`` …)."""
    payload = case_payload(node, form)
    try:
        case = create_case(node, payload, Actor(f"open311:{key_name}", "intake"))
    except NodeError as err:
        if err.status not in (400, 422):
            raise
        field = FIELD_NAMES.get(err.field or "", err.field or "description")
        raise bad(field, err.message) from None
    deadline = min((v for k, v in (case.get("deadlines") or {}).items()
                    if k.endswith("_by") and isinstance(v, str)), default=None)
    kind_zh = {"complaint": "投诉", "report": "举报", "consultation": "咨询"}[case["kind"]]
    notice = f"已登记为{kind_zh}，编号 {case['id']}，可凭编号查询进度"
    if deadline:
        notice += f"；处理期限 {deadline}"
    notice += f" / registered as a {case['kind']}, number {case['id']}"
    if deadline:
        notice += f"; due by {deadline}"
    return {"service_request_id": case["id"], "service_notice": notice, "account_id": None}


# -- GET -------------------------------------------------------------------------------------
def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _shown(value: Any) -> str | None:
    """A stored time as ISO 8601 at +08:00 (the standard asks for an offset)."""
    dt = _aware(value)
    return dt.astimezone(SHANGHAI).isoformat(timespec="seconds") if dt else None


def _end_of_day(value: Any) -> str | None:
    """A deadline (an Asia/Shanghai calendar date: "by that day") as the day's last second."""
    if value is None:
        return None
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return datetime.combine(day, time(23, 59, 59), SHANGHAI).isoformat()


def unit_name(node: Node, code: str | None) -> str | None:
    """The bureau (or station) a node code stands for."""
    if not code:
        return None
    if code == node.code and node.config.name:
        return str(node.config.name)
    if code == HQ_CODE:
        return "国家市场监督管理总局"
    div = load_divisions()
    full = div.full_name(code) if div.is_current(code) else None
    if full:
        return f"{full}市场监督管理局"
    if len(code) == 9 and div.full_name(code[:6]):
        return f"{div.full_name(code[:6])}市场监管所（{code}）"
    return code


def status_notes(row: Mapping[str, Any]) -> str:
    """The status in plain words, with the outcome once there is one."""
    status = row["status"]
    text_zh, text_en = STATUS_NAMES_ZH.get(status, status), status.replace("_", " ")
    outcome = json.loads(row["outcome"]) if row["outcome"] else None
    code = (outcome or {}).get("outcome")
    if code and code != status:
        label = OUTCOMES.get(code, (STATUS_NAMES_ZH.get(code, code),))[0]
        text_zh, text_en = f"{text_zh}（{label}）", f"{text_en} ({code.replace('_', ' ')})"
    return f"{text_zh} / {text_en}"


def _view(node: Node, row: Mapping[str, Any], table: Any) -> dict[str, Any]:
    closed = row["status"] in DONE_STATUSES
    respondent = json.loads(row["respondent"] or "null") or {}
    region = row["respondent_region"]
    address = respondent.get("address") or (load_divisions().full_name(region) if region else None)
    return {
        "service_request_id": row["case_id"],
        "status": "closed" if closed else "open",
        "status_notes": status_notes(row),
        "service_name": table.name(row["category"]) or row["category"],
        "service_code": row["category"],
        "description": row["description"] or row["summary"],
        "agency_responsible": unit_name(node, row["handling_node"]),
        "service_notice": None,
        "requested_datetime": _shown(row["received_at"]),
        "updated_datetime": _shown(row["updated_at"]),
        "expected_datetime": None if closed else _end_of_day(row["next_due"]),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _published():
    """Cases that came in through this interface; reports against staff never (R2.3)."""
    return (Case.select(*_COLUMNS)
            .where((Case.channel == "open311")
                   & (Case.department != DISCIPLINE)))


def get_request(node: Node, request_id: str) -> dict[str, Any]:
    row = (_published()
           .where(Case.case_id == request_id)
           .dicts()
           .first())
    if row is None:
        raise NodeError(404, "not_found", f"服务请求 {request_id[:40]} 不存在 / no service request {request_id[:40]}",
                        "service_request_id")
    return _view(node, row, categories(node))


def _parse_when(name: str, raw: str, end: bool) -> datetime:
    """A W3C date-time (``2026-09-01T00:00:00Z``, an offset required) or a date (Asia/Shanghai
    day: its start, or its end for ``end_date``)."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day + timedelta(days=1) if end else day, time(0), SHANGHAI)
        dt = datetime.fromisoformat(raw)
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise bad(name, f"{name} 须为带时区的 W3C 日期时间，如 2026-09-01T00:00:00+08:00 / {name} must be a W3C "
                        "date-time with an offset, e.g. 2026-09-01T00:00:00Z")
    return dt


def _list_param(args: Mapping[str, str], name: str) -> list[str]:
    return [v.strip() for v in (args.get(name) or "").split(",") if v.strip()]


def list_requests(node: Node, args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The standard filters: ``service_request_id`` (comma list; overrides the others),
    ``service_code`` (comma list), ``start_date``/``end_date`` (the request's date, at most
    90 days apart; default the last 90 days), ``status`` (``open``, ``closed``, comma list).
    Newest first, at most 1000."""
    query = _published()
    ids = _list_param(args, "service_request_id")
    if ids:
        query = query.where(Case.case_id.in_(ids[:MAX_ROWS]))
    else:
        codes = _list_param(args, "service_code")
        for code in codes:
            if not categories(node).is_known(code):
                raise bad("service_code", f"未知服务代码 {code[:32]} / unknown service_code {code[:32]}")
        statuses = set(_list_param(args, "status"))
        if statuses - {"open", "closed"}:
            raise bad("status", "status 须为 open 或 closed（可逗号分隔）/ status must be open or closed (comma list)")
        start_raw, end_raw = (args.get("start_date") or "").strip(), (args.get("end_date") or "").strip()
        start = _parse_when("start_date", start_raw, end=False) if start_raw else None
        end = _parse_when("end_date", end_raw, end=True) if end_raw else None
        if start is None and end is None:
            end = node.now()
        if start is None:
            start = end - DEFAULT_SPAN
        if end is None:
            end = start + DEFAULT_SPAN
        if end < start:
            raise bad("end_date", "end_date 早于 start_date / end_date is before start_date")
        if end - start > MAX_SPAN:
            raise bad("end_date", "start_date 与 end_date 相隔不得超过 90 天 / start_date and end_date may not be more "
                                  "than 90 days apart")
        lo, hi = start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)
        query = query.where((Case.received_date >= start.astimezone(SHANGHAI).date())
                            & (Case.received_date <= end.astimezone(SHANGHAI).date())
                            & (Case.received_at >= lo)
                            & (Case.received_at <= hi))
        if codes:
            query = query.where(Case.category.in_(codes))
        if statuses == {"open"}:
            query = query.where(Case.status.not_in(tuple(DONE_STATUSES)))
        elif statuses == {"closed"}:
            query = query.where(Case.status.in_(tuple(DONE_STATUSES)))
    rows = query.order_by(Case.received_at.desc(), Case.pk.desc()).limit(MAX_ROWS).dicts()
    table = categories(node)
    return [_view(node, row, table) for row in rows]
