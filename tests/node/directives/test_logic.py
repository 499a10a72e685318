"""Pure parts of emergency dispatch: target specs and the forwarding rule, emergency plans as
versioned data, reminder escalation (R3.3, R3.4; CONTRACT §6). No database."""
from __future__ import annotations

from pathlib import Path

import pytest

from node import directives
from node.directives import reminders
from node.errors import NodeError

within = directives.is_within


@pytest.mark.parametrize("raw,issuer,expected", [
    (None, "000000", ["*"]),
    (["440000/*"], "000000", ["440000/*"]),
    (["440000", "440000", "330106"], "000000", ["440000", "330106"]),
    (["440305001", "*"], "000000", ["*"]),
    (["000000/*"], "000000", ["*"]),
    (["440305001"], "440305", ["440305001"]),
    (["429004"], "420000", ["429004"]),    # a county straight under its province (parent_code)
])
def test_normalise_targets(raw, issuer, expected):
    assert directives.normalise_targets(raw, issuer) == expected


@pytest.mark.parametrize("raw,issuer,message", [
    (["440000"], "440300", "directives travel only down"),
    (["440306"], "440305", "outside the issuer's subtree"),
    (["330000/*"], "440000", "outside the issuer's subtree"),
    (["440300"], "440300", "not the issuer itself"),
    (["44030"], "440000", "unknown node code"),
])
def test_normalise_targets_refuses(raw, issuer, message):
    with pytest.raises(NodeError) as exc:
        directives.normalise_targets(raw, issuer)
    assert exc.value.status == 422 and message in exc.value.message


@pytest.mark.parametrize("specs,code,expected", [
    (["*"], "440305001", True),
    (["*"], "000000", False),                 # the issuer is never its own target
    (["440000/*"], "440000", True),
    (["440000/*"], "440305001", True),
    (["440000/*"], "330106", False),
    (["440305"], "440305", True),
    (["440305"], "440305001", False),         # a plain code is that node only
    (["440305"], "440300", False),
])
def test_is_target(specs, code, expected):
    assert directives.is_target(specs, code, "000000", within) is expected


@pytest.mark.parametrize("specs,child,expected", [
    (["*"], "330000", True),
    (["440000/*"], "440000", True),
    (["440000/*"], "330000", False),          # never into Zhejiang
    (["440305001"], "440000", True),          # a path node relays to a deep target
    (["440305001"], "440100", False),         # but not into a sibling prefecture
    (["440300/*"], "440305", True),           # inside a targeted subtree
    (["440305"], "440305001", False),         # a plain code stops at that node
])
def test_leads_into_is_the_forwarding_rule(specs, child, expected):
    assert directives.leads_into(specs, child, within) is expected


def test_expected_codes_before_a_child_reports():
    assert directives.expected_codes(["440000/*"], "440000", "000000", within) == ["440000"]
    assert (directives.expected_codes(["440305001", "440305002"], "440000", "000000", within)
            == ["440305001", "440305002"])
    assert directives.expected_codes(["*"], "330000", "000000", within) == ["330000"]
    assert directives.expected_codes(["440305001"], "330000", "000000", within) == []


def test_shipped_plans_load_with_steps_duties_and_deadlines():
    plans = directives.load_plans()
    assert set(plans) >= {"food_poisoning", "product_safety", "mass_complaint"}
    for versions in plans.values():
        plan = versions[-1]
        assert plan.steps and plan.duties and plan.ack_within_minutes > 0
        assert plan.basis, f"{plan.id} names its legal basis"
        assert set(plan.duties) <= {"hq", "province", "prefecture", "county", "station"}
        assert [s["order"] for s in plan.steps] == sorted(s["order"] for s in plan.steps)
    assert plans["food_poisoning"][0].category == "food_safety"


def _write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")


PLAN = """id = "test_plan"
version = {version}
effective_from = {effective}
name = "测试预案"
event_type = "测试事件"
title = "启动测试预案"
summary = "测试"
category = "other"
severity = "minor"
urgency = "future"
certainty = "possible"
ack_within_minutes = {ack}
report_counts = ["checked"]
[duties]
county = "处置"
[[steps]]
order = 1
title = "第一步"
"""


def test_plans_are_versioned_data(tmp_path):
    _write(tmp_path, "test_plan-v1.toml", PLAN.format(version=1, effective="2025-01-01", ack=60))
    _write(tmp_path, "test_plan-v2.toml", PLAN.format(version=2, effective="2026-10-01", ack=20))
    plans = directives.load_plans(tmp_path)
    assert [p.version for p in plans["test_plan"]] == [1, 2]
    assert plans["test_plan"][1].ack_within_minutes == 20


@pytest.mark.parametrize("text,message", [
    (PLAN.format(version=1, effective="2025-01-01", ack=60).replace('severity = "minor"', 'severity = "huge"'),
     "severity must be one of"),
    ('colour = "red"\n' + PLAN.format(version=1, effective="2025-01-01", ack=60), "unknown key colour"),
    (PLAN.format(version=1, effective="2025-01-01", ack=60).replace("[duties]\ncounty", "[duties]\nvillage"),
     "duties.village"),
    (PLAN.format(version=1, effective="2025-01-01", ack=60).replace('ack_within_minutes = 60\n', ''),
     "missing key ack_within_minutes"),
])
def test_a_bad_plan_file_names_the_problem(tmp_path, text, message):
    _write(tmp_path, "bad.toml", text)
    with pytest.raises(directives.PlanError) as exc:
        directives.load_plans(tmp_path)
    assert "bad.toml" in str(exc.value) and message in str(exc.value)


@pytest.mark.parametrize("late_minutes,level", [(-1, 0), (0, 1), (29, 1), (30, 2), (59, 2), (60, 3), (600, 3)])
def test_reminders_escalate_one_window_at_a_time(late_minutes, level):
    assert reminders.reminder_level(late_minutes * 60.0, 30 * 60.0) == level
