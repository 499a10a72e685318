"""USCC check per GB 32100-2015 (R7.3, R7.4), against real published codes.

``tests/node/cases/data/uscc_codes.csv`` is a copy of the project's reference data (provenance in
``tests/node/cases/data/README.md``): every valid row must pass and every invalid one must fail.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from node.cases.uscc import (
    CHARSET,
    WEIGHTS,
    check_character,
    check_uscc,
    is_valid_uscc,
    normalize_uscc,
)
from node.errors import NodeError

DATA = Path(__file__).parent / "data" / "uscc_codes.csv"

with open(DATA, encoding="utf-8", newline="") as _f:
    ROWS = list(csv.DictReader(_f))
VALID = [r["code"] for r in ROWS if r["expected_valid"] == "true"]
INVALID = [(r["code"], r["reason_if_invalid"]) for r in ROWS if r["expected_valid"] == "false"]


def test_dataset_has_both_kinds() -> None:
    assert len(VALID) >= 9 and len(INVALID) >= 8


def test_weights_are_powers_of_three_mod_31() -> None:
    assert tuple(pow(3, i, 31) for i in range(17)) == WEIGHTS
    assert len(CHARSET) == 31 and not set("IOZSV") & set(CHARSET)


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_pass(code: str) -> None:
    check_uscc(code)
    assert is_valid_uscc(code)


@pytest.mark.parametrize(("code", "reason"), INVALID)
def test_invalid_codes_fail(code: str, reason: str) -> None:
    with pytest.raises(NodeError) as exc:
        check_uscc(code)
    assert exc.value.status == 422
    assert exc.value.field == "respondent.uscc"
    assert not is_valid_uscc(code)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91100000100003962A", "校验位错误：应为 T，实为 A"),
        ("911000001000044477", "expected 3, got 7"),
        ("9144030071526726X7", "expected G"),
        ("91110108MA01FQ8B0B", "expected 7"),
        ("9144030019220382", "应为 18 位，实为 16 位"),
        ("91440300192203821O", "不使用的字母 O"),
        ("9144030019220382I6", "forbidden letter I at position 17"),
        ("Z14403001922038216", "forbidden letter Z at position 1"),
        ("91440300192203S216", "forbidden letter S"),
        ("9V4403001922038216", "forbidden letter V"),
        ("9A4403001922038216", "第 2 位（机构类别）须为数字"),
        ("91A403001922038216", "第 3–8 位（行政区划码）须为数字"),
        ("914403001922038-16", "非法字符"),
        ("914403001922o38216", "须为大写字母"),
        ("914403001922０38216", "非法字符"),  # a full-width digit
    ],
)
def test_specific_reasons(code: str, fragment: str) -> None:
    with pytest.raises(NodeError) as exc:
        check_uscc(code)
    assert fragment in exc.value.message


@pytest.mark.parametrize("first", ["1", "5", "9", "Y", "A", "N"])
def test_registration_authority_may_be_a_letter(first: str) -> None:
    # Position 1 is a digit or a letter of the charset (A 中央军委改革和编制办公室, N 农业,
    # Y 其他): a check demanding eight leading digits would be wrong.
    body = first + "1440300MA5F00001"
    assert len(body) == 17
    check_uscc(body + check_character(body))


def test_check_character_examples() -> None:
    assert check_character("91440300192203821") == "6"
    assert check_character("91350100M000100Y4") == "3"


def test_normalize_then_check_accepts_lower_case() -> None:
    code = normalize_uscc("  91330100716105852f ")
    assert code == "91330100716105852F"
    check_uscc(code)


def test_custom_field_name() -> None:
    with pytest.raises(NodeError) as exc:
        check_uscc("123", field="uscc")
    assert exc.value.field == "uscc"


def test_non_string_refused() -> None:
    with pytest.raises(NodeError):
        check_uscc(914403001922038216)  # type: ignore[arg-type]
    assert not is_valid_uscc(None)  # type: ignore[arg-type]
