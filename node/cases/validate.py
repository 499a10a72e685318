"""Validation of the case input document (CONTRACT §5) against the national data standard.

Serves R7.3 (one standard, province extensions), R1.1 (who may complain or report, by kind;
anonymous reports), R4.1 (complete, standard records) and Order 20 Art. 9 (what a complaint
must carry).

``validate_case_input`` is pure (no database, no Flask, no clock of its own): the web layer
parses JSON and calls it; it returns a normalised, frozen ``CaseInput`` or raises the first
problem as ``NodeError`` (400 for a body that is not an object, 422 naming the field as a
dotted path otherwise). Nothing is stored on any error because nothing here stores.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from node.cases.category_table import CategoryTable
from node.cases.checks import (
    check_date,
    check_email,
    check_phone,
    check_text,
    field_label,
    parse_money,
    parse_received_at,
    required_error,
)
from node.cases.extensions import validate_extensions
from node.cases.standard import FIELD_SPECS, SERVER_FIELD_NAMES, SHANGHAI, SPECS_BY_NAME
from node.cases.uscc import check_uscc, normalize_uscc
from node.divisions import HQ_CODE, DivisionTable
from node.errors import NodeError, invalid, shown

# Allowed keys per object ("" = the top level), derived from FIELD_SPECS.
_ALLOWED_KEYS: dict[str, frozenset[str]] = {}
for _s in FIELD_SPECS:
    _ALLOWED_KEYS.setdefault(_s.parent or "", frozenset())
    _ALLOWED_KEYS[_s.parent or ""] = _ALLOWED_KEYS[_s.parent or ""] | {_s.key}
del _s


# -- the normalised result -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Complainant:
    name: str | None
    phone: str | None
    address: str | None
    anonymous: bool
    email: str | None = None
    type: str | None = None      # individual | organisation; None: not given (individual)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "phone": self.phone, "address": self.address,
                               "anonymous": self.anonymous}
        # only when given: a case stored before issue 12 and one without them look the same
        if self.email:
            out["email"] = self.email
        if self.type:
            out["type"] = self.type
        return out


@dataclass(frozen=True, slots=True)
class Respondent:
    name: str | None
    uscc: str | None
    region_code: str | None
    address: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uscc": self.uscc, "region_code": self.region_code,
                "address": self.address}


@dataclass(frozen=True, slots=True)
class CaseInput:
    """A validated case input document (CONTRACT §5), normalised.

    Strings are stripped; optional fields left out (or blank) are ``None``; money is a
    two-decimal string (``"1299.00"``); ``received_at`` is an aware datetime in UTC (defaults
    to ``now``); ``report_target`` is ``"business"``/``"staff"`` for reports and ``None``
    otherwise; ``complainant`` is ``None`` only when a consultation gave none (a report without
    one is anonymous); ``extensions_province`` names the province whose schema validated
    ``extensions`` (``None`` when none applied and ``extensions`` is empty).
    """

    kind: str
    report_target: str | None
    channel: str
    received_at: datetime
    urgency: str
    complainant: Complainant | None
    respondent: Respondent | None
    category: str
    summary: str
    description: str | None
    amount: str | None
    amount_recovered: str | None
    extensions: dict[str, Any] = field(default_factory=dict)
    extensions_province: str | None = None
    demand: str | None = None
    occurred_on: date | None = None

    @property
    def received_on(self) -> date:
        """The receipt date on the Asia/Shanghai calendar (case id, deadlines)."""
        return self.received_at.astimezone(SHANGHAI).date()

    @property
    def region_code(self) -> str | None:
        return self.respondent.region_code if self.respondent is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The input document in its normalised JSON form (``received_at`` shown at +08:00)."""
        return {
            "kind": self.kind,
            "report_target": self.report_target,
            "channel": self.channel,
            "received_at": self.received_at.astimezone(SHANGHAI).isoformat(),
            "urgency": self.urgency,
            "complainant": self.complainant.to_dict() if self.complainant else None,
            "respondent": self.respondent.to_dict() if self.respondent else None,
            "category": self.category,
            "summary": self.summary,
            "description": self.description,
            "amount": self.amount,
            "amount_recovered": self.amount_recovered,
            "extensions": json.loads(json.dumps(self.extensions)),  # a deep copy
            "demand": self.demand,
            "occurred_on": self.occurred_on.isoformat() if self.occurred_on else None,
        }


# -- the checks ----------------------------------------------------------------------------------
def _check_enum(value: Any, name: str) -> str:
    spec = SPECS_BY_NAME[name]
    allowed = spec.enum_values
    if not isinstance(value, str) or value not in allowed:
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        raise NodeError(
            422,
            "invalid_enum",
            f"{spec.label_zh}（{name}）取值无效：{shown[:50]!s}，可选值：{'、'.join(allowed)}"
            f" / {name} must be one of {', '.join(allowed)}",
            name,
        )
    return value


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(name, f"{field_label(name)}（{name}）须为 true 或 false / {name} must be a boolean")
    return value


def _check_unknown_keys(obj: Mapping[str, Any], scope: str) -> None:
    allowed = _ALLOWED_KEYS[scope]
    for key in obj:
        if key in allowed:
            continue
        dotted = shown(f"{scope}.{key}" if scope else str(key), 80)
        # "未知字段 / unknown field" stays one fixed phrase so clients and tests can match it.
        if not scope and key in SERVER_FIELD_NAMES:
            message = f"未知字段 / unknown field: {dotted}（由系统设置，不可提交 / set by the server）"
        else:
            message = f"未知字段 / unknown field: {dotted}"
        raise NodeError(422, "unknown_field", message, dotted)


def _object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(name, f"{field_label(name)}（{name}）须为对象 / {name} must be an object")
    _check_unknown_keys(value, name)
    return value


def _opt_text(obj: Mapping[str, Any] | None, name: str) -> str | None:
    """An optional text field: absent, null or blank → None."""
    if obj is None:
        return None
    value = obj.get(SPECS_BY_NAME[name].key)
    if value is None:
        return None
    text = check_text(value, name, max_length=SPECS_BY_NAME[name].max_length)
    return text or None


def _required_text(obj: Mapping[str, Any] | None, name: str) -> str:
    value = None if obj is None else obj.get(SPECS_BY_NAME[name].key)
    if value is None:
        raise required_error(name)
    text = check_text(value, name, max_length=SPECS_BY_NAME[name].max_length)
    if not text:
        raise NodeError(422, "required", f"{field_label(name)}（{name}）不能为空 / {name} must not be empty", name)
    return text


def _opt_phone(obj: Mapping[str, Any] | None, name: str) -> str | None:
    if obj is None or obj.get("phone") is None:
        return None
    return check_phone(obj["phone"], name) or None


def validate_case_input(
    payload: Any,
    *,
    divisions: DivisionTable,
    categories: CategoryTable,
    extension_schemas: Mapping[str, dict[str, Any]],
    now: datetime,
    accepting_province: str | None = None,
) -> CaseInput:
    """Validate and normalise a case input document (CONTRACT §5) or raise ``NodeError``.

    ``now`` is the server's aware current time (injected: default ``received_at`` and the
    future check). ``accepting_province`` is the province of the accepting node (``None`` at
    HQ); it picks the extension schema when there is no ``respondent.region_code``.
    Checks run in a fixed order and the first failure is raised: body shape → unknown fields
    → enums and types in document order → kind-specific requirements → extensions.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")  # a programming error, not a 422
    if not isinstance(payload, dict):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / the body must be a JSON object")

    _check_unknown_keys(payload, "")
    complainant_obj = _object(payload.get("complainant"), "complainant")
    respondent_obj = _object(payload.get("respondent"), "respondent")

    # -- enums --------------------------------------------------------------------------
    if payload.get("kind") is None:
        raise required_error("kind")
    kind = _check_enum(payload["kind"], "kind")

    report_target: str | None = None
    if payload.get("report_target") is not None:
        report_target = _check_enum(payload["report_target"], "report_target")
        if kind not in SPECS_BY_NAME["report_target"].applies_to:
            raise invalid(
                "report_target",
                f"举报对象（report_target）仅适用于举报 / report_target applies to reports only, not to a {kind}",
            )
    elif kind == "report":
        report_target = "business"

    if payload.get("channel") is None:
        raise required_error("channel")
    channel = _check_enum(payload["channel"], "channel")

    if payload.get("received_at") is None:
        received_at = now.astimezone(UTC)
    else:
        received_at = parse_received_at(payload["received_at"], "received_at", now)

    urgency = "general" if payload.get("urgency") is None else _check_enum(payload["urgency"], "urgency")

    # -- complainant ----------------------------------------------------------------------
    complainant = _validate_complainant(kind, complainant_obj)

    # -- respondent -----------------------------------------------------------------------
    respondent: Respondent | None = None
    if respondent_obj is not None:
        r_name = _opt_text(respondent_obj, "respondent.name")
        uscc: str | None = None
        if respondent_obj.get("uscc") is not None:
            raw = check_text(respondent_obj["uscc"], "respondent.uscc")
            if raw:
                uscc = normalize_uscc(raw)
                check_uscc(uscc, "respondent.uscc")
        region_code: str | None = None
        if respondent_obj.get("region_code") is not None:
            raw_region = respondent_obj["region_code"]
            if isinstance(raw_region, str):
                raw_region = raw_region.strip()
            divisions.check_current(raw_region, "respondent.region_code")
            region_code = raw_region
        r_address = _opt_text(respondent_obj, "respondent.address")
        if any(v is not None for v in (r_name, uscc, region_code, r_address)):
            respondent = Respondent(name=r_name, uscc=uscc, region_code=region_code, address=r_address)
    if kind in SPECS_BY_NAME["respondent.region_code"].required_for and (
        respondent is None or respondent.region_code is None
    ):
        raise required_error("respondent.region_code")

    # -- category, texts, money -----------------------------------------------------------
    if payload.get("category") is None:
        raise required_error("category")
    category = check_text(payload["category"], "category",
                          max_length=SPECS_BY_NAME["category"].max_length)
    if not category:
        raise required_error("category")
    if not categories.is_known(category):
        raise NodeError(
            422,
            "unknown_category",
            f"未知的分类代码 {category[:32]} / unknown category code {category[:32]}"
            " (see GET /api/v1/categories)",
            "category",
        )

    summary = _required_text(payload, "summary")
    description = _opt_text(payload, "description")
    demand = _opt_text(payload, "demand")
    occurred_on = None
    if payload.get("occurred_on") not in (None, ""):
        occurred_on = check_date(payload["occurred_on"], "occurred_on", received_at.astimezone(SHANGHAI).date())
    amount = None if payload.get("amount") is None else parse_money(payload["amount"], "amount")
    amount_recovered = (
        None
        if payload.get("amount_recovered") is None
        else parse_money(payload["amount_recovered"], "amount_recovered")
    )

    # -- extensions -----------------------------------------------------------------------
    if respondent is not None and respondent.region_code is not None:
        province = divisions.province_of(respondent.region_code)
    else:
        province = accepting_province if accepting_province not in (None, HQ_CODE) else None
    extensions, ext_province = validate_extensions(
        payload.get("extensions"), province, extension_schemas, divisions
    )

    return CaseInput(
        kind=kind,
        report_target=report_target,
        channel=channel,
        received_at=received_at,
        urgency=urgency,
        complainant=complainant,
        respondent=respondent,
        category=category,
        summary=summary,
        description=description,
        amount=amount,
        amount_recovered=amount_recovered,
        extensions=extensions,
        extensions_province=ext_province,
        demand=demand,
        occurred_on=occurred_on,
    )


def _validate_complainant(kind: str, obj: Mapping[str, Any] | None) -> Complainant | None:
    """Who complains or reports, by kind (Order 20 Art. 9 for complaints; reports may be
    anonymous; a consultation needs nobody)."""
    anonymous_given: bool | None = None
    if obj is not None and obj.get("anonymous") is not None:
        anonymous_given = _check_bool(obj["anonymous"], "complainant.anonymous")
    name = _opt_text(obj, "complainant.name")
    phone = _opt_phone(obj, "complainant.phone")
    address = _opt_text(obj, "complainant.address")
    email = None
    if obj is not None and obj.get("email") not in (None, ""):
        email = check_email(obj["email"], "complainant.email") or None
    ctype = None
    if obj is not None and obj.get("type") is not None:
        ctype = _check_enum(obj["type"], "complainant.type")
    extra = {"email": email, "type": ctype}

    if kind == "complaint":
        if anonymous_given:
            raise invalid(
                "complainant.anonymous",
                "投诉不能匿名，须提供投诉人姓名、电话、通讯地址（《市场监督管理投诉举报处理暂行办法》第九条）"
                " / a complaint cannot be anonymous: the complainant's name, phone and address are"
                " required (Order 20 Art. 9)",
            )
        # Required in the order Art. 9(1) lists them; blank counts as missing.
        for key, value in (("name", name), ("phone", phone), ("address", address)):
            if value is None:
                fieldname = f"complainant.{key}"
                given = obj is not None and obj.get(key) is not None
                if given:
                    raise NodeError(422, "required", f"{field_label(fieldname)}（{fieldname}）不能为空 / {fieldname} must not be empty", fieldname)
                raise NodeError(
                    422,
                    "required",
                    f"投诉人{field_label(fieldname)}（{fieldname}）为必填项 / {fieldname} is required for a"
                    " complaint (Order 20 Art. 9)",
                    fieldname,
                )
        return Complainant(name=name, phone=phone, address=address, anonymous=False, **extra)

    if anonymous_given:
        # Anonymous means the reporter is not named (CONTRACT §5: "no name or phone"): a name or
        # phone is refused rather than silently dropped; an address given is kept.
        for key, value in (("name", name), ("phone", phone), ("email", email)):
            if value is not None:
                fieldname = f"complainant.{key}"
                raise invalid(
                    fieldname,
                    f"匿名时不应填写{field_label(fieldname)}（{fieldname}） / {fieldname} must be empty"
                    " when complainant.anonymous is true",
                )
        return Complainant(name=None, phone=None, address=address, anonymous=True)

    if kind == "report":
        if anonymous_given is None and name is None and phone is None:
            # Nobody named and no stated choice: an anonymous report (CONTRACT §5 allows it).
            if email is not None:
                raise invalid("complainant.email", "匿名举报不应填写电子邮箱；实名举报请填写姓名和电话 / an anonymous "
                                                   "report takes no e-mail; for a named report give name and phone")
            return Complainant(name=None, phone=None, address=address, anonymous=True)
        named = _named_report(name, phone, address)
        return Complainant(name=named.name, phone=named.phone, address=named.address, anonymous=False, **extra)

    # consultation
    if obj is None:
        return None
    return Complainant(name=name, phone=phone, address=address, anonymous=bool(anonymous_given), **extra)


def _named_report(name: str | None, phone: str | None, address: str | None) -> Complainant:
    """A real-name report: the reporter is told whether a case was opened (Order 20 Art. 31),
    so name and phone are both needed."""
    for key, value in (("name", name), ("phone", phone)):
        if value is None:
            fieldname = f"complainant.{key}"
            raise NodeError(
                422,
                "required",
                f"实名举报须填写举报人{field_label(fieldname)}（{fieldname}），或设 complainant.anonymous 为 true"
                f" / {fieldname} is required for a real-name report (or set complainant.anonymous: true)",
                fieldname,
            )
    return Complainant(name=name, phone=phone, address=address, anonymous=False)

