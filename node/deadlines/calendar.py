"""The Chinese working-day calendar behind every statutory clock (R2.6, CONTRACT §5 "Deadlines").

Deadlines are counted in *working days* on the official calendar: public holidays are off,
and the make-up working Saturdays/Sundays (调休) are on. The calendar comes from three
layers, per year:

1. the official calendar, from the ``chinesecalendar`` library (import ``chinese_calendar``;
   transcribed from the State Council's yearly notices; 1.11.0 covers 2004–2026);
2. operator-configured years from a TOML file (``load_operator_calendar``), for years the
   library does not cover yet, or — only when flagged ``override = true`` — to replace a
   covered year;
3. for a year covered by neither: weekends only, plus a warning. Intake must never be stopped
   by a missing year (CONTRACT §5), so this layer never raises; it records a bilingual
   warning (``warnings_for``) and logs it once.

Operator calendar file format (all keys under ``[years.<YYYY>]``)::

    [years.2027]
    holidays = ["2027-01-01", "2027-02-06"]   # days off (TOML dates or "YYYY-MM-DD" strings)
    workdays = ["2027-02-14"]                 # make-up working Saturdays/Sundays (调休)
    source = "国务院办公厅关于2027年部分节假日安排的通知"   # optional, free text
    provisional = false   # optional: true = not yet confirmed; used, but still warned about
    override = false      # optional: true = replace the official data for a covered year

Counting rule: the day of the start event is not counted; the first counted day is the next
working day after it (``add_working_days``). The calendar is on the intake hot path, so each
year is built once (a sorted tuple of working-day ordinals plus a set) and every query after
that is a set lookup or a binary search.
"""
from __future__ import annotations

import logging
import threading
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]  # the library ships no stubs

from node.errors import NodeError

log = logging.getLogger(__name__)

# Where a year's data came from (``WorkCalendar.year_source``).
SOURCE_OFFICIAL = "official"                  # chinesecalendar library
SOURCE_OPERATOR = "operator"                  # operator table, year not in the library
SOURCE_OPERATOR_OVERRIDE = "operator-override"  # operator table replacing the library's year
SOURCE_OPERATOR_PROVISIONAL = "operator-provisional"  # operator table flagged provisional
SOURCE_FALLBACK = "fallback"                  # nothing loaded: weekends only

_YEAR_KEYS = frozenset({"holidays", "workdays", "override", "provisional", "source"})


class CalendarConfigError(NodeError, ValueError):
    """An operator calendar file the node refuses to load; the message names file and key."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(422, "invalid_calendar", message, field)


@dataclass(frozen=True)
class OperatorYear:
    """One year of an operator calendar file, validated."""

    year: int
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    override: bool = False
    provisional: bool = False
    source: str = ""


@dataclass(frozen=True)
class _Year:
    """A built year: the working days as ordinals, sorted (binary search) and as a set (lookup)."""

    year: int
    source: str
    ordinals: tuple[int, ...]
    work_set: frozenset[int]
    warnings: tuple[str, ...] = field(default=())


def _fallback_warning(year: int) -> str:
    return (f"{year} 年法定节假日数据未加载，暂按周末计算 / "
            f"holiday calendar for {year} not loaded; counting weekends only")


def _provisional_warning(year: int) -> str:
    return (f"{year} 年节假日数据为运营方临时配置（未确认），暂按周末及已配置的节假日、调休计算 / "
            f"holiday calendar for {year} is provisional (operator-configured, unconfirmed); "
            f"counting weekends plus the configured holidays and make-up days")


def _ignored_warning(year: int) -> str:
    return (f"{year} 年运营方日历未生效：官方数据已覆盖该年（如需替换请设置 override = true） / "
            f"operator calendar for {year} ignored: the official calendar covers that year "
            f"(set override = true to replace it)")


def _official_workdays(year: int) -> list[date] | None:
    """The library's working days of ``year``, or None when the library does not cover it.

    ``get_workdays`` validates only its two end points, so one call per year costs a few
    milliseconds (``is_workday`` per day would rescan the library's tables 365 times).
    """
    try:
        return list(chinese_calendar.get_workdays(date(year, 1, 1), date(year, 12, 31)))
    except NotImplementedError:  # the library says "no available data for year ..."
        return None


class WorkCalendar:
    """Working days on the official Chinese calendar, with operator years and a weekend fallback.

    Thread-safe; each year is built once on first use and cached for the calendar's lifetime.
    """

    def __init__(self, operator_years: Mapping[int, OperatorYear] | None = None,
                 *, use_library: bool = True) -> None:
        self._operator: dict[int, OperatorYear] = dict(operator_years or {})
        self._use_library = use_library  # False only in tests that simulate an uncovered year
        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_operator_file(cls, path: str | Path | None) -> WorkCalendar:
        """The official calendar plus the operator file at ``path`` (None: no operator file)."""
        return cls(load_operator_calendar(path) if path is not None else None)

    # -- per-year cache ----------------------------------------------------------------------
    def _year(self, year: int) -> _Year:
        built = self._years.get(year)
        if built is not None:
            return built
        with self._lock:
            built = self._years.get(year)
            if built is None:
                built = self._build(year)
                for message in built.warnings:
                    log.warning("%s", message)  # once per year and calendar, not per case
                self._years[year] = built
            return built

    def _build(self, year: int) -> _Year:
        operator = self._operator.get(year)
        official = _official_workdays(year) if self._use_library else None
        warnings: list[str] = []
        if official is not None and not (operator is not None and operator.override):
            if operator is not None:
                # The official data wins unless the operator explicitly says otherwise: a typo
                # in a hand-made table must not silently move deadlines of a covered year.
                warnings.append(_ignored_warning(year))
            ordinals = tuple(sorted(d.toordinal() for d in official))
            return _Year(year, SOURCE_OFFICIAL, ordinals, frozenset(ordinals), tuple(warnings))

        holidays = operator.holidays if operator else frozenset()
        workdays = operator.workdays if operator else frozenset()
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        days = []
        for ordinal in range(first, last + 1):
            d = date.fromordinal(ordinal)
            if d in workdays or (d.weekday() < 5 and d not in holidays):
                days.append(ordinal)
        if operator is None:
            source = SOURCE_FALLBACK
            warnings.append(_fallback_warning(year))
        elif operator.provisional:
            source = SOURCE_OPERATOR_PROVISIONAL
            warnings.append(_provisional_warning(year))
        elif official is not None:
            source = SOURCE_OPERATOR_OVERRIDE
        else:
            source = SOURCE_OPERATOR
        ordinals = tuple(days)
        return _Year(year, source, ordinals, frozenset(ordinals), tuple(warnings))

    # -- coverage ----------------------------------------------------------------------------
    def year_source(self, year: int) -> str:
        """Where ``year``'s data comes from: official | operator | operator-override |
        operator-provisional | fallback."""
        return self._year(year).source

    def warnings_for(self, year: int) -> list[str]:
        """Bilingual warnings about ``year``'s calendar (empty when it is fully loaded)."""
        return list(self._year(year).warnings)

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """Those of ``years`` counted on weekends (plus provisional operator days) only: the
        years ``status`` must warn about until their calendar is loaded."""
        wanted = sorted(set(years))
        return [y for y in wanted
                if self._year(y).source in (SOURCE_FALLBACK, SOURCE_OPERATOR_PROVISIONAL)]

    # -- queries -----------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        """True when ``day`` is a working day (调休 Saturdays/Sundays included)."""
        day = _as_date(day)
        return day.toordinal() in self._year(day.year).work_set

    def add_working_days(self, start: date, n: int) -> date:
        """The date ``n`` working days after ``start``; ``start`` itself is not counted.

        ``add_working_days(d, 0)`` is ``d``. The first counted day is the next working day
        after ``start`` even when ``start`` is a holiday (receipt on a holiday).
        """
        start = _as_date(start)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n must be an int")
        if n < 0:
            raise ValueError("n must be >= 0 (deadlines only run forward)")
        if n == 0:
            return start
        year = start.year
        info = self._year(year)
        index = bisect_right(info.ordinals, start.toordinal())  # first working day > start
        remaining = n
        while True:
            available = len(info.ordinals) - index
            if remaining <= available:
                return date.fromordinal(info.ordinals[index + remaining - 1])
            remaining -= available
            year += 1
            info = self._year(year)
            index = 0

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b`` (so ``working_days_between(s,
        add_working_days(s, n)) == n``); negative when ``b < a``."""
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        if a.year == b.year:
            ords = self._year(a.year).ordinals
            return bisect_right(ords, b.toordinal()) - bisect_right(ords, a.toordinal())
        first = self._year(a.year).ordinals
        total = len(first) - bisect_right(first, a.toordinal())
        for year in range(a.year + 1, b.year):
            total += len(self._year(year).ordinals)
        return total + bisect_right(self._year(b.year).ordinals, b.toordinal())


def _as_date(value: date) -> date:
    # A datetime is a date subclass; silently taking its UTC/local date would hide a time-zone
    # bug, so datetimes must be converted to Shanghai dates by the caller (deadlines.py does).
    if type(value) is not date:
        raise TypeError(f"expected a datetime.date, got {type(value).__name__}")
    return value


# -- operator calendar file ------------------------------------------------------------------
def _err(path: Path, key: str, zh: str, en: str) -> CalendarConfigError:
    return CalendarConfigError(f"日历文件 {path} 中 {key}：{zh} / {path}: {key}: {en}", key)


def _parse_day(path: Path, key: str, value: Any, year: int) -> date:
    if isinstance(value, date) and type(value) is date:
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _err(path, key, f"日期格式无效 {value!r}（应为 YYYY-MM-DD）",
                       f"invalid date {value!r} (expected YYYY-MM-DD)") from None
        if len(value) != 10:  # fromisoformat also takes "20270101"; the file format does not
            raise _err(path, key, f"日期格式无效 {value!r}（应为 YYYY-MM-DD）",
                       f"invalid date {value!r} (expected YYYY-MM-DD)")
    else:
        raise _err(path, key, "应为日期", "must be a date")
    if day.year != year:
        raise _err(path, key, f"{day.isoformat()} 不在 {year} 年内",
                   f"{day.isoformat()} is not in {year}")
    return day


def _parse_year(path: Path, year_key: str, table: Any) -> OperatorYear:
    key = f"years.{year_key}"
    if not (len(year_key) == 4 and year_key.isdigit()):
        raise _err(path, key, "年份应为四位数字", "the year must be four digits")
    year = int(year_key)
    if not isinstance(table, dict):
        raise _err(path, key, "应为表", "must be a table")
    for unknown in sorted(set(table) - _YEAR_KEYS):
        raise _err(path, f"{key}.{unknown}", "未知的键", "unknown key")
    lists: dict[str, frozenset[date]] = {}
    for name in ("holidays", "workdays"):
        raw = table.get(name, [])
        if not isinstance(raw, list):
            raise _err(path, f"{key}.{name}", "应为日期列表", "must be a list of dates")
        lists[name] = frozenset(_parse_day(path, f"{key}.{name}[{i}]", v, year)
                                for i, v in enumerate(raw))
    for day in sorted(lists["holidays"] & lists["workdays"]):
        raise _err(path, f"{key}.workdays", f"{day.isoformat()} 同时列为节假日和调休工作日",
                   f"{day.isoformat()} is listed both as a holiday and as a working day")
    for day in sorted(lists["workdays"]):
        if day.weekday() < 5:
            # A make-up working day is always a Saturday or Sunday; a weekday here is a typo.
            raise _err(path, f"{key}.workdays", f"{day.isoformat()} 本就是工作日（调休日应为周六或周日）",
                       f"{day.isoformat()} is already a weekday (make-up days are Saturdays "
                       f"or Sundays)")
    flags: dict[str, bool] = {}
    for name in ("override", "provisional"):
        raw = table.get(name, False)
        if not isinstance(raw, bool):
            raise _err(path, f"{key}.{name}", "应为 true 或 false", "must be true or false")
        flags[name] = raw
    source = table.get("source", "")
    if not isinstance(source, str):
        raise _err(path, f"{key}.source", "应为字符串", "must be a string")
    return OperatorYear(year, lists["holidays"], lists["workdays"],
                        flags["override"], flags["provisional"], source)


def load_operator_calendar(path: str | Path) -> dict[int, OperatorYear]:
    """Read and strictly validate an operator calendar TOML file (format: module docstring).

    Raises ``CalendarConfigError`` naming the file and the offending key.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CalendarConfigError(f"日历文件 {path} 不存在 / {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarConfigError(f"日历文件 {path} 无法解析：{exc} / {path}: invalid TOML: {exc}"
                                  ) from None
    for unknown in sorted(set(data) - {"years"}):
        raise _err(path, unknown, "未知的键", "unknown key")
    years = data.get("years", {})
    if not isinstance(years, dict):
        raise _err(path, "years", "应为表", "must be a table")
    result: dict[int, OperatorYear] = {}
    for year_key, table in years.items():
        parsed = _parse_year(path, year_key, table)
        result[parsed.year] = parsed
    return result


def official_year_range() -> tuple[int, int]:
    """First and last year the installed ``chinesecalendar`` covers (for ``status``)."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)

