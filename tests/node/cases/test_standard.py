"""Case input validation of the national data standard (R7.3, R1.1, CONTRACT §5).

Bad inputs are parametrized with the field the error must name and a fragment of its message.
"""
from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from node.cases.category_table import CategoryTableError, load_categories
from node.cases.checks import parse_money
from node.cases.extensions import load_extension_schemas
from node.cases.standard import (
    ACTIONS,
    CASE_ID_RE,
    DECLINE_GROUNDS,
    FIELD_SPECS,
    MEDIATION_END_GROUNDS,
    SPECS_BY_NAME,
    STATUSES,
)
from node.cases.validate import CaseInput, validate_case_input
from node.divisions import load_divisions
from node.errors import NodeError

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 9, 29, 12, 0, tzinfo=CST)
REPO = Path(__file__).resolve().parents[3]

DIVISIONS = load_divisions()
CATEGORIES = load_categories()
EXTENSIONS = load_extension_schemas(REPO / "configs" / "extensions", divisions=DIVISIONS)


def complaint() -> dict[str, Any]:
    """The CONTRACT §5 example body, with its "…" placeholders filled with real values."""
    return {
        "kind": "complaint",
        "report_target": None,
        "channel": "phone",
        "received_at": "2026-09-29T10:00:00+08:00",
        "urgency": "general",
        "complainant": {"name": "张三", "phone": "13800000000",
                        "address": "广东省深圳市南山区科技园路 1 号", "anonymous": False},
        "respondent": {"name": "华为技术有限公司", "uscc": "914403001922038216",
                       "region_code": "440305", "address": "深圳市龙岗区坂田华为基地"},
        "category": "G0301",
        "summary": "新买手机三天黑屏，商家拒绝退货",
        "description": "9 月 26 日购买，9 月 29 日黑屏。\n要求退货退款。",
        "amount": "1299.00",
        "extensions": {},
    }


def report() -> dict[str, Any]:
    return {
        "kind": "report",
        "channel": "web",
        "category": "G0101",
        "summary": "超市销售过期食品",
        "respondent": {"name": "某某超市", "region_code": "330106"},
    }


def consultation() -> dict[str, Any]:
    return {"kind": "consultation", "channel": "phone", "category": "S0201",
            "summary": "预付卡商家关门如何维权"}


def validate(payload: Any, **kw: Any) -> CaseInput:
    kw.setdefault("divisions", DIVISIONS)
    kw.setdefault("categories", CATEGORIES)
    kw.setdefault("extension_schemas", EXTENSIONS)
    kw.setdefault("now", NOW)
    return validate_case_input(payload, **kw)


_DELETE = object()


def mutate(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set to ``value`` (or deleted)."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    obj = out
    for p in parents:
        obj = obj.setdefault(p, {})
    if value is _DELETE:
        obj.pop(last, None)
    else:
        obj[last] = value
    return out


# -- the good paths ---------------------------------------------------------------------------

def test_contract_example_validates_and_normalises() -> None:
    ci = validate(complaint())
    assert ci.kind == "complaint" and ci.report_target is None
    assert ci.received_at == datetime(2026, 9, 29, 2, 0, tzinfo=UTC)
    assert ci.received_at.tzinfo == UTC
    assert ci.received_on == date(2026, 9, 29)
    assert ci.amount == "1299.00" and ci.amount_recovered is None
    assert ci.respondent is not None and ci.respondent.region_code == "440305"
    assert ci.region_code == "440305"
    # 440305 lies in Guangdong, which has a schema: the empty object was validated against it.
    assert ci.extensions == {} and ci.extensions_province == "440000"
    d = ci.to_dict()
    assert d["received_at"] == "2026-09-29T10:00:00+08:00"
    assert d["complainant"] == complaint()["complainant"]
    json.dumps(d, allow_nan=False)  # JSON-ready
    assert set(d) == {s.name for s in FIELD_SPECS if "." not in s.name}


def test_defaults() -> None:
    body = complaint()
    for key in ("received_at", "urgency", "report_target", "amount", "extensions", "description"):
        del body[key]
    ci = validate(body)
    assert ci.urgency == "general"
    assert ci.received_at == NOW.astimezone(UTC)
    assert ci.amount is None and ci.description is None and ci.extensions == {}


def test_strings_are_stripped_and_uscc_upper_cased() -> None:
    body = mutate(complaint(), "summary", "  手机黑屏  ")
    body = mutate(body, "respondent.uscc", " 91330100716105852f ")
    body = mutate(body, "respondent.region_code", "330108")
    ci = validate(body)
    assert ci.summary == "手机黑屏"
    assert ci.respondent is not None and ci.respondent.uscc == "91330100716105852F"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("0", "0.00"), ("1299", "1299.00"), ("1299.5", "1299.50"), ("007.10", "7.10"),
     ("12.34", "12.34"), ("999999999999.99", "999999999999.99")],
)
def test_money_normalised(raw: str, normalised: str) -> None:
    assert validate(mutate(complaint(), "amount", raw)).amount == normalised
    assert parse_money(raw, "amount_recovered") == normalised


def test_received_at_in_utc_and_slightly_ahead_is_fine() -> None:
    ci = validate(mutate(complaint(), "received_at", "2026-09-29T04:04:00Z"))
    assert ci.received_at == datetime(2026, 9, 29, 4, 4, tzinfo=UTC)


def test_anonymous_report_ok() -> None:
    body = mutate(report(), "complainant", {"anonymous": True})
    ci = validate(body)
    assert ci.kind == "report" and ci.report_target == "business"
    assert ci.complainant is not None and ci.complainant.anonymous is True
    assert ci.complainant.name is None and ci.complainant.phone is None


@pytest.mark.parametrize("given", [{"address": "深圳市南山区科技园", "anonymous": True},
                                   {"address": "深圳市南山区科技园"}], ids=["flagged", "unnamed"])
def test_anonymous_report_keeps_an_address(given) -> None:
    """CONTRACT §5: anonymous is "no name or phone" — an address given stays with the report."""
    ci = validate(mutate(report(), "complainant", given))
    assert ci.complainant is not None and ci.complainant.anonymous is True
    assert ci.complainant.name is None and ci.complainant.phone is None
    assert ci.complainant.address == "深圳市南山区科技园"


def test_report_without_complainant_is_anonymous() -> None:
    ci = validate(report())
    assert ci.complainant is not None and ci.complainant.anonymous is True


def test_real_name_staff_report_ok() -> None:
    body = report()
    body["report_target"] = "staff"
    body["complainant"] = {"name": "李四", "phone": "+86 138-0000-0000"}
    ci = validate(body)
    assert ci.report_target == "staff"
    assert ci.complainant is not None and ci.complainant.anonymous is False
    assert ci.complainant.phone == "+86 138-0000-0000"


def test_consultation_without_respondent_ok() -> None:
    ci = validate(consultation())
    assert ci.respondent is None and ci.complainant is None and ci.report_target is None


def test_consultation_with_partial_respondent_ok() -> None:
    ci = validate({**consultation(), "respondent": {"name": "某健身房"}})
    assert ci.respondent is not None and ci.respondent.region_code is None


def test_extensions_of_440000_ok() -> None:
    ext = {"gd_platform_order_no": "JD20260929-88812345", "gd_odr_enterprise": True}
    ci = validate(mutate(complaint(), "extensions", ext))
    assert ci.extensions == ext and ci.extensions_province == "440000"
    assert ci.to_dict()["extensions"] == ext


def test_consultation_extensions_use_the_accepting_province() -> None:
    body = {**consultation(), "extensions": {"gd_odr_enterprise": False}}
    ci = validate(body, accepting_province="440000")
    assert ci.extensions_province == "440000"
    with pytest.raises(NodeError) as exc:
        validate(body, accepting_province="330000")
    assert exc.value.field == "extensions.gd_odr_enterprise"


def test_null_extensions_mean_empty() -> None:
    assert validate(mutate(complaint(), "extensions", None)).extensions == {}


# -- the refusals ---------------------------------------------------------------------------

BAD: list[tuple[str, Any, str, Any, str, str]] = [
    # (id, base, path, value, field, message fragment)
    ("unknown top-level", complaint, "nickname", "x", "nickname", "未知字段 / unknown field"),
    ("unknown nested complainant", complaint, "complainant.nickname", "小张", "complainant.nickname", "未知字段 / unknown field: complainant.nickname"),
    ("unknown nested respondent", complaint, "respondent.legal_rep", "王五", "respondent.legal_rep", "未知字段"),
    ("server-set id", complaint, "id", "440305-20260929-000001", "id", "由系统设置"),
    ("server-set status", complaint, "status", "accepted", "status", "unknown field: status"),
    ("missing kind", complaint, "kind", _DELETE, "kind", "kind is required"),
    ("missing channel", complaint, "channel", _DELETE, "channel", "channel is required"),
    ("missing summary", complaint, "summary", _DELETE, "summary", "summary is required"),
    ("blank summary", complaint, "summary", "   ", "summary", "must not be empty"),
    ("missing category", complaint, "category", _DELETE, "category", "category is required"),
    ("unknown category", complaint, "category", "X99", "category", "未知的分类代码 X99"),
    ("bad kind", complaint, "kind", "praise", "kind", "consultation, complaint, report"),
    ("kind wrong type", complaint, "kind", 1, "kind", "取值无效"),
    ("bad channel", complaint, "channel", "fax", "channel", "must be one of phone, visit"),
    ("bad urgency", complaint, "urgency", "high", "urgency", "general, urgent, critical"),
    ("bad report_target", report, "report_target", "police", "report_target", "business, staff"),
    ("report_target on complaint", complaint, "report_target", "business", "report_target", "reports only"),
    ("complainant not object", complaint, "complainant", "张三", "complainant", "must be an object"),
    ("complaint without phone", complaint, "complainant.phone", _DELETE, "complainant.phone", "complainant.phone is required"),
    ("complaint with blank phone", complaint, "complainant.phone", " ", "complainant.phone", "must not be empty"),
    ("complaint without name", complaint, "complainant.name", _DELETE, "complainant.name", "Order 20 Art. 9"),
    ("complaint without address", complaint, "complainant.address", _DELETE, "complainant.address", "required"),
    ("complaint without complainant", complaint, "complainant", _DELETE, "complainant.name", "required"),
    ("anonymous complaint", complaint, "complainant.anonymous", True, "complainant.anonymous", "投诉不能匿名"),
    ("anonymous not bool", complaint, "complainant.anonymous", "false", "complainant.anonymous", "boolean"),
    ("bad phone letters", complaint, "complainant.phone", "138-abcd-0000", "complainant.phone", "digits"),
    ("phone too short", complaint, "complainant.phone", "1234", "complainant.phone", "5-20"),
    ("phone too long", complaint, "complainant.phone", "1" * 21, "complainant.phone", "5-20"),
    ("complaint without respondent", complaint, "respondent", _DELETE, "respondent.region_code", "is required"),
    ("complaint without region", complaint, "respondent.region_code", _DELETE, "respondent.region_code", "is required"),
    ("unknown region", complaint, "respondent.region_code", "999999", "respondent.region_code", "未知的行政区划代码"),
    ("retired region", complaint, "respondent.region_code", "310108", "respondent.region_code", "已撤销的行政区划代码 310108（2015 年并入 310106）"),
    ("region not 6 digits", complaint, "respondent.region_code", "4403", "respondent.region_code", "6 位数字"),
    ("region as number", complaint, "respondent.region_code", 440305, "respondent.region_code", "须为字符串"),
    ("region HQ", complaint, "respondent.region_code", "000000", "respondent.region_code", "000000"),
    ("bad uscc check digit", complaint, "respondent.uscc", "91100000100003962A", "respondent.uscc", "应为 T"),
    ("uscc short", complaint, "respondent.uscc", "9144030019220382", "respondent.uscc", "18"),
    ("uscc forbidden letter", complaint, "respondent.uscc", "91440300192203821O", "respondent.uscc", "O"),
    ("amount number", complaint, "amount", 1299.0, "amount", "not a JSON number"),
    ("amount int", complaint, "amount", 1299, "amount", "金额须为字符串"),
    ("amount bool", complaint, "amount", True, "amount", "not a JSON number"),
    ("amount negative", complaint, "amount", "-1.00", "amount", "must not be negative"),
    ("amount three decimals", complaint, "amount", "12.345", "amount", "at most two decimals"),
    ("amount comma", complaint, "amount", "1,299.00", "amount", "at most two decimals"),
    ("amount exponent", complaint, "amount", "1e3", "amount", "格式不正确"),
    ("amount empty", complaint, "amount", "", "amount", "格式不正确"),
    ("amount NaN", complaint, "amount", "NaN", "amount", "格式不正确"),
    ("amount huge", complaint, "amount", "1" * 13, "amount", "integer digits"),
    ("amount_recovered float", complaint, "amount_recovered", 0.5, "amount_recovered", "money never travels as a float"),
    ("control char in summary", complaint, "summary", "手机\x07黑屏", "summary", "U+0007"),
    ("NUL in name", complaint, "complainant.name", "张\x00三", "complainant.name", "控制字符"),
    ("C1 control in address", complaint, "respondent.address", "深圳\x85", "respondent.address", "U+0085"),
    ("lone surrogate", complaint, "description", "坏了\ud800", "description", "U+D800"),
    ("50k description", complaint, "description", "坏" * 50_000, "description", "longer than 20,000"),
    ("201-char summary", complaint, "summary", "a" * 201, "summary", "超过 200 字"),
    ("long name", complaint, "complainant.name", "名" * 201, "complainant.name", "200"),
    ("long address", complaint, "respondent.address", "址" * 501, "respondent.address", "500"),
    ("summary not string", complaint, "summary", ["a"], "summary", "must be a string"),
    ("future received_at", complaint, "received_at", "2026-09-29T12:06:00+08:00", "received_at", "in the future"),
    ("future received_at next year", complaint, "received_at", "2027-09-29T10:00:00+08:00", "received_at", "晚于当前时间"),
    ("naive received_at", complaint, "received_at", "2026-09-29T10:00:00", "received_at", "must carry a UTC offset"),
    ("date-only received_at", complaint, "received_at", "2026-09-29", "received_at", "UTC offset"),
    ("garbage received_at", complaint, "received_at", "yesterday", "received_at", "ISO 8601"),
    ("numeric received_at", complaint, "received_at", 1790000000, "received_at", "ISO 8601 string"),
    ("extensions not object", complaint, "extensions", [], "extensions", "must be an object"),
    ("extension too long", complaint, "extensions", {"gd_platform_order_no": "x" * 65}, "extensions.gd_platform_order_no", "too long"),
    ("extension wrong type", complaint, "extensions", {"gd_odr_enterprise": "yes"}, "extensions.gd_odr_enterprise", "not of type 'boolean'"),
    ("extension unknown key", complaint, "extensions", {"gd_odr_enterprise": True, "gd_vip": 1}, "extensions.gd_vip", "unknown field"),
    ("extension float", complaint, "extensions", {"gd_platform_order_no": 12.5}, "extensions.gd_platform_order_no", "floats are not allowed"),
    ("extension control char", complaint, "extensions", {"gd_platform_order_no": "A\x1bB"}, "extensions.gd_platform_order_no", "U+001B"),
    ("extension without schema", report, "extensions", {"zj_field": "x"}, "extensions.zj_field", "defines no extension fields"),
    ("anonymous report with name", report, "complainant", {"anonymous": True, "name": "李四"}, "complainant.name", "anonymous"),
    ("anonymous report with phone", report, "complainant", {"anonymous": True, "phone": "13800000000"}, "complainant.phone", "匿名时不应填写"),
    ("real-name report without phone", report, "complainant", {"name": "李四"}, "complainant.phone", "real-name report"),
    ("named report anonymous false, no name", report, "complainant", {"anonymous": False}, "complainant.name", "real-name report"),
    ("report without region", report, "respondent.region_code", _DELETE, "respondent.region_code", "is required"),
    ("report_target on consultation", consultation, "report_target", "staff", "report_target", "reports only"),
]


@pytest.mark.parametrize(("base", "path", "value", "field", "fragment"),
                         [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_refusals(base: Any, path: str, value: Any, field: str, fragment: str) -> None:
    with pytest.raises(NodeError) as exc:
        validate(mutate(base(), path, value))
    err = exc.value
    assert err.status == 422
    assert err.field == field
    assert fragment in err.message
    assert " / " in err.message  # Chinese first, then English
    body = err.to_dict()["error"]
    assert set(body) == {"code", "message", "field"}


@pytest.mark.parametrize("payload", [None, [], "complaint", 42, True, [complaint()]])
def test_body_not_an_object_is_malformed(payload: Any) -> None:
    with pytest.raises(NodeError) as exc:
        validate(payload)
    assert exc.value.status == 400 and exc.value.code == "malformed"


def test_error_codes_are_stable() -> None:
    cases = [
        (mutate(complaint(), "x", 1), "unknown_field"),
        (mutate(complaint(), "kind", _DELETE), "required"),
        (mutate(complaint(), "kind", "x"), "invalid_enum"),
        (mutate(complaint(), "amount", 1.5), "money_not_string"),
        (mutate(complaint(), "respondent.region_code", "310108"), "retired_division"),
        (mutate(complaint(), "respondent.region_code", "999999"), "unknown_division"),
        (mutate(complaint(), "category", "X"), "unknown_category"),
        (mutate(complaint(), "description", "x" * 20_001), "too_long"),
    ]
    for payload, code in cases:
        with pytest.raises(NodeError) as exc:
            validate(payload)
        assert exc.value.code == code, payload


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate(complaint(), now=datetime(2026, 9, 29, 12, 0))


def test_input_is_not_mutated() -> None:
    body = mutate(complaint(), "extensions", {"gd_odr_enterprise": True})
    before = copy.deepcopy(body)
    ci = validate(body)
    assert body == before
    ci.extensions["gd_odr_enterprise"] = False  # the result holds its own copy
    assert body["extensions"]["gd_odr_enterprise"] is True


def test_validation_is_fast_enough_for_the_hot_path() -> None:
    import time

    body = mutate(complaint(), "extensions", {"gd_odr_enterprise": True})
    validate(body)  # warm the schema cache
    t0 = time.perf_counter()
    for _ in range(200):
        validate(body)
    per_call = (time.perf_counter() - t0) / 200
    assert per_call < 0.005, f"{per_call * 1e6:.0f} µs per validation"


# -- the definitions ------------------------------------------------------------------------

def test_field_specs_drive_the_limits() -> None:
    assert SPECS_BY_NAME["summary"].max_length == 200
    assert SPECS_BY_NAME["description"].max_length == 20_000
    assert SPECS_BY_NAME["kind"].enum_values == ("consultation", "complaint", "report")
    assert "direct_report" in SPECS_BY_NAME["channel"].enum_values
    for spec in FIELD_SPECS:
        assert spec.label_zh and spec.description_en, spec.name
        if spec.parent:
            assert spec.parent in SPECS_BY_NAME, spec.name


def test_grounds_are_coded_and_bilingual() -> None:
    assert len(DECLINE_GROUNDS) == 6  # Order 20 Art. 15 items (1)-(6)
    assert len(MEDIATION_END_GROUNDS) == 7  # Order 20 Art. 21 items (1)-(7)
    for table in (DECLINE_GROUNDS, MEDIATION_END_GROUNDS):
        for code, (zh, en) in table.items():
            assert code.isascii() and code == code.lower()
            assert zh and en and not zh.isascii() and en.isascii()


def test_statuses_and_actions_of_contract() -> None:
    assert set(STATUSES) == {"registered", "accepted", "declined", "transferred", "referred",
                             "in_mediation", "concluded", "closed", "verifying", "filed",
                             "not_filed", "answered"}
    contract = {"accept", "decline", "route", "return", "escalate", "refer", "mediate", "conclude", "feedback",
                "answer"}
    assert set(ACTIONS) == contract | {"assign"}      # CONTRACT §5's, and 交办 added (issue 11)
    assert CASE_ID_RE.match("440305-20260929-000001")
    assert CASE_ID_RE.match("440305001-20260929-000001")
    assert not CASE_ID_RE.match("440305-2026929-1")


# -- extension schemas and the category table ------------------------------------------------

def test_shipped_extension_schemas_load() -> None:
    assert set(EXTENSIONS) == {"440000"}
    assert EXTENSIONS["440000"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("gd.json", "{}", "province code"),
        ("440300.json", "{}", "province code"),
        ("440000.json", "{not json", "not valid JSON"),
        ("440000.json", "[]", "JSON object"),
        ("440000.json", '{"type": 12}', "not a valid JSON Schema"),
    ],
)
def test_bad_extension_schema_files_refused(tmp_path: Path, filename: str, content: str, fragment: str) -> None:
    (tmp_path / filename).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=fragment):
        load_extension_schemas(tmp_path, divisions=DIVISIONS)


def test_category_table() -> None:
    assert CATEGORIES.is_known("G01") and CATEGORIES.is_known("S0301")
    assert not CATEGORIES.is_known("X")
    got = CATEGORIES.get("G0101")
    assert got is not None and got.name == "预包装食品" and got.parent == "G01"
    items = CATEGORIES.items()
    assert {"code": "G", "name": "商品", "name_en": "Goods", "parent": None} in items
    assert all(set(i) == {"code", "name", "name_en", "parent"} for i in items)
    names = {i["name"] for i in items}
    for group in ("食品", "家用电子电器", "服装鞋帽", "交通工具", "互联网服务", "金融服务", "旅游服务"):
        assert group in names
    assert CATEGORIES.top_level_of("S0303") == "S"
    items[0]["name"] = "changed"
    assert CATEGORIES.items()[0]["name"] == "商品"
    assert load_categories() is CATEGORIES  # parsed once


def test_category_override_file(tmp_path: Path) -> None:
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"items": [
        {"code": "G", "name": "商品", "name_en": "Goods", "parent": None},
        {"code": "G77", "name": "本地特产", "name_en": "Local produce", "parent": "G"},
    ]}, ensure_ascii=False), encoding="utf-8")
    table = load_categories(path)
    assert table.is_known("G77") and not table.is_known("G01")
    ci = validate(mutate(complaint(), "category", "G77"), categories=table)
    assert ci.category == "G77"


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([{"code": "G", "name": "商品", "parent": None}, {"code": "G", "name": "x", "parent": None}], "duplicate"),
        ([{"code": "G01", "name": "食品", "parent": "G"}], "parent G is unknown"),
        ([{"code": "g01", "name": "食品", "parent": None}], "bad category code"),
        ([{"code": "G", "name": " ", "parent": None}], "no name"),
        ([{"code": "G", "name": "商品", "parent": None, "colour": "red"}], "unknown key"),
    ],
)
def test_bad_category_files_refused(tmp_path: Path, items: list[dict[str, Any]], fragment: str) -> None:
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"items": items}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CategoryTableError, match=fragment):
        load_categories(path)


# -- issue 12: e-mail, complainant type, demand, dispute date ------------------------------------
def _check(body: dict[str, Any]) -> CaseInput:
    return validate_case_input(body, divisions=DIVISIONS, categories=CATEGORIES, extension_schemas=EXTENSIONS,
                               now=NOW)


def test_issue12_fields_are_kept_normalised():
    body = complaint()
    body["complainant"].update(email=" zhang.san@example.com ", type="organisation")
    body.update(demand="退货退款", occurred_on="2026-09-20")
    inp = _check(body)
    assert inp.complainant is not None and inp.complainant.to_dict()["email"] == "zhang.san@example.com"
    assert inp.complainant.to_dict()["type"] == "organisation"
    assert inp.demand == "退货退款" and inp.occurred_on == date(2026, 9, 20)
    assert inp.to_dict()["occurred_on"] == "2026-09-20"


def test_issue12_fields_absent_leave_the_stored_shape_as_before():
    inp = _check(complaint())
    assert set(inp.complainant.to_dict()) == {"name", "phone", "address", "anonymous"}
    assert inp.demand is None and inp.occurred_on is None


@pytest.mark.parametrize(("where", "value", "field", "fragment"), [
    ("complainant.email", "not-an-address", "complainant.email", "e-mail"),
    ("complainant.email", "a@b.com\r\nBcc: x@y.com", "complainant.email", "e-mail"),
    ("complainant.email", "Zhang <z@example.com>", "complainant.email", "e-mail"),
    ("complainant.type", "company", "complainant.type", "complainant.type"),
    ("occurred_on", "2026-09-30", "occurred_on", "after the receipt date"),
    ("occurred_on", "2026-02-30", "occurred_on", "not a real date"),
    ("occurred_on", "20260920", "occurred_on", "YYYY-MM-DD"),
    ("demand", "x" * 2001, "demand", "2000"),
])
def test_issue12_fields_refused_naming_the_field(where, value, field, fragment):
    body = complaint()
    if where.startswith("complainant."):
        body["complainant"][where.split(".", 1)[1]] = value
    else:
        body[where] = value
    with pytest.raises(NodeError) as exc:
        _check(body)
    assert exc.value.field == field
    assert fragment in exc.value.message


def test_anonymous_report_takes_no_email():
    body = {"kind": "report", "channel": "web", "category": complaint()["category"],
            "summary": "无证经营", "respondent": {"region_code": "440305"}, "complainant": {"email": "a@example.com"}}
    with pytest.raises(NodeError) as exc:
        _check(body)
    assert exc.value.field == "complainant.email"
