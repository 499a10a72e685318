"""What every part of the statistics domain shares (R4.1-R4.5, R7.6, R8.2; CONTRACT §7):
the names of streams, documents and roles, the measures and their Chinese names, and the
small helpers for dates (Asia/Shanghai receipt days, dekads, months), money (integer fen in
the database, a decimal string everywhere else, never a float), quoted SQL names, the
counter row and the request-parameter check. No function here reads a case or a snapshot.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from node.cases import SHANGHAI
from node.db import stored_time
from node.errors import invalid
from node.runtime import Node
from node.stats.models import COUNT_MEASURES, DIMS, StatsState

HQ_CODE = "000000"

READ_ROLES = ("analyst", "leader", "admin")
ADMIN_ROLES = ("admin",)

BASES = ("accepted", "handled")
GROUP_FIELDS = DIMS                          # kind, channel, category, urgency, status, region
STREAM_ROLLUP, STREAM_DIRECT = "rollup", "direct"
DOC_SNAPSHOT, DOC_DIRECT, DOC_DESIGNATE = "stats.snapshot", "stats.direct", "stats.designate"
CHANNEL = "stats"

OUTPUT_MEASURES: tuple[str, ...] = (*COUNT_MEASURES, "amount", "amount_recovered")
MEASURE_NAMES_ZH: dict[str, str] = {
    "cases": "件数", "decided": "已作受理决定", "accepted": "受理", "accepted_on_time": "按期受理",
    "declined": "不予受理", "referred": "移送/告知", "concluded": "办结", "concluded_on_time": "按期办结",
    "overdue": "超期", "mediated": "调解成功", "not_mediated": "终止调解", "settled": "和解",
    "withdrawn": "撤回", "filed": "立案", "not_filed": "不予立案", "answered": "已答复",
    "satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意",
    "amount": "涉案金额（元）", "amount_recovered": "挽回经济损失（元）",
}
FIELD_NAMES_ZH: dict[str, str] = {"kind": "类别", "channel": "渠道", "category": "分类", "urgency": "紧急程度",
                                  "status": "状态", "region": "被投诉方地区"}

MONEY_RE = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,2})?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def aware(value: Any) -> datetime:
    at = stored_time(value)
    assert at is not None
    return at


def db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def show_time(value: Any) -> str | None:
    """A stored (naive UTC) or aware time as ISO 8601 at +08:00."""
    if value is None:
        return None
    return aware(value).astimezone(SHANGHAI).isoformat()


def today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def month_start(d: date) -> date:
    return d.replace(day=1)


def dekad_start(d: date) -> date:
    """The first day of the dekad (旬: days 1-10, 11-20, 21-end) holding ``d``."""
    return d.replace(day=1 if d.day <= 10 else 11 if d.day <= 20 else 21)


def dekad_end(start: date) -> date:
    return start + timedelta(days=9) if start.day in (1, 11) else month_end(start)


def month_end(d: date) -> date:
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def fen(value: Any) -> int:
    """A decimal-string amount as integer fen (分); empty → 0. Exact: Decimal, never float."""
    if value in (None, ""):
        return 0
    text = str(value)
    if MONEY_RE.match(text):  # the common case, in integer arithmetic
        whole, _, frac = text.partition(".")
        return int(whole) * 100 + int((frac + "00")[:2])
    try:
        return int((Decimal(text) * 100).to_integral_value())
    except InvalidOperation:
        return 0


def yuan(value: Any) -> str:
    """Integer fen as the decimal string the API shows (``"1299.00"``): integer arithmetic,
    exact at any size."""
    v = int(value or 0)
    q, r = divmod(abs(v), 100)
    return f"{'-' if v < 0 else ''}{q}.{r:02d}"


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def quoted(name: str) -> str:
    return f'"{name}"'


def is_designated() -> bool:
    """Whether HQ made this node a direct-report point (R4.2): its snapshots then also go
    straight to HQ."""
    return StatsState.get_value("direct_report") == "1"


def is_hq(node: Node) -> bool:
    return node.code == HQ_CODE


def next_counter(node: Node, key: str) -> int:
    """One upsert on a counter row (never a clock, never an in-memory counter): the value
    this transaction owns (RELIABILITY rule 2, applied to snapshot versions)."""
    p = node.db.param
    cursor = node.db.execute_sql(
        f'INSERT INTO "stats_state" ("key", "value") VALUES ({p}, {p}) '
        'ON CONFLICT ("key") DO UPDATE SET "value" = '
        'CAST(CAST("stats_state"."value" AS BIGINT) + 1 AS TEXT) RETURNING "value"', (key, "1"))
    return int(cursor.fetchone()[0])


def check_params(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse an unknown query parameter rather than ignore it: a misspelt ``form=`` would
    otherwise answer silently for the default range."""
    allowed = set(allowed)
    for key in params:
        if key not in allowed:
            raise invalid(str(key), f"未知查询参数 {str(key)[:30]} / unknown query parameter {str(key)[:30]}",
                          code="unknown_field")
