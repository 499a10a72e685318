"""Triage into general / urgent / critical (R1.4): pure function, never lowers the operator's choice."""
from __future__ import annotations

import pytest

from node.cases.triage import triage
from node.config import DEFAULT_TRIAGE, TriageRule


@pytest.mark.parametrize("summary, description, given, expected", [
    ("冰箱不制冷", "", "general", "general"),
    ("幼儿园餐食导致多人中毒", "", "general", "critical"),
    ("餐馆就餐后食物中毒", "", "general", "urgent"),
    ("燃气热水器爆炸", "造成火灾", "general", "critical"),
    ("Injury from a toy", "", "general", "urgent"),               # Latin keywords match case-insensitively
    ("冰箱不制冷", "", "urgent", "urgent"),                         # never lowered
    ("餐馆就餐后食物中毒", "", "critical", "critical"),             # never lowered
])
def test_triage_grades(summary, description, given, expected):
    urgency, reasons = triage(summary, description, given, DEFAULT_TRIAGE)
    assert urgency == expected
    assert bool(reasons) == (expected != given)


def test_reasons_name_keyword_and_grade():
    urgency, reasons = triage("顾客用餐后中毒", "", "general", DEFAULT_TRIAGE)
    assert urgency == "urgent"
    assert len(reasons) == 1
    assert "中毒" in reasons[0] and "紧急" in reasons[0] and "urgent" in reasons[0]


def test_both_rules_matching_report_the_higher_first():
    urgency, reasons = triage("商场火灾", "多人受伤", "general", DEFAULT_TRIAGE)
    assert urgency == "critical"
    assert "critical" in reasons[0] and "urgent" in reasons[1]


def test_operator_rules_replace_defaults():
    rules = (TriageRule("urgent", ("电梯",), "特种设备"),)
    assert triage("电梯困人", "", "general", rules)[0] == "urgent"
    assert triage("食物中毒", "", "general", rules) == ("general", [])


def test_unknown_urgency_is_a_programming_error():
    with pytest.raises(ValueError):
        triage("x", "", "high", DEFAULT_TRIAGE)
