"""Statutory clocks: rule sets as versioned data and deadline computation (R2.6, CONTRACT §5)."""
from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from node.deadlines import rules as dl
from node.deadlines.calendar import WorkCalendar
from node.deadlines.rules import (
    RuleSetError,
    extend,
    initial_deadlines,
    load_rule_set,
    load_rule_sets,
    mark_met,
    on_accept,
    on_decision,
    on_odr_receipt,
    on_pause,
    on_resume,
    on_terminate,
    overdue_clocks,
    shanghai_date,
)
from node.errors import NodeError

RULES = Path(__file__).resolve().parents[3] / "configs" / "rules"
D = date.fromisoformat
T = datetime.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.fixture(scope="module")
def book() -> dl.RuleBook:
    return load_rule_sets(RULES)


@pytest.fixture(scope="module")
def rs(book: dl.RuleBook) -> dl.RuleSet:
    return book.get("CN-ORDER20-2022")


# -- the shipped rule set ---------------------------------------------------------------------
def test_shipped_rule_set_carries_the_contract_figures(book: dl.RuleBook) -> None:
    assert book.ids == ["CN-ORDER20-2022"]  # no guessed Order No. 121 file
    rule_set = book.get("CN-ORDER20-2022")
    assert rule_set.effective_from == D("2020-01-01")
    figures = {cid: (c.working_days, c.start, c.extension_days, c.pausable)
               for cid, c in rule_set.clocks.items()}
    assert figures == {
        "accept_by": (7, "receipt", 0, False),
        "mediation_end_by": (45, "acceptance", 0, True),
        "mediation_notice_by": (7, "termination", 0, False),
        "verify_by": (15, "receipt", 15, True),
        "reporter_notice_by": (5, "decision", 0, False),
        "odr_settle_by": (10, "firm_receipt", 0, False),
    }
    assert "Art. 46" in rule_set.clocks["accept_by"].basis
    assert "Art. 14" in rule_set.clocks["accept_by"].basis
    assert "Art. 21, 19" in rule_set.clocks["mediation_end_by"].basis
    assert "Art. 31" in rule_set.clocks["reporter_notice_by"].basis
    assert all(c.basis for c in rule_set.clocks.values())
    assert (RULES / "README.md").is_file()


def test_superseded_rule_set_warns_from_the_switch_date(book: dl.RuleBook) -> None:
    assert book.warnings_for(D("2026-04-14")) == []
    [warning] = book.warnings_for(D("2026-04-15"))
    assert "CN-ORDER20-2022" in warning and "Order No. 121" in warning and " / " in warning


# -- the acceptance example and Shanghai dates ------------------------------------------------
def test_acceptance_example(cal: WorkCalendar, book: dl.RuleBook) -> None:
    received = T("2026-09-29T10:00:00+08:00")
    rule_set = book.for_date(received)
    d = initial_deadlines("complaint", received, rule_set, cal)
    assert d["accept_by"] == "2026-10-14"
    assert d["conclude_by"] is None  # CONTRACT §5: null until accepted
    # the library agrees: 10-01..07 off, Saturday 10-10 worked, Sunday 10-11 off
    counted = [D("2026-09-29") + timedelta(i) for i in range(1, 16)]
    counted = [day for day in counted if chinese_calendar.is_workday(day)]
    assert counted[6] == D("2026-10-14") and D("2026-10-10") in counted
    json.dumps(d)  # travels as JSON on the case


@pytest.mark.parametrize("received_at, day, accept_by", [
    ("2026-09-29T23:30:00+00:00", "2026-09-30", "2026-10-15"),   # 07:30 next day in Shanghai
    ("2026-09-29T15:59:59+00:00", "2026-09-29", "2026-10-14"),   # 23:59:59 in Shanghai
    ("2026-09-29T16:00:00+00:00", "2026-09-30", "2026-10-15"),   # midnight in Shanghai
    ("2026-09-29T10:00:00-05:00", "2026-09-29", "2026-10-14"),   # 23:00 in Shanghai
    ("2026-10-03T09:00:00+08:00", "2026-10-03", "2026-10-15"),   # received on a holiday
])
def test_receipt_date_is_the_shanghai_date(cal: WorkCalendar, rs: dl.RuleSet, received_at: str,
                                           day: str, accept_by: str) -> None:
    assert shanghai_date(T(received_at)) == D(day)
    assert shanghai_date(received_at) == D(day)
    d = initial_deadlines("complaint", T(received_at), rs, cal)
    assert d["accept_by"] == accept_by
    assert d["clocks"]["accept_by"]["from"] == day


@pytest.mark.parametrize("value, fragment", [
    (datetime(2026, 9, 29, 10, 0), "must carry a UTC offset"),
    ("2026-09-29T10:00:00", "must carry a UTC offset"),
    ("yesterday", "is not an ISO 8601 time"),
    (20260929, "must be a date or datetime"),
])
def test_bad_received_at(cal: WorkCalendar, rs: dl.RuleSet, value: object, fragment: str) -> None:
    with pytest.raises(NodeError) as info:
        initial_deadlines("complaint", value, rs, cal)  # type: ignore[arg-type]
    assert info.value.status == 422 and info.value.field == "received_at"
    assert fragment in info.value.message


def test_initial_deadlines_per_kind(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    received = T("2026-09-29T10:00:00+08:00")
    assert initial_deadlines("consultation", received, rs, cal) == {}
    report = initial_deadlines("report", received, rs, cal)
    assert report["verify_by"] == "2026-10-26"
    assert "accept_by" not in report and "conclude_by" not in report
    with pytest.raises(NodeError, match="unknown case kind"):
        initial_deadlines("petition", received, rs, cal)


# -- binding to the rule set in force on the receipt date -------------------------------------
VALID = """\
id = "TEST-A"
title = "test rule set"
effective_from = 2020-01-01

[clocks.accept_by]
working_days = 7
from = "receipt"
basis = "CRPL Art. 46"

[clocks.mediation_end_by]
working_days = 45
from = "acceptance"
basis = "Order 20 Art. 21, 19"
pausable = true

[clocks.mediation_notice_by]
working_days = 7
from = "termination"
basis = "Order 20 Art. 21"

[clocks.verify_by]
working_days = 15
from = "receipt"
basis = "penalty procedure rules"
pausable = true
extension_days = 15
extension_basis = "penalty procedure rules, with approval"

[clocks.reporter_notice_by]
working_days = 5
from = "decision"
basis = "Order 20 Art. 31"

[clocks.odr_settle_by]
working_days = 10
from = "firm_receipt"
basis = "ODR rules"
"""

# TEST DATA: a second rule set with made-up figures, only to prove the binding by date.
NEXT = VALID.replace('id = "TEST-A"', 'id = "TEST-B"') \
    .replace("effective_from = 2020-01-01", "effective_from = 2026-04-15") \
    .replace("working_days = 7\nfrom = \"receipt\"", "working_days = 10\nfrom = \"receipt\"")


def _rules_dir(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("received_at, rule_set_id", [
    ("2026-04-14T10:00:00+08:00", "TEST-A"),
    ("2026-04-14T23:59:59+08:00", "TEST-A"),      # the day before the switch keeps the old set
    ("2026-04-14T16:00:00+00:00", "TEST-B"),      # = 2026-04-15 00:00 in Shanghai
    ("2026-04-15T09:00:00+08:00", "TEST-B"),
    ("2027-03-01T09:00:00+08:00", "TEST-B"),
    ("2020-01-01T00:00:00+08:00", "TEST-A"),
])
def test_case_binds_to_the_rule_set_in_force_on_receipt(tmp_path: Path, cal: WorkCalendar,
                                                         received_at: str,
                                                         rule_set_id: str) -> None:
    book = load_rule_sets(_rules_dir(tmp_path, a=VALID, b=NEXT))
    assert book.ids == ["TEST-A", "TEST-B"]
    rule_set = book.for_date(T(received_at))
    assert rule_set.id == rule_set_id
    received_day = shanghai_date(T(received_at))
    d = initial_deadlines("complaint", T(received_at), rule_set, cal)
    figure = 7 if rule_set_id == "TEST-A" else 10
    assert d["accept_by"] == cal.add_working_days(received_day, figure).isoformat()


def test_case_keeps_its_rule_set_when_a_new_one_arrives(tmp_path: Path, cal: WorkCalendar) -> None:
    """Loading a newer set later must not change a case received under the older one."""
    old_book = load_rule_sets(_rules_dir(tmp_path, a=VALID))
    received = T("2026-04-14T10:00:00+08:00")
    bound = old_book.for_date(received).id
    new_book = load_rule_sets(_rules_dir(tmp_path, a=VALID, b=NEXT))
    assert new_book.get(bound).id == "TEST-A"
    assert new_book.for_date(received).id == bound


def test_no_rule_set_in_force(tmp_path: Path) -> None:
    book = load_rule_sets(_rules_dir(tmp_path, b=NEXT))
    with pytest.raises(RuleSetError, match="no deadline rule set in force on 2026-04-14") as info:
        book.for_date(D("2026-04-14"))
    assert info.value.code == "no_rule_set"
    with pytest.raises(RuleSetError, match="rule set TEST-A is not loaded"):
        book.get("TEST-A")


# -- acceptance, mediation, termination, decisions --------------------------------------------
def test_accept_starts_the_mediation_clock(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d0 = initial_deadlines("complaint", T("2026-02-26T09:00:00+08:00"), rs, cal)
    frozen = copy.deepcopy(d0)
    d1 = on_accept(d0, T("2026-03-02T09:00:00+08:00"), rs, cal)
    assert d0 == frozen  # pure: the input is not mutated
    assert d1["conclude_by"] == "2026-05-08"  # 45 working days; 04-06 and 05-01..05 off
    assert d1["clocks"]["conclude_by"]["rule"] == "mediation_end_by"
    assert d1["met"] == {"accept_by": "2026-03-02"}
    assert overdue_clocks(d1, "accepted", D("2026-05-08")) == []
    assert overdue_clocks(d1, "in_mediation", D("2026-05-09")) == ["conclude_by"]
    investigation = on_accept(d0, D("2026-03-02"), rs, cal, mode="investigation")
    assert investigation["conclude_by"] == "2026-05-08"
    assert investigation["clocks"]["conclude_by"]["mode"] == "investigation"


@pytest.mark.parametrize("call, status, fragment", [
    (lambda d, rs, cal: on_accept(on_accept(d, D("2026-03-02"), rs, cal), D("2026-03-03"), rs,
                                  cal), 409, "already accepted"),
    (lambda d, rs, cal: on_accept(d, D("2026-03-02"), rs, cal, mode="arbitration"), 422,
     "mode must be one of"),
    (lambda d, rs, cal: on_terminate(d, D("2026-03-02"), rs, cal), 409, "has no conclude_by"),
    (lambda d, rs, cal: on_decision(d, D("2026-03-02"), rs, cal), 409, "has no verify_by"),
    (lambda d, rs, cal: mark_met(d, "verify_by", D("2026-03-02")), 422, "has no verify_by"),
])
def test_refused_transitions(cal: WorkCalendar, rs: dl.RuleSet, call, status: int,
                             fragment: str) -> None:
    complaint = initial_deadlines("complaint", D("2026-02-26"), rs, cal)
    with pytest.raises(NodeError) as info:
        call(complaint, rs, cal)
    assert info.value.status == status and fragment in info.value.message


def test_terminate_starts_the_notice_clock(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = on_accept(initial_deadlines("complaint", D("2026-09-01"), rs, cal), D("2026-09-03"),
                  rs, cal)
    d = on_terminate(d, T("2026-09-29T18:00:00+08:00"), rs, cal)
    assert d["met"]["conclude_by"] == "2026-09-29"
    assert d["mediation_notice_by"] == "2026-10-14"
    assert overdue_clocks(d, "concluded", D("2026-10-15")) == ["mediation_notice_by"]
    assert overdue_clocks(d, "closed", D("2026-10-15")) == []
    told = mark_met(d, "mediation_notice_by", D("2026-10-09"))
    assert overdue_clocks(told, "concluded", D("2026-10-15")) == []


def test_report_decision_and_reporter_notice(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("report", T("2026-09-29T10:00:00+08:00"), rs, cal)
    decided = on_decision(d, D("2026-10-09"), rs, cal)
    assert decided["met"]["verify_by"] == "2026-10-09"
    assert decided["reporter_notice_by"] == "2026-10-15"  # 10-10 (Sat, worked), 12, 13, 14, 15
    anonymous = on_decision(d, D("2026-10-09"), rs, cal, notify_reporter=False)
    assert "reporter_notice_by" not in anonymous
    assert overdue_clocks(decided, "filed", D("2026-10-30")) == ["reporter_notice_by"]


def test_odr_settlement_clock(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("complaint", D("2026-09-28"), rs, cal)
    d = on_odr_receipt(d, T("2026-09-28T12:00:00+08:00"), rs, cal)
    assert d["odr_settle_by"] == cal.add_working_days(D("2026-09-28"), 10).isoformat()
    assert d["odr_settle_by"] == "2026-10-16"  # 09-29, 30, 10-08, 09, 10 (Sat), 12..16


# -- pauses (testing / appraisal time not counted) --------------------------------------------
def test_pause_extends_the_running_clock(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = on_accept(initial_deadlines("complaint", D("2026-02-26"), rs, cal), D("2026-03-02"),
                  rs, cal)
    assert d["conclude_by"] == "2026-05-08"
    paused = on_pause(d, T("2026-03-10T10:00:00+08:00"), cal, reason="appraisal")
    assert paused["paused"] == [{"from": "2026-03-10", "to": None, "clocks": ["conclude_by"],
                                 "reason": "appraisal"}]
    assert paused["conclude_by"] == "2026-05-08"  # unchanged until resumed
    # while paused the clock is stopped: never overdue
    assert overdue_clocks(paused, "in_mediation", D("2026-06-30")) == []
    resumed = on_resume(paused, D("2026-03-17"), cal)
    # 5 working days (03-11..13, 16, 17) not counted: 05-08 + 5 = 05-09 (Sat, worked) .. 05-14
    assert resumed["conclude_by"] == "2026-05-14"
    assert resumed["paused"][0]["to"] == "2026-03-17"
    counted = cal.working_days_between(D("2026-03-02"), D("2026-05-14")) - \
        cal.working_days_between(D("2026-03-10"), D("2026-03-17"))
    assert counted == 45
    # a second pause adds on
    again = on_resume(on_pause(resumed, D("2026-04-01"), cal), D("2026-04-03"), cal)
    assert again["conclude_by"] == cal.add_working_days(D("2026-05-14"), 2).isoformat()


def test_pause_across_national_day(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("report", D("2026-09-21"), rs, cal)
    # 15 working days: Mid-autumn 09-25..27 and National Day 10-01..07 off, Sat 10-10 worked
    assert d["verify_by"] == "2026-10-19"
    d = on_resume(on_pause(d, D("2026-09-29"), cal), D("2026-10-09"), cal)
    # not counted: 09-30, 10-08, 10-09 (the holiday week was never counted anyway)
    assert d["verify_by"] == "2026-10-22"


def test_pause_after_the_deadline_does_not_revive_it(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("report", D("2026-09-21"), rs, cal)
    still_open = on_pause(d, D("2026-10-20"), cal)
    assert overdue_clocks(still_open, "verifying", D("2026-10-21")) == ["verify_by"]
    d = on_resume(still_open, D("2026-10-30"), cal)
    assert d["verify_by"] == "2026-10-19"
    assert overdue_clocks(d, "verifying", D("2026-10-20")) == ["verify_by"]


@pytest.mark.parametrize("call, status, fragment", [
    (lambda d, cal: on_pause(on_pause(d, D("2026-03-10"), cal), D("2026-03-11"), cal), 409,
     "already paused"),
    (lambda d, cal: on_resume(d, D("2026-03-10"), cal), 409, "not paused"),
    (lambda d, cal: on_resume(on_pause(d, D("2026-03-10"), cal), D("2026-03-09"), cal), 422,
     "resumed before the pause began"),
    (lambda d, cal: on_pause(on_resume(on_pause(d, D("2026-03-10"), cal), D("2026-03-20"), cal),
                             D("2026-03-18"), cal), 409, "before the previous one ended"),
])
def test_refused_pauses(cal: WorkCalendar, rs: dl.RuleSet, call, status: int,
                        fragment: str) -> None:
    d = on_accept(initial_deadlines("complaint", D("2026-02-26"), rs, cal), D("2026-03-02"),
                  rs, cal)
    with pytest.raises(NodeError) as info:
        call(d, cal)
    assert info.value.status == status and fragment in info.value.message


def test_acceptance_clock_cannot_be_paused(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("complaint", D("2026-02-26"), rs, cal)
    with pytest.raises(NodeError, match="no running clock can be paused"):
        on_pause(d, D("2026-02-27"), cal)


# -- the +15 extension of report verification -------------------------------------------------
def test_verification_extension(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("report", T("2026-09-29T10:00:00+08:00"), rs, cal)
    assert d["verify_by"] == "2026-10-26"
    longer = extend(d, "verify_by", 15, "局长 王五", cal, approved_at=D("2026-10-20"))
    assert longer["verify_by"] == "2026-11-16"
    assert longer["verify_by"] == cal.add_working_days(D("2026-09-29"), 30).isoformat()
    assert longer["extensions"] == [{"clock": "verify_by", "days": 15,
                                     "approved_by": "局长 王五", "at": "2026-10-20"}]
    assert overdue_clocks(longer, "verifying", D("2026-10-27")) == []
    assert overdue_clocks(longer, "verifying", D("2026-11-17")) == ["verify_by"]
    # the allowance may be used in parts, never beyond 15
    part = extend(d, "verify_by", 5, "副局长", cal)
    assert part["verify_by"] == cal.add_working_days(D("2026-09-29"), 20).isoformat()
    with pytest.raises(NodeError, match=r"extra_days must be 1\.\.10"):
        extend(part, "verify_by", 11, "副局长", cal)


@pytest.mark.parametrize("clock, days, approver, approved_at, status, fragment", [
    ("verify_by", 16, "局长", None, 422, "extra_days must be 1..15"),
    ("verify_by", 0, "局长", None, 422, "extra_days must be 1..15"),
    ("verify_by", 15, " ", None, 422, "approved_by is required"),
    ("verify_by", 15, "局长", D("2026-10-27"), 409, "expired on 2026-10-26"),
    ("accept_by", 5, "局长", None, 409, "has no accept_by"),
])
def test_refused_extensions(cal: WorkCalendar, rs: dl.RuleSet, clock: str, days: int,
                            approver: str, approved_at: date | None, status: int,
                            fragment: str) -> None:
    d = initial_deadlines("report", D("2026-09-29"), rs, cal)
    with pytest.raises(NodeError) as info:
        extend(d, clock, days, approver, cal, approved_at=approved_at)
    assert info.value.status == status and fragment in info.value.message


def test_extension_only_where_the_rule_allows_it(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("complaint", D("2026-09-29"), rs, cal)
    with pytest.raises(NodeError, match="allows no .further. extension"):
        extend(d, "accept_by", 5, "局长", cal)
    once = extend(initial_deadlines("report", D("2026-09-29"), rs, cal), "verify_by", 15,
                  "局长", cal)
    with pytest.raises(NodeError, match="allows no .further. extension"):
        extend(once, "verify_by", 1, "局长", cal)


# -- overdue ----------------------------------------------------------------------------------
def test_overdue_clocks(cal: WorkCalendar, rs: dl.RuleSet) -> None:
    d = initial_deadlines("complaint", T("2026-09-29T10:00:00+08:00"), rs, cal)
    assert overdue_clocks(d, "registered", D("2026-10-14")) == []       # due today: not late
    assert overdue_clocks(d, "registered", D("2026-10-15")) == ["accept_by"]
    # today as an aware datetime: 2026-10-14T16:30Z is 10-15 00:30 in Shanghai
    assert overdue_clocks(d, "registered", T("2026-10-14T16:30:00+00:00")) == ["accept_by"]
    assert overdue_clocks(d, "declined", D("2026-10-15")) == []         # no longer running
    assert overdue_clocks(mark_met(d, "accept_by", D("2026-10-12")), "registered",
                          D("2026-10-15")) == []
    assert overdue_clocks({}, "answered", D("2030-01-01")) == []        # consultation
    with pytest.raises(NodeError, match="unknown status"):
        overdue_clocks(d, "lost", D("2026-10-15"))


# -- malformed rule-set files -----------------------------------------------------------------
@pytest.mark.parametrize("old, new, key, fragment", [
    ('id = "TEST-A"', 'colour = "red"\nid = "TEST-A"', "colour", "unknown key"),
    ("working_days = 7\nfrom = \"receipt\"", "days = 7\nworking_days = 7\nfrom = \"receipt\"",
     "clocks.accept_by.days", "unknown key"),
    ('basis = "penalty procedure rules"\n', "", "clocks.verify_by.basis", "is missing"),
    ('basis = "Order 20 Art. 31"', 'basis = "  "', "clocks.reporter_notice_by.basis",
     "must not be empty"),
    ('basis = "Order 20 Art. 31"', "basis = 31", "clocks.reporter_notice_by.basis",
     "must be a string"),
    ("working_days = 7\nfrom = \"receipt\"", "working_days = -7\nfrom = \"receipt\"",
     "clocks.accept_by.working_days", "must be a positive integer (got -7)"),
    ("working_days = 45", "working_days = 0", "clocks.mediation_end_by.working_days",
     "must be a positive integer (got 0)"),
    ("working_days = 45", "working_days = true", "clocks.mediation_end_by.working_days",
     "must be a positive integer"),
    ("working_days = 45", 'working_days = "45"', "clocks.mediation_end_by.working_days",
     "must be a positive integer"),
    ("working_days = 45", "working_days = 4.5", "clocks.mediation_end_by.working_days",
     "must be a positive integer"),
    ("working_days = 10\n", "", "clocks.odr_settle_by.working_days", "is missing"),
    ("extension_days = 15", "extension_days = -15", "clocks.verify_by.extension_days",
     "must be a non-negative integer (got -15)"),
    ('extension_basis = "penalty procedure rules, with approval"\n', "",
     "clocks.verify_by.extension_basis", "is missing"),
    ('from = "firm_receipt"', 'from = "receipt"', "clocks.odr_settle_by.from",
     "must be 'firm_receipt' (got 'receipt')"),
    ('from = "firm_receipt"\n', "", "clocks.odr_settle_by.from", "is missing"),
    ("pausable = true\nextension", 'pausable = "yes"\nextension', "clocks.verify_by.pausable",
     "true or false"),
    ("[clocks.odr_settle_by]", "[clocks.answer_by]", "clocks.answer_by", "unknown clock"),
    ("[clocks.odr_settle_by]", "[clocks.odr_settle_by_x]", "clocks.odr_settle_by_x",
     "unknown clock"),
    ("effective_from = 2020-01-01\n", "", "effective_from", "is missing"),
    ("effective_from = 2020-01-01", 'effective_from = "2020-13-01"', "effective_from",
     "must be a date"),
    ("effective_from = 2020-01-01", "effective_from = 2020-01-01T00:00:00", "effective_from",
     "must be a date"),
    ("effective_from = 2020-01-01", "effective_from = 2020-01-01\nsuperseded_from = 2019-01-01",
     "superseded_from", "must be later than effective_from"),
    ('id = "TEST-A"\n', "", "id", "is missing"),
    ('id = "TEST-A"', 'id = "TEST A"', "id", "may contain only"),
])
def test_malformed_rule_set(tmp_path: Path, old: str, new: str, key: str, fragment: str) -> None:
    assert old in VALID
    path = tmp_path / "broken.toml"
    path.write_text(VALID.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RuleSetError) as info:
        load_rule_set(path)
    message = info.value.message
    assert f"{path}: {key}: " in message, message
    assert fragment in message, message
    assert message.index("规则集文件") < message.index(" / ")  # Chinese first, then English


def test_missing_clock_is_named(tmp_path: Path) -> None:
    text = VALID[:VALID.index("[clocks.odr_settle_by]")]
    path = tmp_path / "short.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"short\.toml: clocks\.odr_settle_by: is missing"):
        load_rule_set(path)


def test_clocks_table_is_required(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    path.write_text('id = "X"\neffective_from = 2020-01-01\n', encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"none\.toml: clocks: is missing or not a table"):
        load_rule_set(path)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text("id = \n", encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"syntax\.toml: invalid TOML"):
        load_rule_set(path)


@pytest.mark.parametrize("files, fragment", [
    ({"a": VALID, "b": VALID.replace("2020-01-01", "2021-01-01")}, "duplicates"),
    ({"a": VALID, "b": VALID.replace('"TEST-A"', '"TEST-C"')}, "same as"),
    ({}, "no *.toml rule set"),
])
def test_malformed_rule_book(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    folder = _rules_dir(tmp_path, **files)
    with pytest.raises(RuleSetError) as info:
        load_rule_sets(folder)
    assert fragment in info.value.message


def test_missing_rules_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="does not exist"):
        load_rule_sets(tmp_path / "nowhere")
