"""The national data standard v1 for cases: its vocabulary, as data.

Serves R7.3 (one national data standard issued by HQ; provinces add local extension fields),
R1.1 (three kinds, reports against businesses *and* against enforcement staff), R1.2
(channels), R1.4 (urgency grades), R4.1 (complete, standard records) and CONTRACT §5.

Holds the field definitions of the input document (``FIELD_SPECS``), the server-set fields,
the statuses, the actions as the standard describes them, the outcomes, the satisfaction
grades and the coded grounds for declining a complaint and for ending mediation (Order 20
Art. 15 and Art. 21). Definitions only, no logic: ``FIELD_SPECS`` is the single source of
truth that ``validate.py`` reads its enums and limits from and that ``standard_doc.py``
renders into ``docs/data-standard.md`` (a test fails when the file is stale).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta, timezone

STANDARD_VERSION = "1"

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# date a case can carry and needs no tzdata on the host.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# Up to 999,999,999,999.99 CNY: more than any consumer dispute, small enough that a pasted
# phone number or an ID number in the amount field is caught.
MONEY_MAX_INTEGER_DIGITS = 12


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
    ``uscc``, ``extensions``, ``email``, ``date`` (``YYYY-MM-DD``).
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

COMPLAINANT_TYPES: tuple[EnumValue, ...] = (
    EnumValue("individual", "个人", "an individual consumer"),
    EnumValue("organisation", "单位", "an organisation (a business, association or other body)"),
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
    FieldSpec("complainant.email", "email", "电子邮箱", "E-mail address for notices (optional; issue 12): one address, local@domain.",
              max_length=254),
    FieldSpec("complainant.type", "enum", "投诉人类型", "Who complains: an individual consumer or an organisation (complaint publicity shows it).",
              enum=COMPLAINANT_TYPES, default="individual"),
    FieldSpec("complainant.anonymous", "boolean", "匿名", "An anonymous report: no name or phone (an address given is kept). A complaint cannot be anonymous (Order 20 Art. 9).",
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
    FieldSpec("demand", "text", "诉求", "What the complainant asks for (refund, repair, compensation …; Order 20 Art. 9).", max_length=2000),
    FieldSpec("occurred_on", "date", "纠纷发生日期", "When the dispute arose: YYYY-MM-DD, not after the receipt date.", min_length=10, max_length=10),
    FieldSpec("amount", "money", "涉案金额（元）", "Amount in dispute, CNY: a decimal string ≥ 0 with at most two decimals, e.g. \"1299.00\"; never a JSON number."),
    FieldSpec("amount_recovered", "money", "挽回经济损失（元）", "Amount recovered for the consumer, CNY, same format (usually set by the conclude action)."),
    FieldSpec("extensions", "extensions", "省级扩展字段", "Province extension fields, validated against the JSON Schema of the province owning respondent.region_code (configs/extensions/); empty when that province has none."),
)

SPECS_BY_NAME: dict[str, FieldSpec] = {s.name: s for s in FIELD_SPECS}


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
    "decline": ("不予受理", "decline the complaint", "`reason`: a code of *Decline grounds* (a text is recorded under the ground whose wording it quotes, else `other_legal_ground`, and kept as `reason_text`), `note`"),
    "route": ("分流", "send to the node with jurisdiction (R1.5)", "`to`: a node code or `\"auto\"`"),
    "return": ("退回", "send back: this unit is the wrong one; the routing node routes again", "`reason`"),
    "escalate": ("上报", "beyond this level's authority: to the level above (R2.4)", "`reason`"),
    "refer": ("移送 / 告知", "outside the remit: to the competent body (R2.5)", "`body`, `reason`"),
    "mediate": ("调解", "start mediation", ""),
    "conclude": ("办结", "finish with an outcome (R2.6)", "`outcome` (see *Outcomes*), `amount_recovered`, `note`; ending mediation without agreement (`not_mediated`) may name a `reason` of *Grounds for ending mediation* — without one, `no_agreement` is recorded and the history says so"),
    "feedback": ("回访", "record the complainant's satisfaction (R2.7)", "`satisfaction`: see *Satisfaction*"),
    "answer": ("答复", "answer a consultation (R1.3)", "`text`"),
    "assign": ("交办", "assign to a department of this node: a lead and departments copied",
               "`department` (lead), `copy_departments` (a list, optional); a report against staff stays with "
               "`discipline`, and only such a report goes there"),
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
# Where a decline whose reason came as text that quotes none of the grounds is recorded:
# Art. 15(6) is the article's own catch-all (the text is kept beside it).
DEFAULT_DECLINE_GROUND = "other_legal_ground"

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
# Recorded when ``conclude`` with ``not_mediated`` names no ground (CONTRACT §5 does not ask
# for one): the parties could not agree is what ends most mediations.
DEFAULT_MEDIATION_END_GROUND = "no_agreement"

