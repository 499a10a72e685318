"""The division table and node-code rules (R7.1, R1.5, R7.3; CONTRACT §2 ``init``)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from node.divisions import (
    DEFAULT_DIVISIONS_CSV,
    DEFAULT_RETIRED_CSV,
    HQ_CODE,
    Division,
    DivisionTable,
    RetiredDivision,
    load_divisions,
    read_retired_csv,
)
from node.errors import NodeError

SHARED_CSV = Path("/work/shared/data/divisions/divisions.csv")


@pytest.fixture(scope="module")
def table() -> DivisionTable:
    return load_divisions()


def test_loaded_once(table: DivisionTable) -> None:
    assert load_divisions() is table


def test_ministry_totals(table: DivisionTable) -> None:
    levels = [d.level for d in table.divisions()]
    assert levels.count("province") == 34
    assert levels.count("prefecture") == 333
    assert levels.count("county") == 2845
    assert len(table) == 3212


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared reference data not present")
def test_shipped_copy_matches_reference_data() -> None:
    assert DEFAULT_DIVISIONS_CSV.read_bytes() == SHARED_CSV.read_bytes()


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("000000", "hq"),
        ("440000", "province"),
        ("710000", "province"),  # Taiwan, set to 710000 in the derivation
        ("440300", "prefecture"),
        ("440305", "county"),
        ("429004", "county"),  # 仙桃市, straight under 湖北省
        ("440305001", "station"),
        ("440305999", "station"),
        ("441900001", "station"),  # 东莞市 has no counties: its town offices sit under it
        ("440305000", None),  # suffix 000 is not a station
        ("440300001", None),  # a prefecture with counties has no stations of its own
        ("440000001", None),
        ("999999", None),
        ("4403", None),
        ("44030500a", None),
        ("310108", None),  # retired
    ],
)
def test_level_of(table: DivisionTable, code: str, level: str | None) -> None:
    assert table.level_of(code) == level


@pytest.mark.parametrize(
    ("code", "parent"),
    [
        ("440305", "440300"),
        ("440300", "440000"),
        ("440000", HQ_CODE),
        ("429004", "420000"),  # parent_code, not string arithmetic (4290xx has no 429000 row)
        ("419001", "410000"),
        ("110101", "110000"),  # municipality district
        ("659001", "650000"),  # XPCC city
        ("440305001", "440305"),
        ("441900001", "441900"),
        (HQ_CODE, None),
        ("999999", None),
    ],
)
def test_parent(table: DivisionTable, code: str, parent: str | None) -> None:
    assert table.parent(code) == parent


def test_parent_of_every_row_is_its_parent_code(table: DivisionTable) -> None:
    with open(DEFAULT_DIVISIONS_CSV, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            assert table.parent(row["code"]) == (row["parent_code"] or HQ_CODE)


@pytest.mark.parametrize(
    ("code", "ancestors"),
    [
        ("440305001", ["440305", "440300", "440000", "000000"]),
        ("440305", ["440300", "440000", "000000"]),
        ("429004", ["420000", "000000"]),
        ("440000", ["000000"]),
        ("000000", []),
    ],
)
def test_ancestors(table: DivisionTable, code: str, ancestors: list[str]) -> None:
    assert table.ancestors(code) == ancestors


def test_ancestors_of_unknown_code_raise(table: DivisionTable) -> None:
    with pytest.raises(KeyError):
        table.ancestors("999999")


@pytest.mark.parametrize(
    ("code", "ancestor", "expected"),
    [
        ("440305", "440305", True),  # reflexive
        ("440305001", "440305001", True),
        ("000000", "000000", True),
        ("440305", "000000", True),
        ("440305001", "000000", True),
        ("440305001", "440300", True),
        ("440305001", "440000", True),
        ("429004", "420000", True),
        ("441900001", "440000", True),
        ("440305", "440306", False),
        ("440305", "330000", False),
        ("440000", "440300", False),  # a parent is not within its child
        ("000000", "440000", False),
        ("999999", "000000", False),  # unknown codes are within nothing: fail closed
        ("440305000", "440305", False),
    ],
)
def test_is_within(table: DivisionTable, code: str, ancestor: str, expected: bool) -> None:
    assert table.is_within(code, ancestor) is expected


@pytest.mark.parametrize(
    ("a", "b", "lca"),
    [
        ("440305", "440306", "440300"),
        ("440305001", "440305002", "440305"),
        ("440305001", "440305", "440305"),
        ("440305", "440305001", "440305"),
        ("440305", "440103", "440000"),
        ("440305", "330106", "000000"),
        ("429004", "420102", "420000"),
        ("440305", "000000", "000000"),
        ("440305", "440305", "440305"),
    ],
)
def test_lowest_common_ancestor(table: DivisionTable, a: str, b: str, lca: str) -> None:
    assert table.lowest_common_ancestor(a, b) == lca


def test_names(table: DivisionTable) -> None:
    assert table.name("440305") == "南山区"
    assert table.name("000000") == "全国"
    assert table.name("440305001") is None
    assert table.full_name("440305") == "广东省深圳市南山区"
    assert table.full_name("429004") == "湖北省仙桃市"
    assert table.province_of("440305001") == "440000"
    assert table.province_of("440000") == "440000"
    assert table.province_of("000000") is None


def test_current_and_retired(table: DivisionTable) -> None:
    assert table.is_current("310106")
    assert not table.is_current("310108")
    assert not table.is_current(HQ_CODE)
    assert not table.is_current("440305001")
    r = table.retired("310108")
    assert r is not None and r.successor == "310106" and r.name == "闸北区"


def test_every_retired_row_is_consistent(table: DivisionTable) -> None:
    rows = read_retired_csv(DEFAULT_RETIRED_CSV)
    assert {r.code for r in rows} >= {"110103", "110104", "310108"}
    for r in rows:
        assert not table.is_current(r.code), r
        assert table.is_current(r.successor), r
        assert len(r.retired_on) == 4 and r.retired_on.isdigit(), r


@pytest.mark.parametrize(
    ("code", "error_code", "fragment"),
    [
        ("310108", "retired_division", "已撤销的行政区划代码 310108（2015 年并入 310106）"),
        ("110103", "retired_division", "2010 年并入 110101"),
        ("110104", "retired_division", "2010 年并入 110102"),
        ("999999", "unknown_division", "未知的行政区划代码 999999"),
        ("000000", "invalid", "000000"),
        ("44030", "invalid", "6 位数字"),
        ("440305001", "invalid", "6 位数字"),
        (440305, "invalid", "须为字符串"),
    ],
)
def test_check_current_refusals(table: DivisionTable, code: object, error_code: str, fragment: str) -> None:
    with pytest.raises(NodeError) as exc:
        table.check_current(code, "respondent.region_code")
    assert exc.value.status == 422
    assert exc.value.code == error_code
    assert exc.value.field == "respondent.region_code"
    assert fragment in exc.value.message


@pytest.mark.parametrize(
    ("level", "code"),
    [
        ("hq", "000000"),
        ("province", "440000"),
        ("province", "110000"),
        ("prefecture", "440300"),
        ("prefecture", "441900"),
        ("county", "440305"),
        ("county", "429004"),
        ("county", "110101"),
        ("station", "440305001"),
        ("station", "440305999"),
        ("station", "441900001"),
    ],
)
def test_check_node_code_accepts(table: DivisionTable, level: str, code: str) -> None:
    table.check_node_code(level, code)


@pytest.mark.parametrize(
    ("level", "code", "field", "fragment"),
    [
        ("hq", "440000", "code", "总局节点代码必须为 000000"),
        ("province", "000000", "code", "000000 仅用于总局"),
        ("province", "440300", "code", "是地市级区划，不是省级"),
        ("prefecture", "440000", "code", "是省级区划，不是地市级"),
        ("prefecture", "440305", "code", "是县级区划，不是地市级"),
        ("county", "440300", "code", "是地市级区划，不是县级"),
        ("county", "999999", "code", "未知的行政区划代码"),
        ("county", "310108", "code", "已撤销的行政区划代码 310108（2015 年并入 310106）"),
        ("county", "4403051", "code", "6 位"),
        ("station", "440305", "code", "县级区划代码加 3 位序号"),
        ("station", "440305000", "code", "001–999"),
        ("station", "440300001", "code", "不是县级行政区划"),
        ("station", "999999001", "code", "未知的行政区划代码"),
        ("station", "44030500x", "code", "须为数字"),
        ("township", "440305001", "level", "未知的节点层级"),
    ],
)
def test_check_node_code_refusals(
    table: DivisionTable, level: str, code: str, field: str, fragment: str
) -> None:
    with pytest.raises(NodeError) as exc:
        table.check_node_code(level, code)
    assert exc.value.status == 422
    assert exc.value.field == field
    assert fragment in exc.value.message
    assert " / " in exc.value.message  # Chinese first, then English


def _row(code: str, level: str, parent: str = HQ_CODE) -> Division:
    return Division(code=code, name=code, type="x", level=level, parent_code=parent)


@pytest.mark.parametrize(
    ("divisions", "retired", "fragment"),
    [
        ([_row("110000", "province"), _row("110000", "province")], [], "duplicate"),
        ([_row("110101", "county", "110000")], [], "parent 110000 not in the table"),
        ([_row("110000", "province")], [RetiredDivision("110000", "x", "2010", "110000")], "still a current"),
        ([_row("110000", "province")], [RetiredDivision("110103", "x", "2010", "119999")], "not current"),
        ([_row("110000", "township")], [], "unknown level"),
    ],
)
def test_table_refuses_inconsistent_data(
    divisions: list[Division], retired: list[RetiredDivision], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        DivisionTable(divisions, retired)
