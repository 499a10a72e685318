"""The national data standard v1 for cases: field definitions and input validation.

Serves R7.3 (one national data standard issued by HQ; provinces add local extension fields),
R1.1 (three kinds, reports against businesses *and* against enforcement staff), R1.2
(channels), R1.4 (urgency grades), R4.1 (complete, standard records) and CONTRACT §5.

``FIELD_SPECS`` is the single source of truth for the input document: the validator reads
its enums and limits from it, and ``render_data_standard_markdown()`` renders it (with the
server-set fields, statuses, actions, coded decline and mediation-end grounds, and the default
category table) into ``docs/data-standard.md``; a test fails when the file is stale.

``validate_case_input`` is pure (no database, no Flask, no clock of its own): the web layer
parses JSON and calls it; it returns a normalised, frozen ``CaseInput`` or raises the first
problem as ``NodeError`` (400 for a body that is not an object, 422 naming the field as a
dotted path otherwise). Nothing is stored on any error because nothing here stores.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from node.divisions import HQ_CODE, DivisionTable
from node.errors import NodeError, invalid
from node.cases.categories import CategoryTable
from node.cases.uscc import check_uscc, normalize_uscc

STANDARD_VERSION = "1"

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# date a case can carry and needs no tzdata on the host.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# A clerk's or a partner system's clock may run a little ahead of ours; more than this is a
# typo (wrong year/month) that would distort deadlines, so it is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)

# Up to 999,999,999,999.99 CNY: more than any consumer dispute, small enough that a pasted
# phone number or an ID number in the amount field is caught.
MONEY_MAX_INTEGER_DIGITS = 12

DEFAULT_EXTENSIONS_DIR = Path(__file__).resolve().parents[2] / "configs" / "extensions"


# ---------------------------------------------------------------------------------------------
# Field definitions (the data, rendered into docs/data-standard.md)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EnumValue:
    value: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the case input document.

    ``type`` is one of: ``enum``, ``text``, ``phone``, ``datetime``, ``money``, ``boolean``,
    ``object``, ``division`` (a current division code), ``category`` (a category code),
    ``uscc``, ``extensions``.
    ``required_for`` lists the kinds for which the field is required; ``required_note`` adds a
    condition the list cannot express (anonymous reports).
    """

    name: str
    type: str
    label_zh: str
    description_en: str
    required_for: tuple[str, ...] = ()
    required_note: str = ""
    enum: tuple[EnumValue, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    default: str | None = None
    applies_to: tuple[str, ...] = ()  # kinds the field may be given for; () = every kind

    @property
    def enum_values(self) -> tuple[str, ...]:
        return tuple(e.value for e in self.enum)

    @property
    def parent(self) -> str | None:
        return self.name.rpartition(".")[0] or None

    @property
    def key(self) -> str:
        return self.name.rpartition(".")[2]


KINDS: tuple[EnumValue, ...] = (
    EnumValue("consultation", "咨询", "consultation: a question, answered and recorded (R1.3)"),
    EnumValue("complaint", "投诉", "complaint: a consumer dispute with a business, for mediation"),
    EnumValue("report", "举报", "report: a lead on a violation by a business or by enforcement staff"),
)
ALL_KINDS = tuple(k.value for k in KINDS)

REPORT_TARGETS: tuple[EnumValue, ...] = (
    EnumValue("business", "经营者违法行为", "a business's violation of market-regulation law"),
    EnumValue("staff", "执法人员违法违纪", "misconduct of enforcement staff (handled by discipline inspection, confidential, R2.3)"),
)

CHANNELS: tuple[EnumValue, ...] = (
    EnumValue("phone", "12315 电话", "12315 hotline (taken centrally at province or prefecture level)"),
    EnumValue("visit", "来访", "visit in person (every level)"),
    EnumValue("letter", "来信", "letter (every level)"),
    EnumValue("web", "网络（12315 平台）", "online: the 12315 web platform, app or mini-program"),
    EnumValue("open311", "Open311 接口", "a partner system through the Open311-style interface"),
    EnumValue("complaint_point", "投诉站 / 企业投诉点", "a complaint station or an enterprise complaint point (R5.1)"),
    EnumValue("association", "消费者协会", "a consumer association or its branches (R6.1)"),
    EnumValue("media", "媒体线索", "a lead from the media (R6.4)"),
    EnumValue("direct_report", "数据直报点", "one of HQ's direct-report points (R4.2)"),
)

URGENCIES: tuple[EnumValue, ...] = (
    EnumValue("general", "一般", "general"),
    EnumValue("urgent", "紧急", "urgent"),
    EnumValue("critical", "特别紧急", "especially urgent (major or sudden consumer-safety matter, R3.4)"),
)

_COMPLAINT_REPORT = ("complaint", "report")

FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("kind", "enum", "类型", "What the person asks for.",
              required_for=ALL_KINDS, enum=KINDS),
    FieldSpec("report_target", "enum", "举报对象", "Whom a report is about. Reports only; absent means business.",
              enum=REPORT_TARGETS, default="business (reports)", applies_to=("report",)),
    FieldSpec("channel", "enum", "来源渠道", "How the matter reached the network (R1.2).",
              required_for=ALL_KINDS, enum=CHANNELS),
    FieldSpec("received_at", "datetime", "登记时间", "When it was received: ISO 8601 with a UTC offset, at most 5 minutes in the future. The receipt date (Asia/Shanghai) starts the deadlines.",
              default="now"),
    FieldSpec("urgency", "enum", "紧急程度", "Triage grade (R1.4).", enum=URGENCIES, default="general"),
    FieldSpec("complainant", "object", "投诉人 / 举报人", "The consumer or reporter."),
    FieldSpec("complainant.name", "text", "姓名", "Name of the complainant or reporter.",
              required_for=("complaint",), required_note="real-name report", max_length=200),
    FieldSpec("complainant.phone", "phone", "联系电话", "Phone: digits, '+', '-' and spaces; at least 5 digits.",
              required_for=("complaint",), required_note="real-name report", min_length=5, max_length=20),
    FieldSpec("complainant.address", "text", "通讯地址", "Postal address.",
              required_for=("complaint",), max_length=500),
    FieldSpec("complainant.anonymous", "boolean", "匿名", "An anonymous report: no name, phone or address. A complaint cannot be anonymous (Order 20 Art. 9).",
              default="false (true for a report without name or phone)"),
    FieldSpec("respondent", "object", "被投诉人 / 被举报人", "The business (or, for a staff report, the unit or person) the matter is about."),
    FieldSpec("respondent.name", "text", "名称（姓名）", "Name of the business or person.", max_length=200),
    FieldSpec("respondent.uscc", "uscc", "统一社会信用代码", "Unified Social Credit Code, 18 characters, check character per GB 32100-2015; lower case is accepted and stored upper case.",
              min_length=18, max_length=18),
    FieldSpec("respondent.region_code", "division", "所在行政区划", "Current 6-digit division code (GB/T 2260) of the respondent's location; decides jurisdiction and routing (R1.5).",
              required_for=_COMPLAINT_REPORT, min_length=6, max_length=6),
    FieldSpec("respondent.address", "text", "地址", "Address of the respondent.", max_length=500),
    FieldSpec("category", "category", "商品 / 服务分类", "A code of the node's category table (GET /api/v1/categories).",
              required_for=ALL_KINDS, max_length=32),
    FieldSpec("summary", "text", "摘要", "One-line summary.", required_for=ALL_KINDS, max_length=200),
    FieldSpec("description", "text", "详细情况", "Facts and request (line breaks allowed).", max_length=20_000),
    FieldSpec("amount", "money", "涉案金额（元）", "Amount in dispute, CNY: a decimal string ≥ 0 with at most two decimals, e.g. \"1299.00\"; never a JSON number."),
    FieldSpec("amount_recovered", "money", "挽回经济损失（元）", "Amount recovered for the consumer, CNY, same format (usually set by the conclude action)."),
    FieldSpec("extensions", "extensions", "省级扩展字段", "Province extension fields, validated against the JSON Schema of the province owning respondent.region_code (configs/extensions/); empty when that province has none."),
)

SPECS_BY_NAME: dict[str, FieldSpec] = {s.name: s for s in FIELD_SPECS}

# Allowed keys per object ("" = the top level), derived from FIELD_SPECS.
_ALLOWED_KEYS: dict[str, frozenset[str]] = {}
for _s in FIELD_SPECS:
    _ALLOWED_KEYS.setdefault(_s.parent or "", frozenset())
    _ALLOWED_KEYS[_s.parent or ""] = _ALLOWED_KEYS[_s.parent or ""] | {_s.key}
del _s


@dataclass(frozen=True, slots=True)
class ServerField:
    name: str
    type: str
    label_zh: str
    description_en: str


SERVER_FIELDS: tuple[ServerField, ...] = (
    ServerField("id", "string", "案件编号", "`<accepting node code>-<receipt date YYYYMMDD>-<6-digit counter per node and day>`, e.g. `440305-20260929-000001`; the same at every node that holds the case."),
    ServerField("status", "enum", "状态", "See *Statuses*; starts `registered`."),
    ServerField("accepting_node", "node code", "登记单位", "The node that took the case in (who accepts, enters, R4.1); statistics count the case in its subtree."),
    ServerField("handling_node", "node code", "承办单位", "The node with jurisdiction that handles it now (R1.5, R2)."),
    ServerField("rule_set", "string", "时限规则集", "Which versioned deadline rules apply: those in force on the receipt date, for the case's whole life."),
    ServerField("deadlines", "object", "办理时限", "`{\"accept_by\": \"YYYY-MM-DD\", \"conclude_by\": null until accepted, ...}`, Asia/Shanghai calendar dates counted in working days."),
    ServerField("outcome", "object", "办理结果", "Set by `conclude`: `outcome` code, `amount_recovered`, `note`; `satisfaction` from `feedback`."),
    ServerField("history", "list", "办理记录", "Every change: `{\"at\", \"node\", \"actor\", \"action\", \"from_status\", \"to_status\", \"note\"}`, `at` ISO 8601 with offset."),
)
SERVER_FIELD_NAMES = frozenset(f.name for f in SERVER_FIELDS)

CASE_ID_RE = re.compile(r"^(?P<node>\d{6}|\d{9})-(?P<date>\d{8})-(?P<counter>\d{6})$")

STATUSES: dict[str, tuple[str, str]] = {
    "registered": ("已登记", "registered, awaiting the decision to accept"),
    "accepted": ("已受理", "complaint accepted (mediation or investigation)"),
    "declined": ("不予受理", "not accepted, with a coded ground (Order 20 Art. 15)"),
    "transferred": ("已转办", "sent to another node or the competent business department"),
    "referred": ("已移送 / 告知", "outside the system's remit: referred to the competent body, or the consumer told which body is competent (R2.5)"),
    "in_mediation": ("调解中", "mediation under way"),
    "concluded": ("已办结", "handling finished with an outcome"),
    "closed": ("已归档", "closed after feedback / follow-up"),
    "verifying": ("核查中", "report being verified"),
    "filed": ("已立案", "an enforcement case was opened on the report"),
    "not_filed": ("不予立案", "no enforcement case opened"),
    "answered": ("已答复", "consultation answered"),
}

STATUS_FLOWS: tuple[tuple[str, str], ...] = (
    ("complaint", "`registered` → `accepted` | `declined` | `transferred` | `referred`; `accepted` → `in_mediation` → `concluded` → `closed` (`conclude` is allowed from `accepted` and from `in_mediation`)"),
    ("report", "`registered` → `verifying` → `filed` | `not_filed` → `concluded`"),
    ("consultation", "`registered` → `answered`"),
)

ACTIONS: dict[str, tuple[str, str, str]] = {
    # code: (Chinese, English, parameters)
    "accept": ("受理", "accept the complaint", "`mode`: `mediation` | `investigation` (optional)"),
    "decline": ("不予受理", "decline the complaint", "`reason`: a code of *Decline grounds*, `note`"),
    "route": ("分流", "send to the node with jurisdiction (R1.5)", "`to`: a node code or `\"auto\"`"),
    "return": ("退回", "send back: this unit is the wrong one; the routing node routes again", "`reason`"),
    "escalate": ("上报", "beyond this level's authority: to the level above (R2.4)", "`reason`"),
    "refer": ("移送 / 告知", "outside the remit: to the competent body (R2.5)", "`body`, `reason`"),
    "mediate": ("调解", "start mediation", ""),
    "conclude": ("办结", "finish with an outcome (R2.6)", "`outcome` (see *Outcomes*), `amount_recovered`, `note`; ending mediation without agreement names a code of *Grounds for ending mediation*"),
    "feedback": ("回访", "record the complainant's satisfaction (R2.7)", "`satisfaction`: see *Satisfaction*"),
    "answer": ("答复", "answer a consultation (R1.3)", "`text`"),
}

OUTCOMES: dict[str, tuple[str, str]] = {
    "mediated": ("调解成功", "mediation reached an agreement"),
    "not_mediated": ("终止调解", "mediation ended without agreement (Order 20 Art. 21)"),
    "settled": ("和解", "the parties settled themselves (incl. the enterprise green channel, R5.1)"),
    "withdrawn": ("撤回", "the complainant withdrew"),
    "filed": ("立案", "an enforcement case was opened (reports)"),
    "not_filed": ("不予立案", "no enforcement case opened (reports)"),
}

SATISFACTION: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "satisfied"),
    "basically_satisfied": ("基本满意", "basically satisfied"),
    "dissatisfied": ("不满意", "dissatisfied"),
}

# SAMR Order No. 20 (市场监督管理投诉举报处理暂行办法, 2019, amended 2022), Art. 15: the cases in
# which a complaint is not accepted. The article has six items; the codes map one to one.
DECLINE_GROUNDS: dict[str, tuple[str, str]] = {
    "outside_remit": (
        "投诉事项不属于市场监督管理部门职责，或者本行政机关不具有处理权限",
        "the matter is not within market regulation's remit, or this authority has no power to handle it",
    ),
    "already_handled": (
        "法院、仲裁机构、市场监督管理部门或者其他行政机关、消费者协会或者依法成立的其他调解组织已经受理或者处理过同一消费者权益争议",
        "a court, arbitration body, market-regulation or other administrative authority, consumer association or other lawful mediation body has already accepted or handled the same dispute",
    ),
    "not_consumption": (
        "不是为生活消费需要购买、使用商品或者接受服务，或者不能证明与被投诉人之间存在消费者权益争议",
        "the goods or services were not bought or used for personal consumption, or no consumer dispute with the respondent can be shown",
    ),
    "time_barred": (
        "除法律另有规定外，投诉人知道或者应当知道自己的权益受到被投诉人侵害之日起超过三年",
        "unless the law provides otherwise, more than three years have passed since the complainant knew or should have known of the infringement",
    ),
    "materials_missing": (
        "未提供本办法第九条第一款和第十条规定的材料",
        "the materials required by Art. 9(1) and Art. 10 were not provided",
    ),
    "other_legal_ground": (
        "法律、法规、规章规定不予受理的其他情形",
        "other cases in which laws, regulations or rules exclude acceptance",
    ),
}
DECLINE_GROUND_BASIS: dict[str, str] = {
    code: f"Order 20 Art. 15({n})" for n, code in enumerate(DECLINE_GROUNDS, start=1)
}

# Order No. 20 Art. 21: the cases in which mediation is terminated (seven items). The notice
# that mediation ended is due within 7 working days of the decision (same article).
MEDIATION_END_GROUNDS: dict[str, tuple[str, str]] = {
    "withdrawn_or_settled": (
        "投诉人撤回投诉或者双方自行和解",
        "the complainant withdrew the complaint, or the parties settled between themselves",
    ),
    "no_agreement_on_testing": (
        "投诉人与被投诉人对委托承担检定、检验、检测、鉴定工作的技术机构或者费用承担无法协商一致",
        "the parties cannot agree on the technical body for verification, inspection, testing or appraisal, or on who bears its cost",
    ),
    "absent_or_refused": (
        "投诉人或者被投诉人无正当理由不参加调解，或者被投诉人明确拒绝调解",
        "a party fails to take part in mediation without good reason, or the respondent expressly refuses mediation",
    ),
    "no_agreement": (
        "经组织调解，投诉人或者被投诉人明确表示无法达成调解协议",
        "after mediation was organised, a party states expressly that no agreement can be reached",
    ),
    "time_limit_reached": (
        "自投诉受理之日起四十五个工作日内投诉人和被投诉人未能达成调解协议",
        "no agreement within 45 working days of acceptance",
    ),
    "art15_ground_found": (
        "市场监督管理部门受理投诉后，发现存在本办法第十五条规定情形",
        "after acceptance, a ground of Art. 15 (not to accept) is found",
    ),
    "other_legal_ground": (
        "法律、法规、规章规定的应当终止调解的其他情形",
        "other cases in which laws, regulations or rules require mediation to end",
    ),
}
MEDIATION_END_GROUND_BASIS: dict[str, str] = {
    code: f"Order 20 Art. 21({n})" for n, code in enumerate(MEDIATION_END_GROUNDS, start=1)
}


# ---------------------------------------------------------------------------------------------
# The normalised result
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Complainant:
    name: str | None
    phone: str | None
    address: str | None
    anonymous: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "phone": self.phone, "address": self.address,
                "anonymous": self.anonymous}


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
        }


# ---------------------------------------------------------------------------------------------
# Field-level checks (public: the actions reuse them, e.g. conclude's amount_recovered)
# ---------------------------------------------------------------------------------------------

# C0 controls except \t \n \r, DEL, C1 controls, and lone surrogates (JSON "\ud800" decodes to
# one; it cannot be encoded as UTF-8, so it would break canonical JSON and the database).
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MONEY_RE = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]*[0-9]$")


def _label(name: str) -> str:
    spec = SPECS_BY_NAME.get(name)
    return spec.label_zh if spec is not None else name


def required_error(name: str) -> NodeError:
    return NodeError(422, "required", f"{_label(name)}（{name}）为必填项 / {name} is required", name)


def check_text(value: Any, name: str, *, max_length: int | None = None) -> str:
    """A string without control characters, stripped, at most ``max_length`` characters.

    Returns the stripped string (possibly empty: the caller decides whether blank is allowed).
    """
    label = _label(name)
    if not isinstance(value, str):
        raise invalid(name, f"{label}（{name}）须为字符串 / {name} must be a string")
    bad = _BAD_CHAR_RE.search(value)
    if bad is not None:
        raise invalid(
            name,
            f"{label}（{name}）含控制字符或无效字符 U+{ord(bad.group()):04X}"
            f" / {name} contains a control or invalid character U+{ord(bad.group()):04X}",
        )
    text = value.strip()
    if max_length is not None and len(text) > max_length:
        raise NodeError(
            422,
            "too_long",
            f"{label}（{name}）超过 {max_length} 字（实为 {len(text)} 字）"
            f" / {name} is longer than {max_length:,} characters ({len(text):,})",
            name,
        )
    return text


def parse_money(value: Any, name: str) -> str:
    """A CNY amount: decimal string ≥ 0, at most two decimals → normalised ``"1299.00"``.

    Money never travels as a float (binary floats cannot hold 0.1 exactly, and canonical JSON
    refuses them), so a JSON number is refused with a message that says so.
    """
    label = _label(name)
    if isinstance(value, (bool, int, float)):  # bool is an int subclass: refused too
        raise NodeError(
            422,
            "money_not_string",
            f"金额须为字符串，如 \"1299.00\"，不得为 JSON 数字（{name}）"
            f" / {name}: amount must be a decimal string such as \"1299.00\", not a JSON number"
            " (money never travels as a float)",
            name,
        )
    if not isinstance(value, str):
        raise invalid(name, f"{label}（{name}）须为字符串，如 \"1299.00\" / {name} must be a decimal string such as \"1299.00\"")
    text = value.strip()
    if text.startswith("-"):
        raise invalid(name, f"{label}（{name}）不得为负数 / {name} must not be negative")
    m = _MONEY_RE.match(text)
    if m is None:
        raise invalid(
            name,
            f"{label}（{name}）格式不正确：{value!r}，应为不超过两位小数的非负数，如 \"1299.00\""
            f" / {name} must be a non-negative decimal with at most two decimals, such as \"1299.00\"",
        )
    if len(m.group("int").lstrip("0")) > MONEY_MAX_INTEGER_DIGITS:
        raise invalid(
            name,
            f"{label}（{name}）数额过大 / {name} exceeds {MONEY_MAX_INTEGER_DIGITS} integer digits",
        )
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation as e:  # pragma: no cover - the regex admits only valid decimals
        raise invalid(name, f"{label}（{name}）格式不正确 / {name} is not a decimal") from e
    return f"{amount:.2f}"


def parse_received_at(value: Any, name: str, now: datetime) -> datetime:
    """ISO 8601 with a UTC offset, not more than 5 minutes after ``now`` → aware UTC datetime."""
    if not isinstance(value, str):
        raise invalid(name, f"登记时间（{name}）须为 ISO 8601 字符串 / {name} must be an ISO 8601 string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            name,
            f"登记时间（{name}）格式不正确：{value!r}，应如 2026-09-29T10:00:00+08:00"
            f" / {name} must be ISO 8601 with an offset, e.g. 2026-09-29T10:00:00+08:00",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise invalid(
            name,
            f"登记时间（{name}）须带时区偏移，如 +08:00 / {name} must carry a UTC offset such as"
            " +08:00 (a time without one is ambiguous)",
        )
    if parsed > now + FUTURE_TOLERANCE:
        raise invalid(
            name,
            f"登记时间（{name}）{text} 晚于当前时间（允许误差 5 分钟）"
            f" / {name} {text} is in the future (more than 5 minutes after the server's clock)",
        )
    return parsed.astimezone(UTC)


def check_phone(value: Any, name: str) -> str:
    text = check_text(value, name, max_length=None)
    if not text:
        return text
    spec = SPECS_BY_NAME.get(name)
    lo = spec.min_length if spec and spec.min_length else 5
    hi = spec.max_length if spec and spec.max_length else 20
    digits = sum(c.isdigit() for c in text)
    if not (lo <= len(text) <= hi) or _PHONE_RE.match(text) is None or digits < lo:
        raise invalid(
            name,
            f"联系电话（{name}）格式不正确：只能含数字、+、- 和空格，{lo}–{hi} 位"
            f" / {name} must be {lo}-{hi} characters of digits, '+', '-' and spaces",
        )
    return text


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
        raise invalid(name, f"{_label(name)}（{name}）须为 true 或 false / {name} must be a boolean")
    return value


# ---------------------------------------------------------------------------------------------
# Extensions (province JSON Schemas)
# ---------------------------------------------------------------------------------------------

_VALIDATOR_CACHE: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
_VALIDATOR_CACHE_MAX = 128


def _validator_for(schema: dict[str, Any], province: str) -> Draft202012Validator:
    """A compiled validator per schema object, cached: building one per request would cost more
    than the validation itself. Keyed by identity (the node loads its schemas once)."""
    hit = _VALIDATOR_CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ValueError(f"extension schema of province {province} is not a valid JSON Schema: {e.message}") from e
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    if len(_VALIDATOR_CACHE) >= _VALIDATOR_CACHE_MAX:
        _VALIDATOR_CACHE.clear()
    _VALIDATOR_CACHE[id(schema)] = (schema, validator)
    return validator


def load_extension_schemas(
    directory: str | Path = DEFAULT_EXTENSIONS_DIR, *, divisions: DivisionTable | None = None
) -> dict[str, dict[str, Any]]:
    """Read ``<province code>.json`` files into ``{province code: schema}``.

    Fails (ValueError naming the file) on a file name that is not a province code, JSON that
    does not parse, or a schema that is not valid Draft 2020-12, so a bad file stops the node
    at start rather than at the first case.
    """
    out: dict[str, dict[str, Any]] = {}
    base = Path(directory)
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.json")):
        code = path.stem
        if not re.fullmatch(r"\d{2}0000", code) or (
            divisions is not None and divisions.level_of(code) != "province"
        ):
            raise ValueError(f"{path}: the file name must be a province code such as 440000.json")
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
        if not isinstance(schema, dict):
            # ValueError like every other bad-file case, so the config loader catches one type.
            raise ValueError(f"{path}: a schema must be a JSON object")  # noqa: TRY004
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ValueError(f"{path}: not a valid JSON Schema (Draft 2020-12): {e.message}") from e
        out[code] = schema
    return out


def _check_json_values(value: Any, path: str) -> None:
    """Refuse floats (canonical JSON signs case documents and admits none) and control
    characters anywhere inside ``extensions``."""
    if isinstance(value, float):
        raise invalid(
            path,
            f"扩展字段（{path}）不得使用小数形式的 JSON 数字，金额请用字符串"
            f" / {path}: floats are not allowed (case documents are canonical JSON); use a decimal string",
        )
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(k, path)
            _check_json_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_values(v, f"{path}.{i}")


def _schema_error_field(error: jsonschema.ValidationError) -> tuple[str, str | None]:
    """The dotted field an error is about, and the unknown key if it is one."""
    parts = ["extensions", *(str(p) for p in error.absolute_path)]
    instance = error.instance
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        sub = error.schema if isinstance(error.schema, dict) else {}
        props = sub.get("properties", {}) or {}
        patterns = sub.get("patternProperties", {}) or {}
        extras = [
            k for k in instance
            if k not in props and not any(re.search(p, k) for p in patterns)
        ]
        if extras:
            return ".".join([*parts, extras[0]]), extras[0]
    if error.validator == "required" and isinstance(instance, dict):
        missing = [r for r in (error.validator_value or []) if r not in instance]
        if missing:
            return ".".join([*parts, str(missing[0])]), None
    return ".".join(parts), None


def _validate_extensions(
    value: Any,
    province: str | None,
    extension_schemas: Mapping[str, dict[str, Any]],
    divisions: DivisionTable,
) -> tuple[dict[str, Any], str | None]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid("extensions", "扩展字段（extensions）须为对象 / extensions must be an object")
    _check_json_values(value, "extensions")
    schema = extension_schemas.get(province) if province else None
    if schema is None:
        if value:
            key = next(iter(value))
            where = f"{province}（{divisions.name(province)}）" if province else "本节点"
            where_en = f"province {province}" if province else "this node"
            raise NodeError(
                422,
                "unknown_field",
                f"未知字段 / unknown field: extensions.{key}（{where}未定义扩展字段，extensions 须为空"
                f" / {where_en} defines no extension fields, extensions must be empty）",
                f"extensions.{key}",
            )
        return {}, None
    validator = _validator_for(schema, province or "")
    error = best_match(validator.iter_errors(value))
    if error is not None:
        fieldname, unknown_key = _schema_error_field(error)
        prov = f"{province}（{divisions.name(province or '')}）"
        if unknown_key is not None:
            raise NodeError(
                422,
                "unknown_field",
                f"未知字段 / unknown field: {fieldname}（{prov}扩展规范中没有该字段"
                f" / not in the extension schema of province {province}）",
                fieldname,
            )
        detail = error.message if len(error.message) <= 200 else error.message[:200] + "…"
        raise invalid(
            fieldname,
            f"扩展字段 {fieldname} 不符合{prov}扩展规范 / {fieldname} does not match the extension"
            f" schema of province {province}: {detail}",
        )
    return json.loads(json.dumps(value)), province  # a deep copy the caller may keep


# ---------------------------------------------------------------------------------------------
# The validator
# ---------------------------------------------------------------------------------------------

def _check_unknown_keys(obj: Mapping[str, Any], scope: str) -> None:
    allowed = _ALLOWED_KEYS[scope]
    for key in obj:
        if key in allowed:
            continue
        dotted = f"{scope}.{key}" if scope else str(key)
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
        raise invalid(name, f"{_label(name)}（{name}）须为对象 / {name} must be an object")
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
        raise NodeError(422, "required", f"{_label(name)}（{name}）不能为空 / {name} must not be empty", name)
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
    extensions, ext_province = _validate_extensions(
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
                    raise NodeError(422, "required", f"{_label(fieldname)}（{fieldname}）不能为空 / {fieldname} must not be empty", fieldname)
                raise NodeError(
                    422,
                    "required",
                    f"投诉人{_label(fieldname)}（{fieldname}）为必填项 / {fieldname} is required for a"
                    " complaint (Order 20 Art. 9)",
                    fieldname,
                )
        return Complainant(name=name, phone=phone, address=address, anonymous=False)

    if anonymous_given:
        # Anonymous means no identity at all: refuse rather than silently drop what was given.
        for key, value in (("name", name), ("phone", phone), ("address", address)):
            if value is not None:
                fieldname = f"complainant.{key}"
                raise invalid(
                    fieldname,
                    f"匿名时不应填写{_label(fieldname)}（{fieldname}） / {fieldname} must be empty"
                    " when complainant.anonymous is true",
                )
        return Complainant(name=None, phone=None, address=None, anonymous=True)

    if kind == "report":
        if anonymous_given is None and name is None and phone is None and address is None:
            # No identity and no stated choice: an anonymous report (CONTRACT §5 allows it).
            return Complainant(name=None, phone=None, address=None, anonymous=True)
        return _named_report(name, phone, address)

    # consultation
    if obj is None:
        return None
    return Complainant(name=name, phone=phone, address=address, anonymous=bool(anonymous_given))


def _named_report(name: str | None, phone: str | None, address: str | None) -> Complainant:
    """A real-name report: the reporter is told whether a case was opened (Order 20 Art. 31),
    so name and phone are both needed."""
    for key, value in (("name", name), ("phone", phone)):
        if value is None:
            fieldname = f"complainant.{key}"
            raise NodeError(
                422,
                "required",
                f"实名举报须填写举报人{_label(fieldname)}（{fieldname}），或设 complainant.anonymous 为 true"
                f" / {fieldname} is required for a real-name report (or set complainant.anonymous: true)",
                fieldname,
            )
    return Complainant(name=name, phone=phone, address=address, anonymous=False)


# ---------------------------------------------------------------------------------------------
# docs/data-standard.md
# ---------------------------------------------------------------------------------------------

def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _required_text_for(spec: FieldSpec) -> str:
    if set(spec.required_for) == set(ALL_KINDS):
        req = "always"
    elif spec.required_for:
        req = ", ".join(spec.required_for)
    else:
        req = ""
    if spec.required_note:
        req = f"{req}; {spec.required_note}" if req else spec.required_note
    return req or "—"


def _limits_for(spec: FieldSpec) -> str:
    parts: list[str] = []
    if spec.enum:
        parts.append(" \\| ".join(f"`{e.value}`" for e in spec.enum))
    if spec.type in ("text", "category") and spec.max_length:
        parts.append(f"≤ {spec.max_length:,} chars")
    if spec.type == "phone":
        parts.append(f"{spec.min_length}–{spec.max_length} chars")
    if spec.type == "uscc":
        parts.append("18 chars, GB 32100-2015")
    if spec.type == "division":
        parts.append("6 digits, current code")
    if spec.type == "money":
        parts.append(f"decimal string ≥ 0, ≤ 2 decimals, ≤ {MONEY_MAX_INTEGER_DIGITS} integer digits")
    if spec.type == "datetime":
        parts.append("ISO 8601 with offset; ≤ now + 5 min")
    if spec.default is not None:
        parts.append(f"default {spec.default}")
    return "; ".join(parts) or "—"


def render_data_standard_markdown(categories: CategoryTable | None = None) -> str:
    """The data standard as Markdown, built from the definitions above (docs/data-standard.md).

    ``categories`` defaults to the shipped category table.
    """
    if categories is None:
        from node.cases.categories import load_categories

        categories = load_categories()
    out: list[str] = []
    w = out.append
    w("# National case data standard v1 (全国 12315 案件数据标准)")
    w("")
    w("<!-- Generated by node.cases.standard.render_data_standard_markdown(); do not edit by hand.")
    w("     Regenerate: python -c \"from node.cases.standard import render_data_standard_markdown as r;"
      " open('docs/data-standard.md','w',encoding='utf-8').write(r())\" -->")
    w("")
    w(f"Version {STANDARD_VERSION}. Serves R7.3 (one national standard issued by HQ, province "
      "extension fields), R1.1, R1.2, R1.4, R4.1 and CONTRACT §5. The same standard holds at every "
      "node: HQ, province, prefecture, county and station.")
    w("")
    w("Conventions: times are ISO 8601 with an offset (shown at `+08:00`); dates and deadlines are "
      "Asia/Shanghai calendar dates; money is a decimal string in CNY, never a JSON number; text is "
      "counted in Unicode characters, trimmed of surrounding blanks, and may not contain control "
      "characters other than tab and line breaks. `null` and a missing field mean the same. "
      "Unknown fields, at any depth, are errors naming the field.")
    w("")
    w("## 1. Input fields (`POST /api/v1/cases`)")
    w("")
    w("| field | 名称 | type | required for | values / limits | description |")
    w("|---|---|---|---|---|---|")
    for s in FIELD_SPECS:
        w(f"| `{s.name}` | {s.label_zh} | {s.type} | {_md(_required_text_for(s))} | {_limits_for(s)} | {_md(s.description_en)} |")
    w("")
    w("Kind-specific rules:")
    w("")
    w("- **complaint**: `respondent.region_code` and the complainant's name, phone and address "
      "(Order 20 Art. 9); a complaint cannot be anonymous.")
    w("- **report**: `respondent.region_code`; `report_target` defaults to `business`. A report may "
      "be anonymous (`complainant.anonymous: true`, or no name and no phone) and then carries no "
      "name, phone or address; a real-name report needs name and phone (the reporter is told "
      "whether a case was opened, Order 20 Art. 31).")
    w("- **consultation**: needs no respondent and no complainant; `report_target` is refused.")
    w("- `respondent.region_code` must be a **current** division code: a retired code is refused "
      "naming its successor (`已撤销的行政区划代码 310108（2015 年并入 310106）`), anything else as "
      "unknown.")
    w("- `extensions` are validated against the JSON Schema (Draft 2020-12) of the province that owns "
      "`respondent.region_code` (without one: the accepting node's province); with no schema for "
      "that province they must be empty. Floats are refused inside `extensions` too. "
      "See `configs/extensions/README.md`.")
    w("")
    for title, spec_name in (("kind", "kind"), ("report_target", "report_target"),
                             ("channel", "channel"), ("urgency", "urgency")):
        w(f"### `{title}` values")
        w("")
        w("| value | 中文 | meaning |")
        w("|---|---|---|")
        for e in SPECS_BY_NAME[spec_name].enum:
            w(f"| `{e.value}` | {e.zh} | {_md(e.en)} |")
        w("")
    w("## 2. Server-set fields of the case record")
    w("")
    w("| field | 名称 | type | description |")
    w("|---|---|---|---|")
    for f in SERVER_FIELDS:
        w(f"| `{f.name}` | {f.label_zh} | {f.type} | {_md(f.description_en)} |")
    w("")
    w("Case id: `<accepting node code>-<receipt date YYYYMMDD>-<6-digit counter per node and day>`, "
      "e.g. `440305-20260929-000001` (a station's id starts with its 9-digit code). The receipt "
      "date is the Asia/Shanghai date of `received_at`. The id never changes as the case travels.")
    w("")
    w("## 3. Statuses")
    w("")
    w("| status | 中文 | meaning |")
    w("|---|---|---|")
    for code, (zh, en) in STATUSES.items():
        w(f"| `{code}` | {zh} | {_md(en)} |")
    w("")
    for kind, flow in STATUS_FLOWS:
        w(f"- {kind}: {flow}")
    w("")
    w("## 4. Actions (`POST /api/v1/cases/<id>/actions`)")
    w("")
    w("| action | 中文 | does | parameters |")
    w("|---|---|---|---|")
    for code, (zh, en, params) in ACTIONS.items():
        w(f"| `{code}` | {zh} | {_md(en)} | {_md(params) or '—'} |")
    w("")
    w("### Outcomes (`conclude`)")
    w("")
    w("| outcome | 中文 | meaning |")
    w("|---|---|---|")
    for code, (zh, en) in OUTCOMES.items():
        w(f"| `{code}` | {zh} | {_md(en)} |")
    w("")
    w("### Satisfaction (`feedback`)")
    w("")
    w("| value | 中文 | meaning |")
    w("|---|---|---|")
    for code, (zh, en) in SATISFACTION.items():
        w(f"| `{code}` | {zh} | {_md(en)} |")
    w("")
    w("## 5. Decline grounds (不予受理情形, SAMR Order No. 20 Art. 15)")
    w("")
    w("A complaint is declined (`decline`, `reason`) on exactly one of these coded grounds. "
      "Order No. 20 (市场监督管理投诉举报处理暂行办法, 2019, amended 2022) Art. 15 lists six.")
    w("")
    w("| code | basis | 中文 | English |")
    w("|---|---|---|---|")
    for code, (zh, en) in DECLINE_GROUNDS.items():
        w(f"| `{code}` | {DECLINE_GROUND_BASIS[code]} | {_md(zh)} | {_md(en)} |")
    w("")
    w("## 6. Grounds for ending mediation (终止调解情形, Order No. 20 Art. 21)")
    w("")
    w("Mediation ends on one of these coded grounds; the parties are told within 7 working days of "
      "the decision (same article).")
    w("")
    w("| code | basis | 中文 | English |")
    w("|---|---|---|---|")
    for code, (zh, en) in MEDIATION_END_GROUNDS.items():
        w(f"| `{code}` | {MEDIATION_END_GROUND_BASIS[code]} | {_md(zh)} | {_md(en)} |")
    w("")
    w("## 7. Errors")
    w("")
    w("All errors have the one shape `{\"error\": {\"code\": \"...\", \"message\": \"...\", "
      "\"field\": \"respondent.uscc\"}}`; messages are Chinese first, then English. A body that is "
      "not a JSON object → `400` `malformed`; a validation error → `422` naming the field as a "
      "dotted path; a body over 1 MiB → `413`. Validation codes:")
    w("")
    w("| code | when |")
    w("|---|---|")
    for code, when in (
        ("unknown_field", "a field the standard (or the province's extension schema) does not define"),
        ("required", "a required field is missing or blank"),
        ("invalid_enum", "a value outside the field's enum"),
        ("too_long", "text over its limit"),
        ("money_not_string", "an amount sent as a JSON number (or boolean)"),
        ("retired_division", "`respondent.region_code` is a retired code (the message names the successor)"),
        ("unknown_division", "`respondent.region_code` is not a division code"),
        ("unknown_category", "`category` is not in the node's category table"),
        ("invalid", "any other malformed value (USCC check character, control character, naive time, …)"),
    ):
        w(f"| `{code}` | {when} |")
    w("")
    w("## 8. Default category table (`GET /api/v1/categories`)")
    w("")
    w("A node may replace it with its own table; codes are stable and never reused.")
    w("")
    w("| code | 名称 | name | parent |")
    w("|---|---|---|---|")
    for item in categories.items():
        parent = f"`{item['parent']}`" if item["parent"] else "—"
        w(f"| `{item['code']}` | {item['name']} | {_md(item['name_en'] or '')} | {parent} |")
    w("")
    return "\n".join(out)
