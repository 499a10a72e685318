"""Statutory clocks of a case: rule sets as versioned data, deadline computation (R2.6,
CONTRACT §5 "Deadlines").

Rule sets live in ``configs/rules/*.toml`` (format: ``configs/rules/README.md``), each clock
naming its figure, its start event and its legal basis, each set naming the date it takes
effect. A case binds, on its receipt date, to the set in force (``RuleBook.for_date``) and
keeps it for its whole life.

The deadlines of a case are a JSON-ready dict, stored on the case and replicated with it, so it
is self-contained: any node can tell whether a clock is overdue without the rule files::

    {
      "accept_by": "2026-10-14",            # due dates, Asia/Shanghai, "YYYY-MM-DD"
      "conclude_by": null,                  # null until the complaint is accepted
      "clocks": {                           # how each due date was computed
        "accept_by": {"rule": "accept_by", "from": "2026-09-29", "working_days": 7,
                      "pausable": false, "extension_days": 0}
      },
      "paused": [],      # [{"from", "to" (null while open), "clocks": [...], "reason"}]
      "extensions": [],  # [{"clock", "days", "approved_by", "at"}]
      "met": {}          # clock -> date the duty was done ({"accept_by": "2026-10-08"})
    }

Every function here is pure: it takes the dict and returns a new one (the input is never
mutated), takes the event time as an argument (no hidden clock), and converts aware datetimes
to Asia/Shanghai dates before counting.
"""
from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from node.deadlines.calendar import WorkCalendar
from node.errors import NodeError, conflict, invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The clocks the software knows, and the event each one starts from. A rule file must define
# every one of them (the code starts them) and no other (nothing would ever start it).
CLOCK_START: Mapping[str, str] = MappingProxyType({
    "accept_by": "receipt",
    "mediation_end_by": "acceptance",
    "mediation_notice_by": "termination",
    "verify_by": "receipt",
    "reporter_notice_by": "decision",
    "odr_settle_by": "firm_receipt",
})

# Keys of the deadlines dict -> the rule clock that computes them. Only the mediation clock is
# renamed: the CONTRACT calls the date by which a complaint is concluded ``conclude_by``.
DEADLINE_RULE: Mapping[str, str] = MappingProxyType({
    "accept_by": "accept_by",
    "conclude_by": "mediation_end_by",
    "mediation_notice_by": "mediation_notice_by",
    "verify_by": "verify_by",
    "reporter_notice_by": "reporter_notice_by",
    "odr_settle_by": "odr_settle_by",
})

ACCEPT_MODES = ("mediation", "investigation")
STATUSES = frozenset({"registered", "accepted", "declined", "transferred", "referred",
                      "in_mediation", "concluded", "closed", "verifying", "filed", "not_filed",
                      "answered"})

# In which case statuses each clock is still running (a met clock never is). The notices run
# after the decision that started them until they are recorded as sent; a closed case is done.
_RUNNING: Mapping[str, frozenset[str] | None] = MappingProxyType({
    "accept_by": frozenset({"registered"}),
    "conclude_by": frozenset({"accepted", "in_mediation"}),
    "verify_by": frozenset({"registered", "verifying"}),
    "odr_settle_by": frozenset({"registered"}),
    "mediation_notice_by": None,   # None: every status but "closed"
    "reporter_notice_by": None,
})

_TOP_KEYS = frozenset({"id", "title", "effective_from", "superseded_from", "superseded_by",
                       "clocks"})
_CLOCK_KEYS = frozenset({"title", "working_days", "from", "basis", "pausable",
                         "extension_days", "extension_basis"})
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RuleSetError(NodeError, ValueError):
    """A rule-set file (or rule book) the node refuses; the message names the file and key."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid_rule_set"):
        super().__init__(422, code, message, field)


@dataclass(frozen=True)
class Clock:
    """One statutory clock of a rule set."""

    id: str
    working_days: int
    start: str                 # the event it runs from ("receipt", "acceptance", ...)
    basis: str                 # legal basis, Chinese / English
    title: str = ""
    pausable: bool = False     # testing/appraisal time is not counted (Order 20 Art. 19 etc.)
    extension_days: int = 0    # extra working days allowed with approval (0: none)
    extension_basis: str = ""


@dataclass(frozen=True)
class RuleSet:
    """A versioned set of clocks, in force for cases received from ``effective_from``."""

    id: str
    title: str
    effective_from: date
    clocks: Mapping[str, Clock]
    source: str = ""                       # the file it came from
    superseded_from: date | None = None    # when the law it encodes was replaced
    superseded_by: str = ""


class RuleBook:
    """All loaded rule sets, ordered by ``effective_from``."""

    def __init__(self, rule_sets: Iterable[RuleSet]):
        self._sets = tuple(sorted(rule_sets, key=lambda r: r.effective_from))
        self._by_id = {r.id: r for r in self._sets}

    def __iter__(self) -> Iterator[RuleSet]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self._sets]

    def get(self, rule_set_id: str) -> RuleSet:
        """The rule set a stored case names (``case.rule_set``)."""
        try:
            return self._by_id[rule_set_id]
        except KeyError:
            raise RuleSetError(f"规则集 {rule_set_id} 未加载 / rule set {rule_set_id} is not loaded",
                               "rule_set", code="unknown_rule_set") from None

    def for_date(self, received: date | datetime | str) -> RuleSet:
        """The set in force on the receipt date: the greatest ``effective_from`` <= that date."""
        day = shanghai_date(received, "received_at")
        chosen: RuleSet | None = None
        for rule_set in self._sets:  # a handful of sets: a scan beats any index
            if rule_set.effective_from <= day:
                chosen = rule_set
            else:
                break
        if chosen is None:
            raise RuleSetError(f"{day.isoformat()} 没有生效的期限规则集 / "
                               f"no deadline rule set in force on {day.isoformat()}",
                               "received_at", code="no_rule_set")
        return chosen

    def warnings_for(self, received: date | datetime | str) -> list[str]:
        """Bilingual warnings for cases received on that date: the set in force encodes a law
        that has been replaced and its successor's figures are not loaded yet."""
        rule_set = self.for_date(received)
        day = shanghai_date(received, "received_at")
        if rule_set.superseded_from is None or day < rule_set.superseded_from:
            return []
        since = rule_set.superseded_from.isoformat()
        by = rule_set.superseded_by or "新规定 / a newer regulation"
        return [(f"规则集 {rule_set.id} 所依据的规定自 {since} 起已被取代（{by}），新规则集尚未加载，"
                 f"暂按原规则计算期限 / rule set {rule_set.id} encodes rules superseded from "
                 f"{since} ({by}); the new rule set is not loaded, deadlines still use the old "
                 f"figures")]


# -- loading ---------------------------------------------------------------------------------
def _rerr(path: Path, key: str, zh: str, en: str) -> RuleSetError:
    return RuleSetError(f"规则集文件 {path} 中 {key}：{zh} / {path}: {key}: {en}", key)


def _file_date(path: Path, key: str, value: Any) -> date:
    if type(value) is date:
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _rerr(path, key, "应为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD")


def _text(path: Path, key: str, value: Any, required: bool) -> str:
    if value is None:
        if required:
            raise _rerr(path, key, "缺失", "is missing")
        return ""
    if not isinstance(value, str):
        raise _rerr(path, key, "应为字符串", "must be a string")
    if required and not value.strip():
        raise _rerr(path, key, "不能为空", "must not be empty")
    return value.strip()


def _days(path: Path, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = ("必须为正整数", "must be a positive integer") if minimum > 0 else \
               ("必须为非负整数", "must be a non-negative integer")
        raise _rerr(path, key, f"{what[0]}（当前为 {value!r}）", f"{what[1]} (got {value!r})")
    return value


def _parse_clock(path: Path, clock_id: str, table: Any) -> Clock:
    key = f"clocks.{clock_id}"
    if clock_id not in CLOCK_START:
        raise _rerr(path, key, f"未知的期限（可用：{', '.join(CLOCK_START)}）",
                    f"unknown clock (known: {', '.join(CLOCK_START)})")
    if not isinstance(table, dict):
        raise _rerr(path, key, "应为表", "must be a table")
    for unknown in sorted(set(table) - _CLOCK_KEYS):
        raise _rerr(path, f"{key}.{unknown}", "未知的键", "unknown key")
    if "working_days" not in table:
        raise _rerr(path, f"{key}.working_days", "缺失", "is missing")
    working_days = _days(path, f"{key}.working_days", table["working_days"], 1)
    start = _text(path, f"{key}.from", table.get("from"), required=True)
    if start != CLOCK_START[clock_id]:
        raise _rerr(path, f"{key}.from", f"应为 {CLOCK_START[clock_id]!r}（当前为 {start!r}）",
                    f"must be {CLOCK_START[clock_id]!r} (got {start!r})")
    basis = _text(path, f"{key}.basis", table.get("basis"), required=True)
    pausable = table.get("pausable", False)
    if not isinstance(pausable, bool):
        raise _rerr(path, f"{key}.pausable", "应为 true 或 false", "must be true or false")
    extension_days = _days(path, f"{key}.extension_days", table.get("extension_days", 0), 0)
    extension_basis = _text(path, f"{key}.extension_basis", table.get("extension_basis"),
                            required=extension_days > 0)  # every figure names its basis
    return Clock(clock_id, working_days, start, basis,
                 _text(path, f"{key}.title", table.get("title"), required=False),
                 pausable, extension_days, extension_basis)


def load_rule_set(path: str | Path) -> RuleSet:
    """Read and strictly validate one rule-set file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"规则集文件 {path} 无法解析：{exc} / {path}: invalid TOML: {exc}"
                           ) from None
    for unknown in sorted(set(data) - _TOP_KEYS):
        raise _rerr(path, unknown, "未知的键", "unknown key")
    rule_id = _text(path, "id", data.get("id"), required=True)
    if not _ID_RE.match(rule_id):
        raise _rerr(path, "id", "只能包含字母、数字、点、下划线和连字符",
                    "may contain only letters, digits, '.', '_' and '-'")
    if "effective_from" not in data:
        raise _rerr(path, "effective_from", "缺失", "is missing")
    effective_from = _file_date(path, "effective_from", data["effective_from"])
    superseded_from = None
    if "superseded_from" in data:
        superseded_from = _file_date(path, "superseded_from", data["superseded_from"])
        if superseded_from <= effective_from:
            raise _rerr(path, "superseded_from", "应晚于 effective_from",
                        "must be later than effective_from")
    clocks_raw = data.get("clocks")
    if not isinstance(clocks_raw, dict):
        raise _rerr(path, "clocks", "缺失或不是表", "is missing or not a table")
    clocks = {cid: _parse_clock(path, cid, table) for cid, table in clocks_raw.items()}
    for missing in CLOCK_START:
        if missing not in clocks:
            raise _rerr(path, f"clocks.{missing}", "缺失", "is missing")
    return RuleSet(
        id=rule_id,
        title=_text(path, "title", data.get("title"), required=False),
        effective_from=effective_from,
        clocks=MappingProxyType(clocks),
        source=str(path),
        superseded_from=superseded_from,
        superseded_by=_text(path, "superseded_by", data.get("superseded_by"), required=False),
    )


def load_rule_sets(directory: str | Path) -> RuleBook:
    """Every ``*.toml`` in ``directory`` as a ``RuleBook``; refuses duplicates and an empty dir."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleSetError(f"规则集目录 {directory} 不存在 / rule-set directory {directory} "
                           f"does not exist")
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise RuleSetError(f"规则集目录 {directory} 中没有 *.toml 文件 / no *.toml rule set in "
                           f"{directory}")
    loaded: list[RuleSet] = []
    for path in files:
        rule_set = load_rule_set(path)
        for other in loaded:
            if other.id == rule_set.id:
                raise _rerr(path, "id", f"与 {other.source} 重复（{rule_set.id}）",
                            f"duplicates {other.source} ({rule_set.id})")
            if other.effective_from == rule_set.effective_from:
                # Two sets starting the same day would make the binding of a case ambiguous.
                raise _rerr(path, "effective_from",
                            f"与 {other.source} 相同（{rule_set.effective_from}）",
                            f"same as {other.source} ({rule_set.effective_from})")
        loaded.append(rule_set)
    return RuleBook(loaded)


# -- dates -----------------------------------------------------------------------------------
def shanghai_date(value: date | datetime | str, field: str = "at") -> date:
    """The Asia/Shanghai calendar date of an aware datetime (a date passes through).

    A case received 2026-09-29T23:30+00:00 was received on 2026-09-30 in Shanghai. Naive
    datetimes are refused: guessing their zone is how deadlines drift by a day.
    """
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise invalid(field, f"{field} 不是有效的 ISO 8601 时间 / {field} is not an ISO 8601 "
                                 f"time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise invalid(field, f"{field} 必须带时区 / {field} must carry a UTC offset")
        return value.astimezone(SHANGHAI).date()
    if isinstance(value, date):
        return value
    raise invalid(field, f"{field} 应为日期或时间 / {field} must be a date or datetime")


# -- computing -------------------------------------------------------------------------------
def _blank() -> dict[str, Any]:
    return {"clocks": {}, "paused": [], "extensions": [], "met": {}}


def _copy(deadlines: Mapping[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(dict(deadlines))
    for key, default in _blank().items():
        d.setdefault(key, default)
    return d


def _recompute(d: dict[str, Any], key: str, calendar: WorkCalendar) -> None:
    """Due date of ``key`` = start + figure + approved extensions, shifted by closed pauses."""
    record = d["clocks"][key]
    start = date.fromisoformat(record["from"])
    total = record["working_days"] + sum(e["days"] for e in d["extensions"] if e["clock"] == key)
    due = calendar.add_working_days(start, total)
    pauses = sorted((p for p in d["paused"] if key in p["clocks"] and p["to"] is not None),
                    key=lambda p: p["from"])
    for pause in pauses:
        begin, end = date.fromisoformat(pause["from"]), date.fromisoformat(pause["to"])
        if begin >= due:
            continue  # a pause that began once the time was up does not revive the clock
        # The working days after ``begin`` up to and including ``end`` are not counted; since
        # the pause lies inside the running period, skipping them = moving the due date on.
        due = calendar.add_working_days(due, calendar.working_days_between(max(begin, start), end))
    d[key] = due.isoformat()


def _start(d: dict[str, Any], key: str, rule_set: RuleSet, day: date,
           calendar: WorkCalendar, **extra: Any) -> None:
    clock = rule_set.clocks[DEADLINE_RULE[key]]
    d["clocks"][key] = {"rule": clock.id, "from": day.isoformat(),
                        "working_days": clock.working_days, "pausable": clock.pausable,
                        "extension_days": clock.extension_days, **extra}
    _recompute(d, key, calendar)


def _require_clock(d: Mapping[str, Any], key: str, action: str) -> None:
    if key not in d.get("clocks", {}) or d.get(key) is None:
        raise conflict(f"{action}：该案件没有 {key} 期限 / {action}: the case has no {key} clock")


def initial_deadlines(kind: str, received_at: datetime | date | str, rule_set: RuleSet,
                      calendar: WorkCalendar) -> dict[str, Any]:
    """Deadlines at registration: complaint -> accept_by (conclude_by null), report ->
    verify_by, consultation -> none."""
    if kind == "consultation":
        return {}
    day = shanghai_date(received_at, "received_at")
    d: dict[str, Any] = {}
    if kind == "complaint":
        d["accept_by"] = None
        d["conclude_by"] = None  # CONTRACT §5: null until accepted
        d.update(_blank())
        _start(d, "accept_by", rule_set, day, calendar)
    elif kind == "report":
        d["verify_by"] = None
        d.update(_blank())
        _start(d, "verify_by", rule_set, day, calendar)
    else:
        raise invalid("kind", f"未知的案件类型 {kind!r} / unknown case kind {kind!r}")
    return d


def on_accept(deadlines: Mapping[str, Any], accepted_at: datetime | date | str,
              rule_set: RuleSet, calendar: WorkCalendar,
              mode: str | None = "mediation") -> dict[str, Any]:
    """Complaint accepted: accept_by is met; conclude_by runs 45 working days (mediation_end_by)
    from the acceptance date, in either mode (the case is concluded from ``accepted`` too)."""
    mode = mode or "mediation"
    if mode not in ACCEPT_MODES:
        raise invalid("mode", f"受理方式应为 mediation 或 investigation / mode must be one of "
                              f"{', '.join(ACCEPT_MODES)}")
    d = _copy(deadlines)
    _require_clock(d, "accept_by", "accept")
    if d.get("conclude_by") is not None:
        raise conflict("投诉已受理 / the complaint is already accepted")
    day = shanghai_date(accepted_at, "accepted_at")
    d["met"].setdefault("accept_by", day.isoformat())
    _start(d, "conclude_by", rule_set, day, calendar, mode=mode)
    return d


def on_terminate(deadlines: Mapping[str, Any], terminated_at: datetime | date | str,
                 rule_set: RuleSet, calendar: WorkCalendar) -> dict[str, Any]:
    """Mediation ended (agreed or terminated): conclude_by is met and the parties must be told
    within mediation_notice_by (7 working days, Order 20 Art. 21)."""
    d = _copy(deadlines)
    _require_clock(d, "conclude_by", "terminate")
    day = shanghai_date(terminated_at, "terminated_at")
    d["met"].setdefault("conclude_by", day.isoformat())
    _start(d, "mediation_notice_by", rule_set, day, calendar)
    return d


def on_decision(deadlines: Mapping[str, Any], decided_at: datetime | date | str,
                rule_set: RuleSet, calendar: WorkCalendar,
                *, notify_reporter: bool = True) -> dict[str, Any]:
    """Report decided (file or not): verify_by is met; a named reporter must be told within
    reporter_notice_by (5 working days, Order 20 Art. 31). Anonymous: ``notify_reporter=False``."""
    d = _copy(deadlines)
    _require_clock(d, "verify_by", "decide")
    day = shanghai_date(decided_at, "decided_at")
    d["met"].setdefault("verify_by", day.isoformat())
    if notify_reporter:
        _start(d, "reporter_notice_by", rule_set, day, calendar)
    return d


def on_odr_receipt(deadlines: Mapping[str, Any], received_by_firm_at: datetime | date | str,
                   rule_set: RuleSet, calendar: WorkCalendar) -> dict[str, Any]:
    """A complaint handed to the firm for direct settlement (ODR): odr_settle_by starts."""
    d = _copy(deadlines)
    day = shanghai_date(received_by_firm_at, "received_by_firm_at")
    _start(d, "odr_settle_by", rule_set, day, calendar)
    return d


def mark_met(deadlines: Mapping[str, Any], clock: str,
             at: datetime | date | str) -> dict[str, Any]:
    """Record that the duty behind ``clock`` was done (a decline, a notice sent). The first
    record wins: a later call does not move the date."""
    d = _copy(deadlines)
    if clock not in d["clocks"]:
        raise invalid("clock", f"该案件没有 {clock} 期限 / the case has no {clock} clock")
    d["met"].setdefault(clock, shanghai_date(at).isoformat())
    return d


def _open_pause(d: Mapping[str, Any]) -> dict[str, Any] | None:
    pause: dict[str, Any]
    for pause in d.get("paused", ()):
        if pause.get("to") is None:
            return pause
    return None


def on_pause(deadlines: Mapping[str, Any], paused_at: datetime | date | str,
             calendar: WorkCalendar, reason: str = "testing") -> dict[str, Any]:
    """Testing/appraisal begins: every running pausable clock stops (Order 20 Art. 19; penalty
    procedure rules). Due dates stay as they are until ``on_resume`` moves them on."""
    d = _copy(deadlines)
    if _open_pause(d) is not None:
        raise conflict("期限已暂停 / the clocks are already paused")
    day = shanghai_date(paused_at, "paused_at")
    for pause in d["paused"]:
        if day < date.fromisoformat(pause["to"]):
            raise conflict(f"暂停不能早于上一次暂停的结束日 {pause['to']} / a pause cannot begin "
                           f"before the previous one ended ({pause['to']})")
    keys = [key for key, record in d["clocks"].items()
            if record.get("pausable") and d.get(key) is not None and key not in d["met"]]
    if not keys:
        raise conflict("没有可暂停的期限（仅调解期限和举报核查期限可扣除检测鉴定时间） / "
                       "no running clock can be paused (only mediation and report verification "
                       "exclude testing/appraisal time)")
    d["paused"].append({"from": day.isoformat(), "to": None, "clocks": keys, "reason": reason})
    return d


def on_resume(deadlines: Mapping[str, Any], resumed_at: datetime | date | str,
              calendar: WorkCalendar) -> dict[str, Any]:
    """Testing/appraisal done: the paused working days move the paused clocks' due dates on."""
    d = _copy(deadlines)
    pause = _open_pause(d)
    if pause is None:
        raise conflict("期限未暂停 / the clocks are not paused")
    day = shanghai_date(resumed_at, "resumed_at")
    if day < date.fromisoformat(pause["from"]):
        raise invalid("resumed_at", f"恢复日期早于暂停日期 {pause['from']} / resumed before the "
                                    f"pause began ({pause['from']})")
    pause["to"] = day.isoformat()
    for key in pause["clocks"]:
        _recompute(d, key, calendar)
    return d


def extend(deadlines: Mapping[str, Any], clock: str, extra_days: int, approved_by: str,
           calendar: WorkCalendar, *, approved_at: datetime | date | str | None = None,
           ) -> dict[str, Any]:
    """Approved extension (report verification: +15 working days with the head's approval).

    Refused when the rule allows none, beyond the allowance, without an approver, for a met
    clock, or when ``approved_at`` falls after the due date (time already up).
    """
    d = _copy(deadlines)
    _require_clock(d, clock, "extend")
    record = d["clocks"][clock]
    if clock in d["met"]:
        raise conflict(f"{clock} 已完成，不能延长 / {clock} is already met; it cannot be extended")
    used = sum(e["days"] for e in d["extensions"] if e["clock"] == clock)
    allowance = record.get("extension_days", 0) - used
    if allowance <= 0:
        raise conflict(f"{clock} 不能再延长 / {clock} allows no (further) extension")
    if isinstance(extra_days, bool) or not isinstance(extra_days, int) \
            or not 1 <= extra_days <= allowance:
        raise invalid("extra_days", f"延长天数应为 1 至 {allowance} 个工作日 / extra_days must be "
                                    f"1..{allowance} working days")
    if not isinstance(approved_by, str) or not approved_by.strip():
        raise invalid("approved_by", "延长须经负责人批准，批准人为必填项 / approved_by is "
                                     "required: an extension needs the head's approval")
    at = None
    if approved_at is not None:
        day = shanghai_date(approved_at, "approved_at")
        if day > date.fromisoformat(d[clock]):
            raise conflict(f"{clock} 已于 {d[clock]} 届满，不能再延长 / {clock} expired on "
                           f"{d[clock]}; it can no longer be extended")
        at = day.isoformat()
    d["extensions"].append({"clock": clock, "days": extra_days,
                            "approved_by": approved_by.strip(), "at": at})
    _recompute(d, clock, calendar)
    return d


def overdue_clocks(deadlines: Mapping[str, Any], status: str,
                   today: date | datetime | str) -> list[str]:
    """The clocks past their due date on ``today`` (a Shanghai date, or an aware datetime):
    still running in ``status``, not met, not stopped by an open testing pause."""
    if status not in STATUSES:
        raise invalid("status", f"未知的状态 {status!r} / unknown status {status!r}")
    day = shanghai_date(today, "today")
    met = deadlines.get("met", {})
    pause = _open_pause(deadlines)
    overdue = []
    for key in deadlines.get("clocks", {}):
        due = deadlines.get(key)
        if due is None or key in met:
            continue
        running = _RUNNING.get(key)
        if running is None and status == "closed":
            continue
        if running is not None and status not in running:
            continue
        if pause is not None and key in pause["clocks"] and pause["from"] < due:
            continue  # stopped for testing/appraisal; on_resume will move the date
        if day > date.fromisoformat(due):
            overdue.append(key)
    return overdue
