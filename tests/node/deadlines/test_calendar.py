"""The working-day calendar behind the statutory clocks (R2.6, CONTRACT §5 "Deadlines")."""
from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from node.deadlines.calendar import (
    CalendarConfigError,
    WorkCalendar,
    load_operator_calendar,
    official_year_range,
)

REFERENCE = Path(__file__).resolve().parents[3] / "node" / "data" / "calendar" / \
    "cn_holidays_2025_2026.json"
D = date.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(i) for i in range((date(year + 1, 1, 1) - first).days)]


# -- the official data ------------------------------------------------------------------------
@pytest.mark.parametrize("year", [2025, 2026])
def test_library_matches_reference_file(cal: WorkCalendar, year: int) -> None:
    """A chinesecalendar upgrade that rewrote 2025/2026 would move registered deadlines."""
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))["years"][str(year)]
    holidays = {D(k): v for k, v in ref["holidays_off_days"].items()}
    workdays = {D(k): v for k, v in ref["adjusted_working_days"].items()}
    in_lieu = {D(k) for k in ref["in_lieu_days"]}
    assert all(d.year == year for d in [*holidays, *workdays, *in_lieu])
    count = 0
    for day in _days_of(year):
        expected = day in workdays or (day.weekday() < 5 and day not in holidays)
        count += expected
        assert chinese_calendar.is_workday(day) is expected, day
        assert cal.is_working_day(day) is expected, day
        assert chinese_calendar.is_in_lieu(day) is (day in in_lieu), day
        is_holiday_entry, name = chinese_calendar.get_holiday_detail(day)
        if day in holidays:
            assert (is_holiday_entry, name) == (True, holidays[day]), day
        elif day in workdays:
            assert (is_holiday_entry, name) == (False, workdays[day]), day
    assert count == ref["workday_count"]
    assert cal.year_source(year) == "official"
    assert cal.warnings_for(year) == []


def test_reference_file_names_its_source() -> None:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert "chinesecalendar==1.11.0" in data["source"]
    assert (REFERENCE.parent / "PROVENANCE.md").is_file()
    assert official_year_range()[0] == 2004 and official_year_range()[1] >= 2026


@pytest.mark.parametrize("day, working", [
    ("2025-01-26", True),    # Sunday, Spring Festival make-up day
    ("2025-01-28", False),   # Spring Festival eve
    ("2025-02-08", True),    # Saturday make-up
    ("2025-09-28", True),    # Sunday make-up for National Day
    ("2025-10-08", False),
    ("2025-10-11", True),    # Saturday make-up
    ("2026-02-14", True),    # Saturday make-up
    ("2026-02-23", False),   # Monday, Spring Festival
    ("2026-02-28", True),    # Saturday make-up
    ("2026-09-30", True),
    ("2026-10-01", False),
    ("2026-10-07", False),
    ("2026-10-10", True),    # Saturday make-up
    ("2026-10-11", False),   # ordinary Sunday
    ("2026-03-04", True),    # ordinary Wednesday
])
def test_is_working_day(cal: WorkCalendar, day: str, working: bool) -> None:
    assert cal.is_working_day(D(day)) is working


# -- counting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("start, n, expected", [
    # Spring Festival 2025 (01-28..02-04 off; Sun 01-26 and Sat 02-08 worked)
    ("2025-01-24", 7, "2025-02-10"),
    # National Day 2025 (10-01..10-08 off; Sun 09-28 and Sat 10-11 worked)
    ("2025-09-26", 7, "2025-10-13"),
    # Spring Festival 2026 (02-15..02-23 off; Sat 02-14 and Sat 02-28 worked)
    ("2026-02-12", 7, "2026-02-28"),
    # National Day 2026: the product owner's acceptance example
    ("2026-09-29", 7, "2026-10-14"),
    # receipt on a holiday: counting starts on the next working day (10-08)
    ("2026-10-03", 7, "2026-10-15"),
    ("2026-10-01", 1, "2026-10-08"),
    # receipt on a make-up Saturday: that day is the receipt day, not counted
    ("2026-10-10", 1, "2026-10-12"),
    # receipt on Friday before a make-up Saturday: the Saturday is the first counted day
    ("2026-10-09", 1, "2026-10-10"),
    ("2026-09-29", 0, "2026-09-29"),
    # across the year end (2026-01-01..03 off, Sun 01-04 worked)
    ("2025-12-30", 2, "2026-01-04"),
    ("2026-03-02", 45, "2026-05-08"),  # Tomb-sweeping and Labour Day off
])
def test_add_working_days(cal: WorkCalendar, start: str, n: int, expected: str) -> None:
    assert cal.add_working_days(D(start), n) == D(expected)
    assert cal.working_days_between(D(start), D(expected)) == n


def test_add_working_days_agrees_with_a_naive_count(cal: WorkCalendar) -> None:
    """Binary search over cached years == stepping day by day on the library's own list."""
    official = set(chinese_calendar.get_workdays(date(2025, 1, 1), date(2026, 12, 31)))

    def naive(start: date, n: int) -> date:
        day = start
        while n:
            day += timedelta(1)
            n -= day in official
        return day

    for start in _days_of(2025)[::2] + _days_of(2026)[:240:3]:
        for n in (1, 5, 7, 10, 15, 30, 45):
            assert cal.add_working_days(start, n) == naive(start, n), (start, n)


def test_working_days_between(cal: WorkCalendar) -> None:
    assert cal.working_days_between(D("2026-09-29"), D("2026-09-29")) == 0
    assert cal.working_days_between(D("2026-09-30"), D("2026-10-08")) == 1
    assert cal.working_days_between(D("2026-10-08"), D("2026-09-30")) == -1
    assert cal.working_days_between(D("2025-01-01"), D("2026-12-31")) == 248 + 248 - 0
    # across into an uncovered year: 2027 counts its weekdays
    assert cal.working_days_between(D("2026-12-31"), D("2027-01-08")) == 6


@pytest.mark.parametrize("bad, error", [
    (lambda c: c.add_working_days(D("2026-01-05"), -1), ValueError),
    (lambda c: c.add_working_days(D("2026-01-05"), 1.0), TypeError),
    (lambda c: c.is_working_day(datetime(2026, 1, 5, tzinfo=UTC)), TypeError),
    (lambda c: c.add_working_days("2026-01-05", 1), TypeError),
])
def test_bad_arguments(cal: WorkCalendar, bad, error) -> None:
    with pytest.raises(error):
        bad(cal)


def test_cached_queries_are_fast(cal: WorkCalendar) -> None:
    cal.add_working_days(D("2026-03-01"), 45)  # first call of the year builds it
    began = time.perf_counter()
    for _ in range(20_000):
        cal.add_working_days(D("2026-03-01"), 45)
    per_call = (time.perf_counter() - began) / 20_000
    assert per_call < 50e-6  # measured ~1 µs; generous for slow CI machines


# -- uncovered years: fallback with a warning ------------------------------------------------
def test_2027_falls_back_to_weekends_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fresh = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="node.deadlines.calendar"):
        # intake is never stopped: a deadline running into 2027 is computed
        assert fresh.add_working_days(D("2026-12-25"), 7) == D("2027-01-05")
        assert fresh.is_working_day(D("2027-01-01"))       # a Friday: weekends only
        assert not fresh.is_working_day(D("2027-01-02"))   # Saturday
    assert fresh.year_source(2027) == "fallback"
    assert fresh.warnings_for(2027) == [
        ("2027 年法定节假日数据未加载，暂按周末计算 / "
         "holiday calendar for 2027 not loaded; counting weekends only")]
    assert fresh.uncovered_years([2026, 2028, 2027, 2027]) == [2027, 2028]
    logged = [r.getMessage() for r in caplog.records if "2027" in r.getMessage()]
    assert len(logged) == 1  # once per year, not once per query


def test_library_disabled_means_fallback_for_every_year() -> None:
    bare = WorkCalendar(use_library=False)
    assert bare.is_working_day(D("2026-10-01"))  # would be National Day
    assert bare.uncovered_years([2026]) == [2026]


# -- operator calendar -----------------------------------------------------------------------
# TEST DATA, not the official 2027 schedule (which the State Council had not published when
# this was written): fixed-date holidays plus an invented make-up Sunday.
OPERATOR_2027 = """
[years.2027]
holidays = ["2027-01-01", 2027-02-05, "2027-02-08"]
workdays = ["2027-02-07"]
source = "test fixture"
"""


def _write(tmp_path: Path, text: str, name: str = "calendar.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_operator_year_is_used_without_warning(tmp_path: Path) -> None:
    years = load_operator_calendar(_write(tmp_path, OPERATOR_2027))
    assert set(years) == {2027} and years[2027].source == "test fixture"
    cal = WorkCalendar(years)
    assert not cal.is_working_day(D("2027-01-01"))
    assert not cal.is_working_day(D("2027-02-05"))
    assert cal.is_working_day(D("2027-02-07"))       # make-up Sunday
    assert cal.is_working_day(D("2027-02-09"))
    assert cal.year_source(2027) == "operator"
    assert cal.warnings_for(2027) == []
    assert cal.uncovered_years([2026, 2027]) == []
    # Thu 02-04 received: Sun 02-07 (1), Tue 02-09 (2)
    assert cal.add_working_days(D("2027-02-04"), 2) == D("2027-02-09")
    assert WorkCalendar.from_operator_file(tmp_path / "calendar.toml").year_source(2027) == \
        "operator"


def test_provisional_operator_year_is_used_and_warned_about(tmp_path: Path) -> None:
    years = load_operator_calendar(_write(tmp_path, OPERATOR_2027 + "provisional = true\n"))
    cal = WorkCalendar(years)
    assert not cal.is_working_day(D("2027-01-01"))
    assert cal.year_source(2027) == "operator-provisional"
    assert cal.uncovered_years([2027]) == [2027]
    assert "provisional" in cal.warnings_for(2027)[0]


def test_operator_data_for_a_covered_year_needs_override(tmp_path: Path) -> None:
    text = '[years.2026]\nholidays = ["2026-10-08"]\n'
    ignored = WorkCalendar(load_operator_calendar(_write(tmp_path, text)))
    assert ignored.is_working_day(D("2026-10-08"))  # the official data wins
    assert ignored.year_source(2026) == "official"
    assert "ignored" in ignored.warnings_for(2026)[0]

    overriding = WorkCalendar(load_operator_calendar(
        _write(tmp_path, text + "override = true\n", "override.toml")))
    assert overriding.year_source(2026) == "operator-override"
    assert not overriding.is_working_day(D("2026-10-08"))
    # override replaces the whole year: what the operator did not list is a plain weekday
    assert overriding.is_working_day(D("2026-10-01"))
    assert overriding.warnings_for(2026) == []


@pytest.mark.parametrize("text, key, fragment", [
    ('[years.2027]\nholiday = ["2027-01-01"]\n', "years.2027.holiday", "unknown key"),
    ('colour = "red"\n', "colour", "unknown key"),
    ('[years.2027]\nholidays = ["2027-13-01"]\n', "years.2027.holidays[0]", "invalid date"),
    ('[years.2027]\nholidays = ["20270101"]\n', "years.2027.holidays[0]", "invalid date"),
    ('[years.2027]\nholidays = ["2026-12-31"]\n', "years.2027.holidays[0]", "is not in 2027"),
    ('[years.2027]\nholidays = [1]\n', "years.2027.holidays[0]", "must be a date"),
    ('[years.2027]\nholidays = "2027-01-01"\n', "years.2027.holidays", "list of dates"),
    ('[years.2027]\nholidays = ["2027-02-07"]\nworkdays = ["2027-02-07"]\n',
     "years.2027.workdays", "both as a holiday and as a working day"),
    ('[years.2027]\nworkdays = ["2027-02-08"]\n', "years.2027.workdays", "already a weekday"),
    ('[years.2027]\noverride = "yes"\n', "years.2027.override", "true or false"),
    ('[years.27]\nholidays = []\n', "years.27", "four digits"),
    ('years = 2027\n', "years", "must be a table"),
    ('[years.2027\n', "", "invalid TOML"),
])
def test_malformed_operator_calendar(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = _write(tmp_path, text, "bad-calendar.toml")
    with pytest.raises(CalendarConfigError) as info:
        load_operator_calendar(path)
    message = info.value.message
    assert "bad-calendar.toml" in message and fragment in message
    assert key in message
    assert " / " in message  # Chinese, then English


def test_missing_operator_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarConfigError, match="file not found"):
        load_operator_calendar(tmp_path / "nope.toml")
