"""Statistics at every tier: local aggregates, snapshot rollups, coverage, direct-report
points, unit performance and hot spots (R4.1-R4.5, R7.2, R7.6, R8.2; CONTRACT §7;
RELIABILITY rules 17-18, F21). The design is written up in ``docs/statistics.md``.

The path of a figure:

1. **Local aggregates.** ``refresh_local`` recomputes this node's own rows of the day cube
   (``StatsRow`` with ``source`` = this node) for the receipt days (Asia/Shanghai) of the
   cases that changed since the last run (``updated_at``/``pk`` watermark with an overlap
   window), from the ``Case`` table: basis ``accepted`` over the cases this node took in
   (``accepting_node`` = me), basis ``handled`` over the cases it handles (``handling_node`` =
   me). Copies held on a route have another accepting and handling node, so they count
   nowhere but at their own nodes: a case counts once. ``reconcile`` compares a fingerprint
   of every receipt day and recomputes any day the watermark missed.
2. **Snapshots up (rules 17-18).** ``send_snapshots`` sends the parent one signed document
   per (origin, day) whose subtree figures changed: this node's rows plus the newest stored
   snapshot of each child, summed, as dimension rows. Its version comes from a counter row
   (never a clock). The parent replaces its stored rows of (child, day) only with a higher
   version, so duplicates, replays and late arrivals never double-count (F21).
3. **Projections.** ``refresh_aggregates`` rebuilds ``StatsAgg`` (totals, one row per value
   of each group-by field, per unit; day, dekad and month grain) for the days that
   changed. ``query`` answers ``GET /api/v1/stats`` from the months, dekads and days that
   cover the range — never from the case table; several group-by fields at once are
   summed from the day cube.
4. **Direct-report points (R4.2).** HQ designates up to 100 nodes (``designate``); the
   designation travels down on the ``stats`` channel. A designated node also sends each
   snapshot as a ``stats.direct`` document addressed to HQ, relayed up unchanged and
   verified against its origin's signature; HQ keeps those in ``StatsDirectRow``, apart
   from the national totals, which therefore never count them twice.

Nothing here imports Flask; the web layer, the jobs and the CLI call these functions inside
``node.activate()``. Money is integer fen in the database (exact SQL sums) and a decimal
string everywhere else; never a float. No personal data enters a row or a snapshot.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from peewee import fn

from federation.models import Link, LocalState
from node import jobs
from node.db import write_tx
from node.errors import NodeError, invalid
from node.cases.models import Case
from node.runtime import Node
from node.cases import standard
from node.network.transport import replicator
from node.stats.models import (
    COUNT_MEASURES,
    DIMS,
    MEASURES,
    StatsDayPrint,
    StatsDirectPoint,
    StatsDirectRow,
    StatsDirty,
    StatsFirm,
    StatsMember,
    StatsOutbound,
    StatsRejection,
    StatsRow,
    StatsSnapshot,
    StatsState,
)
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)

SHANGHAI = standard.SHANGHAI
UTC = UTC
HQ_CODE = "000000"

READ_ROLES = ("analyst", "leader", "admin")
ADMIN_ROLES = ("admin",)

BASES = ("accepted", "handled")
GROUP_FIELDS = DIMS                          # kind, channel, category, urgency, status, region
STREAM_ROLLUP, STREAM_DIRECT = "rollup", "direct"
DOC_SNAPSHOT, DOC_DIRECT, DOC_DESIGNATE = "stats.snapshot", "stats.direct", "stats.designate"
CHANNEL = "stats"
SCHEMA = 1
ROW_COLUMNS: tuple[str, ...] = ("basis", *DIMS, *COUNT_MEASURES, "amount", "amount_recovered")
FIRM_COLUMNS: tuple[str, ...] = ("uscc", "name", "region", "cases", "complaints", "reports")
BODY_KEYS = frozenset({"schema", "node", "day", "version", "generated_at", "columns", "rows",
                       "firm_columns", "firms", "members"})
MAX_ROWS = 200_000

# How far the incremental watermark looks back: a transaction that commits late with an
# ``updated_at`` slightly older than the newest one seen is still picked up (the classic
# "rows above my cursor" loss, RELIABILITY rule 2); recomputing a day twice is harmless.
WATERMARK_OVERLAP = timedelta(minutes=5)
PK_OVERLAP = 1000
SEND_CHUNK_DAYS = 100
REJECTION_KEEP_DAYS = 90

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
CONCLUSIVE = frozenset({"mediated", "not_mediated", "settled", "withdrawn", "filed", "not_filed"})
_COUNT_INDEX = {m: i for i, m in enumerate(MEASURES)}

_CATEGORY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_REGION_RE = re.compile(r"^(|\d{6})$")
_NODE_RE = re.compile(r"^(\d{6}|\d{9})$")
_USCC_RE = re.compile(r"^[0-9A-HJ-NP-RT-UW-Y]{18}$")
_MONEY_RE = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,2})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_KINDS = frozenset(standard.ALL_KINDS)
_CHANNELS = frozenset(c.value for c in standard.CHANNELS)
_URGENCIES = frozenset(u.value for u in standard.URGENCIES)
_STATUSES = frozenset(standard.STATUSES)


# -- small helpers ------------------------------------------------------------------------------
def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def show_time(value: Any) -> str | None:
    """A stored (naive UTC) or aware time as ISO 8601 at +08:00."""
    if value is None:
        return None
    return _aware(value).astimezone(SHANGHAI).isoformat()


def today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _dekad_start(d: date) -> date:
    """The first day of the dekad (旬: days 1-10, 11-20, 21-end) holding ``d``."""
    return d.replace(day=1 if d.day <= 10 else 11 if d.day <= 20 else 21)


def _dekad_end(start: date) -> date:
    return start + timedelta(days=9) if start.day in (1, 11) else _month_end(start)


def _month_end(d: date) -> date:
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def fen(value: Any) -> int:
    """A decimal-string amount as integer fen (分); empty → 0. Exact: Decimal, never float."""
    if value in (None, ""):
        return 0
    text = str(value)
    if _MONEY_RE.match(text):  # the common case, in integer arithmetic
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


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _q(name: str) -> str:
    return f'"{name}"'


def _designated() -> bool:
    return StatsState.get_value("direct_report") == "1"


def _parent() -> str | None:
    return topology.parent_code()


def _is_hq(node: Node) -> bool:
    return node.code == HQ_CODE


def _divisions() -> Any:
    from node.divisions import load_divisions
    return load_divisions()


def _next_counter(node: Node, key: str) -> int:
    """One upsert on a counter row (never a clock, never an in-memory counter): the value
    this transaction owns (RELIABILITY rule 2, applied to snapshot versions)."""
    p = node.db.param
    cursor = node.db.execute_sql(
        f'INSERT INTO "stats_state" ("key", "value") VALUES ({p}, {p}) '
        'ON CONFLICT ("key") DO UPDATE SET "value" = '
        'CAST(CAST("stats_state"."value" AS BIGINT) + 1 AS TEXT) RETURNING "value"', (key, "1"))
    return int(cursor.fetchone()[0])


# Versions of one origin grow by one per snapshot. A store restored from a backup starts a
# new replication epoch (F8); its counter would hand out numbers its parent has already
# seen (and would ignore as stale), so on a new epoch the counter jumps to the next
# multiple of 2**32.
VERSION_EPOCH_STEP = 2 ** 32


def _check_version_epoch(node: Node) -> None:
    epoch = LocalState.get_value("epoch")
    seen = StatsState.get_value("version_epoch")
    if epoch == seen:
        return
    if seen is not None:
        current = int(StatsState.get_value("version", "0") or 0)
        StatsState.put("version", str((current // VERSION_EPOCH_STEP + 1) * VERSION_EPOCH_STEP))
        log.warning("stats: new store epoch %s, snapshot versions continue from %s", epoch,
                    StatsState.get_value("version"))
    StatsState.put("version_epoch", epoch or "")


# -- 1. local aggregates ---------------------------------------------------------------------
def case_measures(row: Mapping[str, Any]) -> list[int]:
    """The measures one case contributes (a list in ``MEASURES`` order).

    Acceptance: a complaint whose accept clock was met by an acceptance (not a decline or a
    referral); ``decided`` = accepted + declined; on time = the decision date on or before
    ``accept_by``. Conclusion: an outcome recorded and the case concluded or closed (a
    consultation: answered); on time = the conclude (complaints) or verify (reports) clock
    met on or before its due date. Outcomes and satisfaction from the case's ``outcome``.
    """
    m = [0] * len(MEASURES)
    m[0] = 1
    kind, status = row["kind"], row["status"]
    try:
        outcome = json.loads(row["outcome"]) if row["outcome"] else {}
        deadlines = json.loads(row["deadlines"]) if row["deadlines"] else {}
    except ValueError:
        outcome, deadlines = {}, {}
    if not isinstance(outcome, dict):
        outcome = {}
    if not isinstance(deadlines, dict):
        deadlines = {}
    oc = outcome.get("outcome")
    met = deadlines.get("met") or {}
    i = _COUNT_INDEX

    def on_time(clock: str) -> bool:
        due, done = deadlines.get(clock), met.get(clock)
        return not due or (done is not None and str(done) <= str(due))

    if oc == "declined":
        m[i["declined"]] = 1
    if oc == "referred" or status == "referred":
        m[i["referred"]] = 1
    if kind == "complaint" and "accept_by" in met and oc not in ("declined", "referred"):
        m[i["accepted"]] = 1
    if kind == "complaint" and (m[i["accepted"]] or m[i["declined"]]):
        m[i["decided"]] = 1
        if on_time("accept_by"):
            m[i["accepted_on_time"]] = 1
    concluded = (status in ("concluded", "closed") and oc in CONCLUSIVE) or oc == "answered"
    if concluded:
        m[i["concluded"]] = 1
        clock = {"complaint": "conclude_by", "report": "verify_by"}.get(kind)
        if clock is None or on_time(clock):
            m[i["concluded_on_time"]] = 1
    if row["overdue"]:
        m[i["overdue"]] = 1
    if oc in ("mediated", "not_mediated", "settled", "withdrawn", "filed", "not_filed", "answered"):
        m[i[oc]] = 1
    sat = outcome.get("satisfaction")
    if sat in ("satisfied", "basically_satisfied", "dissatisfied"):
        m[i[sat]] = 1
    m[i["amount_fen"]] = fen(row["amount"])
    m[i["recovered_fen"]] = fen(row["amount_recovered"])
    return m


_CASE_FIELDS = ("received_date", "kind", "channel", "category", "urgency", "status", "respondent_region",
                "accepting_node", "handling_node", "outcome", "deadlines", "overdue", "amount",
                "amount_recovered", "respondent_uscc", "respondent_name")

CubeKey = tuple[str, str, str, str, str, str, str]   # basis + the six dims


def firm_name(uscc: str, name: str | None) -> str:
    """The registered name of a legal entity; never that of an individual business (USCC
    category ``92``, 个体工商户), whose name may be a person's."""
    if not name or uscc.startswith("92"):
        return ""
    return name[:200]


def compute_local(code: str, days: Sequence[date]) -> tuple[dict[date, dict[CubeKey, list[int]]],
                                                             dict[date, dict[str, list[Any]]]]:
    """This node's cube rows and firm rows for ``days``, from the case table."""
    cube: dict[date, dict[CubeKey, list[int]]] = {d: {} for d in days}
    firms: dict[date, dict[str, list[Any]]] = {d: {} for d in days}
    cols = [getattr(Case, f) for f in _CASE_FIELDS]
    for chunk in _chunks(list(days), 300):
        query = (Case.select(*cols)
                 .where(Case.received_date.in_(list(chunk))
                        & ((Case.accepting_node == code) | (Case.handling_node == code)))
                 .dicts())
        for row in query:
            day = _as_date(row["received_date"])
            measures = case_measures(row)
            dims = (row["kind"], row["channel"], row["category"], row["urgency"], row["status"],
                    row["respondent_region"] or "")
            bases = [b for b, n in (("accepted", row["accepting_node"]), ("handled", row["handling_node"]))
                     if n == code]
            for basis in bases:
                acc = cube[day].setdefault((basis, *dims), [0] * len(MEASURES))
                for j, v in enumerate(measures):
                    acc[j] += v
            uscc = row["respondent_uscc"]
            if "accepted" in bases and uscc:
                f = firms[day].setdefault(uscc, [firm_name(uscc, row["respondent_name"]),
                                                 row["respondent_region"] or "", 0, 0, 0])
                f[2] += 1
                f[3] += 1 if row["kind"] == "complaint" else 0
                f[4] += 1 if row["kind"] == "report" else 0
    return cube, firms


def _stored_local(code: str, days: Sequence[date]) -> tuple[dict[date, dict[CubeKey, list[int]]],
                                                             dict[date, dict[str, list[Any]]]]:
    cube: dict[date, dict[CubeKey, list[int]]] = {d: {} for d in days}
    firms: dict[date, dict[str, list[Any]]] = {d: {} for d in days}
    mcols = [getattr(StatsRow, m) for m in MEASURES]
    for chunk in _chunks(list(days), 300):
        for r in (StatsRow.select(StatsRow.day, StatsRow.basis, *[getattr(StatsRow, d) for d in DIMS], *mcols)
                  .where((StatsRow.source == code) & StatsRow.day.in_(list(chunk)))
                  .tuples()):
            cube[_as_date(r[0])][tuple(r[1:8])] = [int(v) for v in r[8:]]  # type: ignore[index]
        for f in (StatsFirm.select(StatsFirm.day, StatsFirm.uscc, StatsFirm.name, StatsFirm.region,
                                   StatsFirm.cases, StatsFirm.complaints, StatsFirm.reports)
                  .where((StatsFirm.source == code) & StatsFirm.day.in_(list(chunk)))
                  .tuples()):
            firms[_as_date(f[0])][f[1]] = [f[2], f[3], int(f[4]), int(f[5]), int(f[6])]
    return cube, firms


def _cube_rows(source: str, day: date, cube: Mapping[CubeKey, Sequence[int]]) -> list[tuple[Any, ...]]:
    iso = day.isoformat()
    return [(source, iso, *key, *measures) for key, measures in cube.items()]


def _bulk_insert(model: Any, columns: Sequence[str], rows: list[Sequence[Any]], *, plain: bool = False) -> None:
    """Many rows in few statements, without building SQL per row (the ingest hot path:
    peewee's ``insert_many`` spends most of its time generating SQL, STYLE.md "Hot paths").
    Callers pass dates as ISO strings, which both databases store as the date; ``plain``
    says every value is a checked code or number (nothing to escape for COPY)."""
    if not rows:
        return
    db = model._meta.database
    table = model._meta.table_name
    cols = ", ".join(_q(c) for c in columns)
    cursor = db.cursor()
    from node.db import is_sqlite
    if is_sqlite(db):
        marks = ", ".join("?" * len(columns))
        cursor.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)
    else:
        # COPY is ~8x faster than a multi-row INSERT on PostgreSQL (bench/bench_stats.py)
        if plain:
            text = "".join("\t".join(map(str, r)) + "\n" for r in rows)
        else:
            text = "".join("\t".join(_copy_text(v) for v in r) + "\n" for r in rows)
        buf = io.StringIO(text)
        cursor.copy_expert(f'COPY "{table}" ({cols}) FROM STDIN', buf)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


_CUBE_COLUMNS: tuple[str, ...] = ("source", "day", "basis", *DIMS, *MEASURES)
_FIRM_COLUMNS = ("source", "day", "uscc", "name", "region", "cases", "complaints", "reports")


def _insert_rows(model: Any, rows: list[tuple[Any, ...]]) -> None:
    # cube rows hold checked codes (node, enums, category, region) and integers only
    _bulk_insert(model, _CUBE_COLUMNS, rows, plain=True)


def _insert_firms(source: str, day: date, firms: Mapping[str, Sequence[Any]]) -> None:
    iso = day.isoformat()
    _bulk_insert(StatsFirm, _FIRM_COLUMNS, [(source, iso, uscc, *f[:5]) for uscc, f in firms.items()])


def _mark_dirty(node: Node, days: Iterable[date]) -> None:
    """Days whose projections must be rebuilt and whose snapshot must go up."""
    days = sorted(set(days))
    if not days:
        return
    for chunk in _chunks(days, 500):
        StatsDirty.insert_many([(d,) for d in chunk], fields=[StatsDirty.day]).on_conflict_ignore().execute()
    targets = []
    if not _is_hq(node):
        targets.append("parent")
        if _designated():
            targets.append("direct")
    for target in targets:
        for chunk in _chunks(days, 500):
            (StatsOutbound.insert_many([(target, d) for d in chunk], fields=[StatsOutbound.target, StatsOutbound.day])
                .on_conflict_ignore().execute())


def _write_local(node: Node, days: Sequence[date]) -> list[date]:
    """Recompute this node's rows for ``days``; write only the days that changed."""
    code = node.code
    new_cube, new_firms = compute_local(code, days)
    changed: list[date] = []
    with write_tx(node.db):
        old_cube, old_firms = _stored_local(code, days)
        for d in days:
            if new_cube[d] == old_cube[d] and new_firms[d] == old_firms[d]:
                continue
            changed.append(d)
        for chunk in _chunks(changed, 300):
            StatsRow.delete().where((StatsRow.source == code) & StatsRow.day.in_(list(chunk))).execute()
            StatsFirm.delete().where((StatsFirm.source == code) & StatsFirm.day.in_(list(chunk))).execute()
        rows: list[tuple[Any, ...]] = []
        for d in changed:
            rows += _cube_rows(code, d, new_cube[d])
            _insert_firms(code, d, new_firms[d])
        _insert_rows(StatsRow, rows)
        _mark_dirty(node, changed)
    return changed


def refresh_local(node: Node) -> list[date]:
    """Incremental: recompute the receipt days of cases written since the last run."""
    maxes = Case.select(fn.MAX(Case.updated_at), fn.MAX(Case.pk)).tuples().first() or (None, None)
    max_at, max_pk = maxes
    seen = StatsState.get_value("local_seen")
    marker = f"{max_at}|{max_pk}"
    if max_pk is None or seen == marker:
        return []
    wm_at = StatsState.get_value("local_wm_at")
    wm_pk = int(StatsState.get_value("local_wm_pk", "0") or 0)
    query = Case.select(Case.received_date).distinct()
    if wm_at:
        since = datetime.fromisoformat(wm_at) - WATERMARK_OVERLAP
        query = query.where((Case.updated_at >= since) | (Case.pk > wm_pk - PK_OVERLAP))
    days = sorted({_as_date(r[0]) for r in query.tuples()})
    changed = _write_local(node, days) if days else []
    with write_tx(node.db):
        StatsState.put("local_wm_at", _as_naive_iso(max_at))
        StatsState.put("local_wm_pk", str(max_pk))
        StatsState.put("local_seen", marker)
    return changed


def _as_naive_iso(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def reconcile(node: Node) -> list[date]:
    """Full check: a fingerprint per receipt day of the case table (count, versions, newest
    change, ids) against the last one seen; recompute every day that differs, and every day
    with local rows but no cases any more."""
    max_at, max_pk = Case.select(fn.MAX(Case.updated_at), fn.MAX(Case.pk)).tuples().first() or (None, None)
    prints: dict[date, str] = {}
    for day, n, versions, newest, pks in (Case.select(Case.received_date, fn.COUNT(Case.pk), fn.SUM(Case.version),
                                                      fn.MAX(Case.updated_at), fn.SUM(Case.pk))
                                          .group_by(Case.received_date)
                                          .tuples()):
        prints[_as_date(day)] = f"{n}|{versions}|{newest}|{pks}"
    stored = {_as_date(r.day): r.fingerprint for r in StatsDayPrint.select()}
    mine = {_as_date(r[0]) for r in StatsRow.select(StatsRow.day).where(StatsRow.source == node.code)
            .distinct().tuples()}
    days = sorted({d for d, fp in prints.items() if stored.get(d) != fp} | (set(stored) - set(prints))
                  | (mine - set(prints)))
    changed = _write_local(node, days) if days else []
    with write_tx(node.db):
        StatsDayPrint.delete().execute()
        rows = [(d, fp) for d, fp in prints.items()]
        for chunk in _chunks(rows, 500):
            StatsDayPrint.insert_many(list(chunk), fields=[StatsDayPrint.day, StatsDayPrint.fingerprint]).execute()
        StatsState.put("reconciled_at", _db_time(node.now()).isoformat())
        if max_pk is not None:  # the incremental watermark starts from here
            StatsState.put("local_wm_at", _as_naive_iso(max_at))
            StatsState.put("local_wm_pk", str(max_pk))
            StatsState.put("local_seen", f"{max_at}|{max_pk}")
    return changed


def _reconcile_due(node: Node) -> bool:
    last = StatsState.get_value("reconciled_at")
    if not last:
        return True
    return _aware(last) <= node.now() - timedelta(hours=node.config.stats.reconcile_interval_hours)


# -- 2. projections --------------------------------------------------------------------------
def _sum_cols(prefix: str = "") -> str:
    return ", ".join(f'SUM({prefix}"{m}")' for m in MEASURES)


_AGG_COLS = ('"grain", "start", "dim", "unit", "basis", ' + ", ".join(_q(d) for d in DIMS) + ", "
             + ", ".join(_q(m) for m in MEASURES))


def _date_param(node: Node) -> str:
    """A date bound into a SELECT list: typed on PostgreSQL (an untyped literal would be
    text), plain on SQLite (where CAST(... AS DATE) would keep only the year)."""
    from node.db import is_sqlite
    return node.db.param if is_sqlite(node.db) else f"CAST({node.db.param} AS DATE)"


def _dim_select(dim: str) -> str:
    return ", ".join(_q(d) if d == dim else "''" for d in DIMS)


def _take_dirty(node: Node) -> list[date]:
    cursor = node.db.execute_sql('DELETE FROM "stats_dirty" RETURNING "day"')
    return sorted({_as_date(r[0]) for r in cursor.fetchall()})


_LOW_DIMS = ("kind", "channel", "urgency", "status")


def _rebuild_days(node: Node, isos: list[str]) -> None:
    """Day-grain projections of ``isos`` from the cube. PostgreSQL: one scan with GROUPING
    SETS. SQLite (no grouping sets): one scan into a small temporary table of the
    low-cardinality fields, from which totals and those four projections are summed; one
    scan each for category, region and units."""
    db = node.db
    p = db.param
    marks = ", ".join([p] * len(isos))
    db.execute_sql(f'DELETE FROM "stats_agg" WHERE "grain" = \'d\' AND "start" IN ({marks})', isos)
    where = f'"basis" = \'accepted\' AND "day" IN ({marks})'
    from node.db import is_sqlite
    if not is_sqlite(db):
        sets = ", ".join(["(\"day\")"] + [f'("day", {_q(d)})' for d in DIMS])
        label = "CASE " + " ".join(f"WHEN GROUPING({_q(d)}) = 0 THEN '{d}'" for d in DIMS) + " ELSE '' END"
        values = ", ".join(f"COALESCE({_q(d)}, '')" for d in DIMS)
        db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) SELECT \'d\', "day", {label}, \'\', \'\', {values}, '
                       f'{_sum_cols()} FROM "stats_row" WHERE {where} GROUP BY GROUPING SETS ({sets})', isos)
    else:
        low = ", ".join(_q(d) for d in _LOW_DIMS)
        db.execute_sql('DROP TABLE IF EXISTS temp."stats_low"')
        db.execute_sql(f'CREATE TEMP TABLE "stats_low" AS SELECT "day", {low}, '
                       + ", ".join(f'SUM("{m}") AS "{m}"' for m in MEASURES)
                       + f' FROM "stats_row" WHERE {where} GROUP BY "day", {low}', isos)
        for dim in ("", *_LOW_DIMS):
            group = '"day"' + (f", {_q(dim)}" if dim else "")
            db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                           f"SELECT 'd', \"day\", '{dim}', '', '', {_dim_select(dim)}, {_sum_cols()} "
                           f'FROM temp."stats_low" GROUP BY {group}')
        db.execute_sql('DROP TABLE temp."stats_low"')
        for dim in ("category", "region"):
            db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                           f"SELECT 'd', \"day\", '{dim}', '', '', {_dim_select(dim)}, {_sum_cols()} "
                           f'FROM "stats_row" WHERE {where} GROUP BY "day", {_q(dim)}', isos)
    db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                   f"SELECT 'd', \"day\", '@unit', \"source\", \"basis\", {_dim_select('')}, {_sum_cols()} "
                   f'FROM "stats_row" WHERE "day" IN ({marks}) GROUP BY "day", "source", "basis"', isos)


def refresh_aggregates(node: Node) -> int:
    """Rebuild the projections for the days marked dirty; return how many days."""
    if not StatsDirty.select().exists():
        return 0
    db = node.db
    p = db.param
    with write_tx(db):
        days = _take_dirty(node)
        if not days:
            return 0
        for chunk in _chunks(days, 200):
            _rebuild_days(node, [d.isoformat() for d in chunk])
        # dekads (旬) from days, months from dekads: each coarser grain reads the finer
        # projection, never the cube again
        all_dims = '"dim", "unit", "basis", ' + ", ".join(_q(d) for d in DIMS)
        dp = _date_param(node)
        dekads = sorted({_dekad_start(d) for d in days})
        for grain, starts, finer in (("x", dekads, "d"), ("m", sorted({_month_start(d) for d in dekads}), "x")):
            for first in starts:
                last = _dekad_end(first) if grain == "x" else _month_end(first)
                a, b = first.isoformat(), last.isoformat()
                db.execute_sql(f'DELETE FROM "stats_agg" WHERE "grain" = {p} AND "start" = {p}', (grain, a))
                db.execute_sql(
                    f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                    f"SELECT {p}, {dp}, {all_dims}, {_sum_cols()} FROM \"stats_agg\" "
                    f'WHERE "grain" = {p} AND "start" BETWEEN {p} AND {p} GROUP BY {all_dims}',
                    (grain, a, finer, a, b))
        StatsState.put("refreshed_at", _db_time(node.now()).isoformat())
        from node.db import is_sqlite
        if len(days) >= 30 and not is_sqlite(db):
            # after a backfill the planner's row estimates are far off (it would sort a
            # query's rows on disk instead of hashing them)
            db.execute_sql('ANALYZE "stats_agg"')
            db.execute_sql('ANALYZE "stats_row"')
    return len(days)


def ensure_fresh(node: Node) -> None:
    """Bring the local rows and the projections up to date (cheap when nothing changed):
    answers always include this node's own latest cases."""
    refresh_local(node)
    refresh_aggregates(node)


# -- 3. snapshots: build, send, receive --------------------------------------------------------
def _fmt_row(r: Sequence[Any]) -> list[Any]:
    counts = [int(v or 0) for v in r[7:7 + len(COUNT_MEASURES)]]
    money = [yuan(v) for v in r[7 + len(COUNT_MEASURES):]]
    return [*r[:7], *counts, *money]


def build_body(node: Node, day: date, version: int, now: datetime,
               members: Mapping[str, str] | None) -> dict[str, Any]:
    """The snapshot of this node's subtree for ``day``: its own rows plus the newest stored
    snapshot of each child, summed per (basis, dims). Counts, codes and sums only."""
    p = node.db.param
    dims = ", ".join(_q(d) for d in DIMS)
    cursor = node.db.execute_sql(
        f'SELECT "basis", {dims}, {_sum_cols()} FROM "stats_row" WHERE "day" = {p} '
        f'GROUP BY "basis", {dims} ORDER BY "basis", {dims}', (day.isoformat(),))
    rows = [_fmt_row(r) for r in cursor.fetchall()]
    cursor = node.db.execute_sql(
        'SELECT "uscc", MAX("name"), MAX("region"), SUM("cases"), SUM("complaints"), SUM("reports") '
        f'FROM "stats_firm" WHERE "day" = {p} GROUP BY "uscc" ORDER BY "uscc"', (day.isoformat(),))
    firms = [[u, n or "", r or "", int(c), int(cp), int(rp)] for u, n, r, c, cp, rp in cursor.fetchall()]
    return {"schema": SCHEMA, "node": node.code, "day": day.isoformat(), "version": version,
            "generated_at": now.astimezone(SHANGHAI).isoformat(), "columns": list(ROW_COLUMNS),
            "rows": rows, "firm_columns": list(FIRM_COLUMNS), "firms": firms,
            "members": dict(members) if members is not None else None}


def members_report(node: Node, now: datetime) -> dict[str, str]:
    """Coverage to hand up: this node now, and every node its children reported."""
    out = {node.code: now.astimezone(SHANGHAI).isoformat()}
    children = topology.child_codes()
    if not children:
        return out
    for m in StatsMember.select().where(StatsMember.via.in_(children)):
        prev = out.get(m.member)
        at = show_time(m.reported_at)
        if at is not None and (prev is None or at > prev):
            out[m.member] = at
    return out


def _take_outbound(node: Node, target: str) -> list[date]:
    p = node.db.param
    cursor = node.db.execute_sql(f'DELETE FROM "stats_outbound" WHERE "target" = {p} RETURNING "day"', (target,))
    return sorted({_as_date(r[0]) for r in cursor.fetchall()})


def _flag_all_days(target: str) -> int:
    days = [(target, _as_date(r[0])) for r in StatsRow.select(StatsRow.day).distinct().tuples()]
    for chunk in _chunks(days, 500):
        (StatsOutbound.insert_many(list(chunk), fields=[StatsOutbound.target, StatsOutbound.day])
            .on_conflict_ignore().execute())
    return len(days)


def send_snapshots(node: Node) -> dict[str, int]:
    """Enqueue one signed snapshot per changed day for the parent (and, at a designated
    direct-report point, one more addressed to HQ). Business change and outbox rows commit
    together (rule 1); a day's flag is taken in the same transaction."""
    sent = {"parent": 0, "direct": 0}
    if _is_hq(node):
        return sent
    rep = replicator(node)
    now = node.now()
    parent = _parent()
    with write_tx(node.db):
        _check_version_epoch(node)
        if parent is not None and StatsState.get_value("parent") != parent:
            # a new parent (or a move to another branch, F19) needs the whole history
            _flag_all_days("parent")
            StatsState.put("parent", parent)
    if parent is None:
        return sent
    direct_hop = topology.next_hop(rep, HQ_CODE) if _designated() else None
    while True:
        with write_tx(node.db):
            up = _take_outbound(node, "parent")
            direct = _take_outbound(node, "direct") if direct_hop else []
            last = StatsState.get_value("last_sent_at")
            beat = timedelta(minutes=node.config.stats.heartbeat_minutes)
            if not up and not direct and (last is None or _aware(last) + beat <= now) and not sent["parent"]:
                up = [today(now)]
            days = sorted(set(up) | set(direct))
            if not days:
                return sent
            todo, rest = days[:SEND_CHUNK_DAYS], days[SEND_CHUNK_DAYS:]
            for target, ds in (("parent", up), ("direct", direct)):
                leftover = [d for d in ds if d in set(rest)]
                for chunk in _chunks(leftover, 500):
                    (StatsOutbound.insert_many([(target, d) for d in chunk],
                                               fields=[StatsOutbound.target, StatsOutbound.day])
                        .on_conflict_ignore().execute())
            members = members_report(node, now)
            up_set, direct_set = set(up), set(direct)
            for i, day in enumerate(todo):
                version = _next_counter(node, "version")
                body = build_body(node, day, version, now, members if i == len(todo) - 1 else None)
                if day in up_set:
                    doc = documents.create(DOC_SNAPSHOT, channel=CHANNEL, origin=node.code, dest=parent,
                                           body=body, keypair=node.keypair, now=now,
                                           doc_id=f"stats-{node.code}-{day:%Y%m%d}-v{version}")
                    outbox.enqueue(rep, parent, CHANNEL, doc, [node.code], now)
                    sent["parent"] += 1
                if day in direct_set and direct_hop:
                    doc = documents.create(DOC_DIRECT, channel=CHANNEL, origin=node.code, dest=HQ_CODE,
                                           body=body, keypair=node.keypair, now=now,
                                           doc_id=f"statsd-{node.code}-{day:%Y%m%d}-v{version}")
                    outbox.enqueue(rep, direct_hop, CHANNEL, doc, [node.code], now)
                    sent["direct"] += 1
            StatsState.put("last_sent_at", _db_time(now).isoformat())
            if not rest:
                return sent


@dataclass(frozen=True)
class Snapshot:
    node: str
    day: date
    version: int
    generated_at: datetime
    rows: list[tuple[Any, ...]]       # (basis, 6 dims, measures in MEASURES order, fen)
    firms: list[tuple[Any, ...]]      # (uscc, name, region, cases, complaints, reports)
    members: dict[str, datetime] | None
    digest: str


def _bad(message: str) -> ApplyError:
    return ApplyError(f"统计快照无效：{message} / invalid statistics snapshot: {message}")


_INT_ONLY = frozenset({int})
_MAX_COUNT = 2 ** 31   # a count column holds 32 bits


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{where} 须为整数 / {where} must be an integer")
    if value < 0:
        raise ApplyError(f"统计快照含负数 {where}={value}，拒收 / negative count {where}={value}: refused")
    if value >= _MAX_COUNT:
        raise _bad(f"{where} 过大 / {where} is too large")
    return value


def parse_body(body: Any, origin: str, is_within: Any) -> Snapshot:
    """Check a snapshot body field by field; raise ``ApplyError`` (quarantine) if malformed."""
    if not isinstance(body, dict) or set(body) != BODY_KEYS:
        extra = sorted(set(body) - BODY_KEYS) if isinstance(body, dict) else []
        raise _bad(f"字段不符 {extra} / fields differ from schema {SCHEMA}")
    if body["schema"] != SCHEMA:
        raise _bad(f"不支持的 schema {body['schema']!r} / unsupported schema")
    if body["node"] != origin:
        raise ApplyError(f"快照的 node {body['node']!r} 与签名来源 {origin} 不符 / snapshot node differs "
                         f"from its signed origin")
    if not isinstance(body["day"], str) or not _DATE_RE.match(body["day"]):
        raise _bad("day 须为 YYYY-MM-DD / day must be YYYY-MM-DD")
    try:
        day = date.fromisoformat(body["day"])
        generated_at = datetime.fromisoformat(str(body["generated_at"]))
    except ValueError:
        raise _bad("day 或 generated_at 无效 / bad day or generated_at") from None
    if generated_at.tzinfo is None:
        raise _bad("generated_at 须带时区 / generated_at needs an offset")
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad("version 须为正整数 / version must be a positive integer")
    if body["columns"] != list(ROW_COLUMNS) or body["firm_columns"] != list(FIRM_COLUMNS):
        raise _bad("列定义不符 / columns differ")
    rows_in, firms_in = body["rows"], body["firms"]
    if not isinstance(rows_in, list) or not isinstance(firms_in, list) or len(rows_in) > MAX_ROWS:
        raise _bad("rows/firms 须为列表 / rows and firms must be lists")
    rows: list[tuple[Any, ...]] = []
    keys: set[tuple[Any, ...]] = set()
    n_counts = len(COUNT_MEASURES)
    width = len(ROW_COLUMNS)
    ok_category: set[str] = set()
    ok_region: set[str] = set()
    for i, r in enumerate(rows_in):
        where = f"rows[{i}]"
        if type(r) is not list or len(r) != width:
            raise _bad(f"{where} 长度不符 / wrong length")
        basis, kind, channel, category, urgency, status, region = r[:7]
        if category not in ok_category:
            if not isinstance(category, str) or not _CATEGORY_RE.match(category):
                raise _bad(f"{where} 维度取值无效 / unknown dimension value")
            ok_category.add(category)
        if region not in ok_region:
            if not isinstance(region, str) or not _REGION_RE.match(region):
                raise _bad(f"{where} 维度取值无效 / unknown dimension value")
            ok_region.add(region)
        if (basis not in BASES or kind not in _KINDS or channel not in _CHANNELS or urgency not in _URGENCIES
                or status not in _STATUSES):
            raise _bad(f"{where} 维度取值无效 / unknown dimension value")
        counts = r[7:7 + n_counts]
        # C-speed checks first (exactly int — a bool is not — and never negative); the
        # per-value checks that name the culprit run only when these fail
        if not (set(map(type, counts)) <= _INT_ONLY and min(counts) >= 0 and max(counts) < _MAX_COUNT):
            counts = [_count(v, f"{where}.{ROW_COLUMNS[7 + j]}") for j, v in enumerate(counts)]
        money = []
        for j, v in enumerate(r[7 + n_counts:]):
            if type(v) is not str or not _MONEY_RE.match(v):
                name = ROW_COLUMNS[7 + n_counts + j]
                if isinstance(v, str) and v.startswith("-"):
                    raise ApplyError(f"统计快照含负数 {where}.{name}={v}，拒收 / negative amount: refused")
                raise _bad(f"{where}.{name} 须为十进制字符串 / must be a decimal string")
            whole, _, frac = v.partition(".")
            money.append(int(whole) * 100 + int((frac + "00")[:2]))
        key = tuple(r[:7])
        if key in keys:
            raise _bad(f"{where} 维度重复 / duplicate dimensions")
        keys.add(key)
        rows.append((*key, *counts, *money))
    firms: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for i, f in enumerate(firms_in):
        where = f"firms[{i}]"
        if not isinstance(f, list) or len(f) != len(FIRM_COLUMNS):
            raise _bad(f"{where} 长度不符 / wrong length")
        uscc, name, region = f[:3]
        if (not isinstance(uscc, str) or not _USCC_RE.match(uscc) or uscc in seen or not isinstance(name, str)
                or len(name) > 200 or not isinstance(region, str) or not _REGION_RE.match(region)):
            raise _bad(f"{where} 无效 / invalid firm row")
        if uscc.startswith("92") and name:
            raise _bad(f"{where} 含个体工商户名称 / carries an individual business's name")
        seen.add(uscc)
        firms.append((uscc, name, region, *[_count(v, f"{where}.{FIRM_COLUMNS[3 + j]}") for j, v in enumerate(f[3:])]))
    members: dict[str, datetime] | None = None
    if body["members"] is not None:
        if not isinstance(body["members"], dict) or len(body["members"]) > 200_000:
            raise _bad("members 须为对象 / members must be an object")
        members = {}
        for code, at in body["members"].items():
            if not isinstance(code, str) or not _NODE_RE.match(code) or not is_within(code, origin):
                raise ApplyError(f"覆盖名单中的 {str(code)[:12]} 不在 {origin} 辖区内 / member outside the "
                                 f"sender's subtree: refused")
            try:
                members[code] = _aware(str(at))
            except ValueError:
                raise _bad(f"members[{code}] 时间无效 / bad time") from None
    # the body's types are checked above, so plain sorted JSON is its canonical form
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    return Snapshot(origin, day, version, generated_at, rows, firms, members, digest)


def _reject(kind: str, sender: str, origin: str, day: str, version: int, doc_id: str, code: str,
            reason: str, now: datetime) -> str:
    StatsRejection.insert(at=_db_time(now), kind=kind, sender=sender, origin=origin, day=day, version=version,
                          doc_id=doc_id, code=code, reason=reason).execute()
    log.warning("stats: ignored %s from %s (origin %s, day %s, v%s): %s", kind, sender, origin, day, version, reason)
    return code


def ingest(node: Node, stream: str, snap: Snapshot, *, sender: str, doc_id: str, now: datetime) -> str:
    """Store a verified snapshot if it is newer than the stored one for (origin, day).

    Returns ``"applied"`` or the code of the reason it was ignored (recorded in
    ``StatsRejection``): a lower version (late or replayed), the same version again
    (duplicate), or the same version with other content (conflict). Never counts twice.
    """
    kind = DOC_SNAPSHOT if stream == STREAM_ROLLUP else DOC_DIRECT
    db = node.db
    p = db.param
    iso = snap.day.isoformat()
    # raw statements on this hot path (one inbox batch applies hundreds of snapshots)
    found = db.execute_sql(f'SELECT "version", "digest" FROM "stats_snapshot" WHERE "stream" = {p} '
                           f'AND "origin" = {p} AND "day" = {p}', (stream, snap.node, iso)).fetchone()
    existing = None if found is None else (int(found[0]), found[1])
    if existing is not None and snap.version <= existing[0]:
        if snap.version < existing[0]:
            code, reason = "stale_version", (f"版本 {snap.version} 低于已存版本 {existing[0]}，忽略 / version "
                                             f"{snap.version} is below the stored {existing[0]}: ignored")
        elif snap.digest == existing[1]:
            code, reason = "duplicate", f"重复的快照 v{snap.version}，忽略 / duplicate snapshot: ignored"
        else:
            code, reason = "version_conflict", (f"同一版本 v{snap.version} 内容不同，忽略并告警 / same version, "
                                                f"different content: ignored (alarm)")
        return _reject(kind, sender, snap.node, snap.day.isoformat(), snap.version, doc_id, code, reason, now)
    model = StatsRow if stream == STREAM_ROLLUP else StatsDirectRow
    # rows of (origin, day) exist only next to their snapshot record: nothing to replace
    # when there is none (the first snapshot of a day, the common case)
    if existing is not None:
        model.delete().where((model.source == snap.node) & (model.day == snap.day)).execute()
    _insert_rows(model, [(snap.node, iso, *r) for r in snap.rows])
    if stream == STREAM_ROLLUP:
        if existing is not None:
            StatsFirm.delete().where((StatsFirm.source == snap.node) & (StatsFirm.day == snap.day)).execute()
        _insert_firms(snap.node, snap.day, {f[0]: f[1:] for f in snap.firms})
        db.execute_sql(f'INSERT INTO "stats_dirty" ("day") VALUES ({p}) ON CONFLICT DO NOTHING', (iso,))
        if not _is_hq(node):
            _mark_dirty(node, [snap.day])
        if snap.members is not None:
            current = (StatsMember.select(fn.MAX(StatsMember.version))
                       .where(StatsMember.via == snap.node).scalar()) or 0
            if snap.version > int(current):
                StatsMember.delete().where(StatsMember.via == snap.node).execute()
                rows = [(snap.node, code, _db_time(at), snap.version) for code, at in snap.members.items()]
                for chunk in _chunks(rows, 500):
                    StatsMember.insert_many(list(chunk), fields=[StatsMember.via, StatsMember.member,
                                                                 StatsMember.reported_at, StatsMember.version]).execute()
                _next_counter(node, "members_gen")
    cols = ("version", "digest", "doc_id", "generated_at", "received_at", "rows")
    values = (snap.version, snap.digest, doc_id, _db_time(snap.generated_at).isoformat(" "),
              _db_time(now).isoformat(" "), len(snap.rows))
    db.execute_sql(
        f'INSERT INTO "stats_snapshot" ("stream", "origin", "day", {", ".join(_q(c) for c in cols)}) '
        f'VALUES ({", ".join([p] * (3 + len(cols)))}) ON CONFLICT ("stream", "origin", "day") DO UPDATE SET '
        + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in cols), (stream, snap.node, iso, *values))
    return "applied"


def apply_snapshot(node: Node, delivery: Delivery) -> None:
    """Handler of ``stats.snapshot``: a direct child's own subtree snapshot for me only."""
    if delivery.dest != node.code:
        raise ApplyError(f"统计快照只发给直接上级，本节点不是目的地 {delivery.dest} / a snapshot goes one hop to "
                         f"the origin's parent; this node is not its destination")
    if delivery.sender_role != "child" or delivery.origin != delivery.sender:
        raise ApplyError(f"统计快照须由直接下级自己发出（来源 {delivery.origin}，发送方 {delivery.sender}）/ a snapshot "
                         f"must come from a direct child about itself: refused")
    snap = parse_body(delivery.body, delivery.origin, delivery.rep.is_within)
    ingest(node, STREAM_ROLLUP, snap, sender=delivery.sender, doc_id=str(delivery.doc["id"]), now=delivery.now)


def apply_direct(node: Node, delivery: Delivery) -> None:
    """Handler of ``stats.direct``: relay up unchanged; at HQ keep it apart (R4.2)."""
    if delivery.dest != node.code:
        hop = topology.next_hop(delivery.rep, delivery.dest)
        if hop is None:
            raise ApplyError(f"无法转发直报快照至 {delivery.dest}：没有链路 / no link towards {delivery.dest}")
        delivery.forward(hop)
        return
    if not _is_hq(node):
        raise ApplyError("直报快照只能发往总局 / direct-report snapshots go to HQ only")
    snap = parse_body(delivery.body, delivery.origin, delivery.rep.is_within)
    point = StatsDirectPoint.get_or_none(StatsDirectPoint.code == delivery.origin)
    if point is None or point.active != "1":
        _reject(DOC_DIRECT, delivery.sender, delivery.origin, snap.day.isoformat(), snap.version,
                str(delivery.doc["id"]), "not_designated",
                f"{delivery.origin} 未被总局指定为数据直报点，直报快照不予采用 / {delivery.origin} is not a "
                f"designated direct-report point: ignored", delivery.now)
        return
    ingest(node, STREAM_DIRECT, snap, sender=delivery.sender, doc_id=str(delivery.doc["id"]), now=delivery.now)


def apply_designate(node: Node, delivery: Delivery) -> None:
    """Handler of ``stats.designate``: HQ's (un)designation of a direct-report point."""
    if delivery.origin != HQ_CODE:
        raise ApplyError("只有总局可以指定数据直报点 / only HQ designates direct-report points")
    body = delivery.body
    if (set(body) != {"code", "designated", "version"} or body["code"] != delivery.dest
            or not isinstance(body["designated"], bool) or isinstance(body["version"], bool)
            or not isinstance(body["version"], int)):
        raise ApplyError("直报点指定文档格式错误 / malformed designation")
    if delivery.dest != node.code:
        hop = topology.next_hop(delivery.rep, delivery.dest)
        if hop is None:
            raise ApplyError(f"无法转发直报点指定至 {delivery.dest}：没有链路 / no link towards {delivery.dest}")
        delivery.forward(hop)
        return
    current = int(StatsState.get_value("designation_version", "0") or 0)
    if body["version"] <= current:
        log.info("stats: designation v%s already superseded by v%s", body["version"], current)
        return
    StatsState.put("designation_version", str(body["version"]))
    StatsState.put("direct_report", "1" if body["designated"] else "0")
    if body["designated"]:
        _flag_all_days("direct")
    else:
        StatsOutbound.delete().where(StatsOutbound.target == "direct").execute()
    log.info("stats: direct-report point %s", "designated" if body["designated"] else "withdrawn")


def register_handlers(node: Node, registry: Registry) -> None:
    """The statistics documents this node applies (``node.domains`` installs it)."""
    registry.register(DOC_SNAPSHOT, lambda d: apply_snapshot(node, d))
    registry.register(DOC_DIRECT, lambda d: apply_direct(node, d))
    registry.register(DOC_DESIGNATE, lambda d: apply_designate(node, d))



# -- 4. direct-report points (HQ) ------------------------------------------------------------
def designate(node: Node, code: str, designated: bool = True) -> dict[str, Any]:
    """At HQ: designate (or withdraw) a direct-report point; the order travels down."""
    if not _is_hq(node) or not node.config.capabilities.designates_direct_report:
        raise NodeError(409, "not_hq", "只有总局可以指定数据直报点 / only HQ designates direct-report points")
    if not isinstance(code, str) or _divisions().level_of(code) is None or code == HQ_CODE:
        raise invalid("code", f"{str(code)[:20]} 不是有效的下级节点代码 / not a node code below HQ")
    now = node.now()
    with write_tx(node.db):
        point = StatsDirectPoint.get_or_none(StatsDirectPoint.code == code)
        if designated:
            active = StatsDirectPoint.select().where(StatsDirectPoint.active == "1").count()
            limit = node.config.stats.max_direct_report_points
            if (point is None or point.active != "1") and active >= limit:
                raise NodeError(409, "too_many_points", f"数据直报点已达上限 {limit} 个 / at most {limit} "
                                                        f"direct-report points", "code")
        elif point is None or point.active != "1":
            raise NodeError(404, "not_designated", f"{code} 不是数据直报点 / {code} is not a direct-report point",
                            "code")
        version = _next_counter(node, "designation_version")
        values = {"active": "1" if designated else "0", "version": version, "changed_at": _db_time(now)}
        (StatsDirectPoint.insert(code=code, sent_version=0, **values)
            .on_conflict(conflict_target=[StatsDirectPoint.code],
                         update={getattr(StatsDirectPoint, k): v for k, v in values.items()})
            .execute())
    send_designations(node)
    return direct_points(node)[code]


def send_designations(node: Node) -> int:
    """Enqueue each designation not yet sent whose branch is linked (retried by the rollup)."""
    if not _is_hq(node):
        return 0
    rep = replicator(node)
    now = node.now()
    sent = 0
    with write_tx(node.db):
        for point in StatsDirectPoint.select().where(StatsDirectPoint.sent_version < StatsDirectPoint.version):
            hop = topology.next_hop(rep, point.code)
            if hop is None:
                continue
            body = {"code": point.code, "designated": point.active == "1", "version": int(point.version)}
            doc = documents.create(DOC_DESIGNATE, channel=CHANNEL, origin=node.code, dest=point.code, body=body,
                                   keypair=node.keypair, now=now, doc_id=f"statsdes-{point.code}-v{point.version}")
            outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], now)
            StatsDirectPoint.update(sent_version=point.version).where(StatsDirectPoint.code == point.code).execute()
            sent += 1
    return sent


def direct_points(node: Node) -> dict[str, dict[str, Any]]:
    """HQ's direct-report points with the last direct snapshot received from each."""
    last = dict(StatsSnapshot.select(StatsSnapshot.origin, fn.MAX(StatsSnapshot.received_at))
                .where(StatsSnapshot.stream == STREAM_DIRECT)
                .group_by(StatsSnapshot.origin).tuples())
    out = {}
    for p in StatsDirectPoint.select().order_by(StatsDirectPoint.code):
        out[p.code] = {"code": p.code, "designated": p.active == "1", "version": int(p.version),
                       "delivered": int(p.sent_version) >= int(p.version), "changed_at": show_time(p.changed_at),
                       "last_report_at": show_time(last.get(p.code))}
    return out


# -- 5. the rollup job -----------------------------------------------------------------------
def prune_unlinked(node: Node) -> list[str]:
    """Forget the figures of former children (revoked, or moved to another parent, F19): a
    subtree counts under its current parent only."""
    keep = set(topology.child_codes())
    origins = {r[0] for r in StatsSnapshot.select(StatsSnapshot.origin)
               .where(StatsSnapshot.stream == STREAM_ROLLUP).distinct().tuples()}
    gone = sorted(origins - keep)
    for code in gone:
        with write_tx(node.db):
            days = [_as_date(r[0]) for r in StatsSnapshot.select(StatsSnapshot.day)
                    .where((StatsSnapshot.stream == STREAM_ROLLUP) & (StatsSnapshot.origin == code)).tuples()]
            StatsRow.delete().where(StatsRow.source == code).execute()
            StatsFirm.delete().where(StatsFirm.source == code).execute()
            StatsSnapshot.delete().where((StatsSnapshot.stream == STREAM_ROLLUP) & (StatsSnapshot.origin == code)).execute()
            StatsMember.delete().where(StatsMember.via == code).execute()
            _next_counter(node, "members_gen")
            _mark_dirty(node, days)
        log.warning("stats: %s is no longer a child; its figures were removed", code)
    return gone


def rollup(node: Node, *, full: bool = False) -> dict[str, Any]:
    """The scheduled rollup (and ``n12315 stats push``): local rows, projections, send."""
    changed = reconcile(node) if full or _reconcile_due(node) else []
    changed += refresh_local(node)
    pruned = prune_unlinked(node)
    days = refresh_aggregates(node)
    designations = send_designations(node)
    sent = send_snapshots(node)
    with write_tx(node.db):  # the record of ignored snapshots is kept for REJECTION_KEEP_DAYS
        StatsRejection.delete().where(StatsRejection.at < _db_time(node.now() - timedelta(days=REJECTION_KEEP_DAYS))).execute()
    return {"local_days": len(set(changed)), "pruned": pruned, "rebuilt_days": days,
            "designations": designations, "sent": sent["parent"], "sent_direct": sent["direct"]}


def job_specs(node: Node) -> list[jobs.JobSpec]:
    return [("stats.rollup", lambda n: float(n.config.stats.rollup_interval_s), rollup)]


# -- 6. queries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _parse_day(value: Any, name: str) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise invalid(name, f"{name} 日期格式应为 YYYY-MM-DD：{str(value)[:20]!r} / {name} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(name, f"{name} 不是有效日期：{value} / {name} is not a valid date") from None


def parse_range(params: Mapping[str, Any], now: datetime, max_days: int, default_days: int = 30) -> Range:
    """``from``/``to`` (Asia/Shanghai dates, both included); default: the last 30 days."""
    to_raw, from_raw = params.get("to"), params.get("from")
    end = _parse_day(to_raw, "to") if to_raw not in (None, "") else today(now)
    start = _parse_day(from_raw, "from") if from_raw not in (None, "") else end - timedelta(days=default_days - 1)
    if start > end:
        raise invalid("from", f"起始日期 {start} 晚于截止日期 {end} / from is after to")
    rng = Range(start, end)
    if rng.days > max_days:
        raise invalid("to", f"查询跨度 {rng.days} 天，超过上限 {max_days} 天 / the range spans {rng.days} days; "
                            f"at most {max_days} (stats.max_range_days)", code="range_too_long")
    return rng


def parse_group_by(value: Any, allowed: Sequence[str] = GROUP_FIELDS) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise invalid("group_by", "group_by 须为逗号分隔的字段名 / group_by is a comma-separated list")
    out: list[str] = []
    for name in (v.strip() for v in value.split(",")):
        if name not in allowed:
            raise invalid("group_by", f"未知的分组字段 {name[:30]!r}，可选：{'、'.join(allowed)} / unknown group_by "
                                      f"field {name[:30]!r}; one of {', '.join(allowed)}", code="unknown_field")
        if name not in out:
            out.append(name)
    return out


def _check_params(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in params:
        if key not in allowed:
            raise invalid(str(key), f"未知查询参数 {str(key)[:30]} / unknown query parameter {str(key)[:30]}",
                          code="unknown_field")


def _split(rng: Range) -> list[tuple[str, date, date]]:
    """Cover the range with the coarsest grains: whole months, then whole dekads (旬), then
    days; ``(grain, first start, last start)`` per contiguous run, so each run is one
    index range scan. A year costs at most 12 months + 4 dekads + 18 days of rows."""
    pieces: list[tuple[str, date]] = []
    cur = rng.start
    while cur <= rng.end:
        if cur.day == 1 and _month_end(cur) <= rng.end:
            pieces.append(("m", cur))
            cur = _month_end(cur) + timedelta(days=1)
        elif cur.day in (1, 11, 21) and _dekad_end(cur) <= rng.end:
            pieces.append(("x", cur))
            cur = _dekad_end(cur) + timedelta(days=1)
        else:
            pieces.append(("d", cur))
            cur += timedelta(days=1)
    runs: list[tuple[str, date, date]] = []
    for grain, first in pieces:
        if runs and runs[-1][0] == grain:
            runs[-1] = (grain, runs[-1][1], first)
        else:
            runs.append((grain, first, first))
    return runs


_N_COUNTS = len(COUNT_MEASURES)


def _measures_out(values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(COUNT_MEASURES, [int(v or 0) for v in values[:_N_COUNTS]], strict=True))
    out["amount"] = yuan(values[_N_COUNTS])
    out["amount_recovered"] = yuan(values[_N_COUNTS + 1])
    return out


def _agg_parts(node: Node, dim: str, rng: Range, cols: str) -> tuple[str, list[Any]]:
    """A UNION ALL over ``stats_agg``: months, dekads and days covering the range."""
    p = node.db.param
    parts, args = [], []
    sel = f'SELECT {cols}, {", ".join(_q(m) for m in MEASURES)} FROM "stats_agg"'
    for grain, a, b in _split(rng):
        parts.append(f'{sel} WHERE "dim" = {p} AND "grain" = {p} AND "start" BETWEEN {p} AND {p}')
        args += [dim, grain, a.isoformat(), b.isoformat()]
    return " UNION ALL ".join(parts), args


def _grouped(node: Node, rng: Range, group_by: Sequence[str], basis: str) -> list[tuple[Any, ...]]:
    """Rows ``(group values..., measures...)`` for the range, from the projections."""
    p = node.db.param
    gcols = ", ".join(_q(g) for g in group_by)
    sums = _sum_cols()
    if basis == "accepted" and len(group_by) <= 1:
        dim = group_by[0] if group_by else ""
        union, args = _agg_parts(node, dim, rng, gcols or "''")
        if not group_by:
            sql = f"SELECT {sums} FROM ({union}) t"
        else:
            sql = f"SELECT {gcols}, {sums} FROM ({union}) t GROUP BY {gcols}"
        return node.db.execute_sql(sql, args).fetchall()
    # several fields, or basis handled: straight from the day cube (exact for any
    # combination; slower at HQ scale, see docs/statistics.md)
    head = f"{gcols}, " if gcols else ""
    tail = f" GROUP BY {gcols}" if gcols else ""
    sql = f'SELECT {head}{sums} FROM "stats_row" WHERE "basis" = {p} AND "day" BETWEEN {p} AND {p}{tail}'
    return node.db.execute_sql(sql, [basis, rng.start.isoformat(), rng.end.isoformat()]).fetchall()


def _rows_out(raw: Sequence[Sequence[Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Grouped rows as the API shows them, most cases first (thousands of rows at HQ: kept
    to one dict build per row). Grouped sums are never NULL: every cube column is NOT NULL."""
    n = len(group_by)
    keys = (*group_by, *OUTPUT_MEASURES)
    cut = n + _N_COUNTS
    raw = sorted(raw, key=lambda r: (-int(r[n]), *[str(v) for v in r[:n]]))
    return [dict(zip(keys, (*r[:cut], yuan(r[cut]), yuan(r[cut + 1])), strict=True)) for r in raw]


def coverage(node: Node, now: datetime) -> dict[str, Any]:
    """How many nodes of the known subtree have a fresh snapshot here (CONTRACT §7).

    Expected: this node's children as linked, plus every descendant they reported.
    Stale: expected nodes whose latest snapshot is older than ``stats.stale_after_hours``
    (or that never reported). Reporting: expected minus stale.
    """
    children = topology.child_codes()
    gen = StatsState.get_value("members_gen", "0")
    cached = node.cache.get("stats_members")
    if cached is None or cached[0] != gen:
        last: dict[str, datetime] = {}
        for via, member, at in StatsMember.select(StatsMember.via, StatsMember.member, StatsMember.reported_at).tuples():
            at = _aware(at)
            if member not in last or at > last[member][1]:
                last[member] = (via, at)  # type: ignore[assignment]
        cached = (gen, last)
        node.cache["stats_members"] = cached
    last_by_member: dict[str, Any] = cached[1]
    kids = set(children)
    expected = set(kids) | {m for m, (via, _) in last_by_member.items() if via in kids}
    expected.discard(node.code)
    hours = node.config.stats.stale_after_hours
    threshold = now - timedelta(hours=hours)
    stale = sorted(c for c in expected
                   if c not in last_by_member or last_by_member[c][0] not in kids or last_by_member[c][1] < threshold)
    return {"nodes_reporting": len(expected) - len(stale), "nodes_expected": len(expected), "stale": stale,
            "stale_after_hours": hours}


def _as_of(node: Node) -> str | None:
    return show_time(StatsState.get_value("refreshed_at")) or show_time(node.now())


QUERY_PARAMS = ("from", "to", "group_by", "basis")


def query(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats`` (CONTRACT §7): figures of this node's whole subtree."""
    _check_params(params, QUERY_PARAMS)
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    group_by = parse_group_by(params.get("group_by"))
    basis = params.get("basis") or "accepted"
    if basis not in BASES:
        raise invalid("basis", f"basis 须为 {'、'.join(BASES)} / basis must be accepted or handled", code="invalid_enum")
    ensure_fresh(node)
    totals_raw = _grouped(node, rng, [], basis)
    totals = _measures_out(totals_raw[0] if totals_raw else [0] * len(MEASURES))
    rows = _rows_out(_grouped(node, rng, group_by, basis), group_by) if group_by else []
    return {"scope": node.code, "scope_name": node.config.name, "from": rng.start.isoformat(),
            "to": rng.end.isoformat(), "group_by": group_by, "basis": basis, "as_of": _as_of(node),
            "totals": totals, "rows": rows, "coverage": coverage(node, now)}


def query_direct(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """At HQ: the figures the direct-report points sent straight to HQ — shown apart from
    the national totals (R4.2). ``node`` filters one point; ``group_by`` may add ``node``."""
    _check_params(params, (*QUERY_PARAMS, "node"))
    if not _is_hq(node):
        raise NodeError(409, "not_hq", "数据直报只在总局汇总 / direct reports are kept at HQ only")
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    group_by = parse_group_by(params.get("group_by"), (*GROUP_FIELDS, "node"))
    basis = params.get("basis") or "accepted"
    if basis not in BASES:
        raise invalid("basis", "basis 须为 accepted 或 handled / basis must be accepted or handled", code="invalid_enum")
    point = params.get("node")
    p = node.db.param
    cols = ", ".join('"source"' if g == "node" else _q(g) for g in group_by)
    where = f'"basis" = {p} AND "day" BETWEEN {p} AND {p}'
    args: list[Any] = [basis, rng.start.isoformat(), rng.end.isoformat()]
    if point:
        where += f' AND "source" = {p}'
        args.append(point)
    sums = _sum_cols()
    total = node.db.execute_sql(f'SELECT {sums} FROM "stats_direct_row" WHERE {where}', args).fetchall()
    rows = []
    if group_by:
        raw = node.db.execute_sql(f'SELECT {cols}, {sums} FROM "stats_direct_row" WHERE {where} GROUP BY {cols}',
                                  args).fetchall()
        rows = _rows_out(raw, group_by)
    points = direct_points(node)
    reporting = [c for c, v in points.items() if v["designated"] and v["last_report_at"]]
    return {"scope": node.code, "source": "direct_report", "from": rng.start.isoformat(), "to": rng.end.isoformat(),
            "group_by": group_by, "basis": basis, "as_of": show_time(now),
            "totals": _measures_out(total[0] if total else [0] * len(MEASURES)), "rows": rows,
            "points": list(points.values()),
            "coverage": {"nodes_reporting": len(reporting),
                         "nodes_expected": sum(1 for v in points.values() if v["designated"]),
                         "stale": sorted(c for c, v in points.items() if v["designated"] and c not in reporting)}}


# -- 7. unit performance (R7.6, R8.2) ------------------------------------------------------------
RANKING_RULE = ("按综合得分排序：按期受理率、按期办结率、调解成功率、满意率四项中有数据的各项平均；得分相同者超期件数少者在前 / "
                "ranked by the mean of the available rates among on-time acceptance, on-time conclusion, "
                "mediation success and satisfaction; ties: fewer overdue cases first")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def unit_metrics(accepted: Mapping[str, Any], handled: Mapping[str, Any]) -> dict[str, Any]:
    h = handled
    mediation_tries = h["mediated"] + h["settled"] + h["not_mediated"]
    feedback = h["satisfied"] + h["basically_satisfied"] + h["dissatisfied"]
    out = {
        "cases_taken": accepted["cases"],
        "cases_handled": h["cases"],
        "acceptance_rate": _rate(h["accepted"], h["decided"]),
        "on_time_acceptance_rate": _rate(h["accepted_on_time"], h["decided"]),
        "on_time_conclusion_rate": _rate(h["concluded_on_time"], h["concluded"]),
        "mediation_success_rate": _rate(h["mediated"] + h["settled"], mediation_tries),
        "amount_recovered": h["amount_recovered"],
        "satisfaction_rate": _rate(h["satisfied"] + h["basically_satisfied"], feedback),
        "overdue": h["overdue"],
    }
    rates = [out[k] for k in ("on_time_acceptance_rate", "on_time_conclusion_rate", "mediation_success_rate",
                              "satisfaction_rate") if out[k] is not None]
    out["score"] = round(sum(rates) / len(rates), 4) if rates else None
    return out


def units(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats/units``: per direct subordinate unit, over its whole subtree."""
    _check_params(params, ("from", "to"))
    now = node.now()
    rng = parse_range(params, now, node.config.stats.max_range_days)
    ensure_fresh(node)
    union, args = _agg_parts(node, "@unit", rng, '"unit", "basis"')
    raw = node.db.execute_sql(f'SELECT "unit", "basis", {_sum_cols()} FROM ({union}) t GROUP BY "unit", "basis"',
                              args).fetchall()
    figures: dict[tuple[str, str], dict[str, Any]] = {(u, b): _measures_out(r) for u, b, *r in raw}
    zero = _measures_out([0] * len(MEASURES))
    links = list(Link.select(Link.code, Link.name, Link.level, Link.state)
                 .where((Link.role == "child") & (Link.state != "revoked")).order_by(Link.code))
    out = []
    for link in links:
        m = unit_metrics(figures.get((link.code, "accepted"), zero), figures.get((link.code, "handled"), zero))
        out.append({"code": link.code, "name": link.name, "level": link.level, **m})
    out.sort(key=lambda u: (u["score"] is None, -(u["score"] or 0), u["overdue"], u["code"]))
    for i, u in enumerate(out, 1):
        u["rank"] = i
    own = unit_metrics(figures.get((node.code, "accepted"), zero), figures.get((node.code, "handled"), zero))
    return {"scope": node.code, "scope_name": node.config.name, "from": rng.start.isoformat(),
            "to": rng.end.isoformat(), "as_of": _as_of(node), "units": out,
            "own": {"code": node.code, "name": node.config.name, **own},
            "ranking_rule": RANKING_RULE, "coverage": coverage(node, now)}


# -- 8. hot spots (R4.3, R4.5) ---------------------------------------------------------------------
def poisson_sf(x: int, lam: float) -> float:
    """P(X ≥ x) for X ~ Poisson(lam): the chance of a count this high if nothing changed."""
    if x <= 0:
        return 1.0
    log_lam = math.log(lam)
    total = 0.0
    for k in range(x):
        total += math.exp(k * log_lam - lam - math.lgamma(k + 1))
    return max(0.0, min(1.0, 1.0 - total))


def surge(this_week: int, last_week: int, *, min_count: int, ratio: float, alpha: float) -> tuple[bool, float]:
    """The hot-spot rule: this week ≥ max(min_count, ratio × last week) **and** the Poisson
    upper tail P(X ≥ this week | λ = max(last week, 1)) < alpha. Returns (surge, p)."""
    lam = float(max(last_week, 1))
    p = poisson_sf(this_week, lam)
    return (this_week >= max(min_count, ratio * last_week) and p < alpha), p


def hotspots(node: Node, params: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/stats/hotspots``: week-over-week surges per category, region and firm,
    and the most-complained firms of the week (``date``: the week's last day, default today)."""
    _check_params(params, ("date", "top"))
    now = node.now()
    end = _parse_day(params["date"], "date") if params.get("date") else today(now)
    top_raw = params.get("top")
    cfg = node.config.stats
    try:
        top = int(top_raw) if top_raw not in (None, "") else cfg.hotspot_top_firms
    except (TypeError, ValueError):
        raise invalid("top", "top 须为正整数 / top must be a positive integer") from None
    if top < 1 or top > 1000:
        raise invalid("top", "top 须在 1 到 1000 之间 / top must be between 1 and 1000")
    ensure_fresh(node)
    week = Range(end - timedelta(days=6), end)
    prev = Range(end - timedelta(days=13), end - timedelta(days=7))
    p = node.db.param
    counts: dict[tuple[str, str], list[int]] = {}
    for dim in ("category", "region"):
        raw = node.db.execute_sql(
            f'SELECT {_q(dim)}, "start", "cases" FROM "stats_agg" WHERE "dim" = {p} AND "grain" = \'d\' '
            f'AND "start" BETWEEN {p} AND {p}', (dim, prev.start.isoformat(), week.end.isoformat())).fetchall()
        for value, start, cases in raw:
            slot = 0 if _as_date(start) >= week.start else 1
            counts.setdefault((dim, value or ""), [0, 0])[slot] += int(cases)
    firm_names: dict[str, str] = {}
    firm_region: dict[str, str] = {}
    firm_split: dict[str, list[int]] = {}
    raw = node.db.execute_sql(
        'SELECT "uscc", "day", MAX("name"), MAX("region"), SUM("cases"), SUM("complaints"), SUM("reports") '
        f'FROM "stats_firm" WHERE "day" BETWEEN {p} AND {p} GROUP BY "uscc", "day"',
        (prev.start.isoformat(), week.end.isoformat())).fetchall()
    for uscc, day, name, region, cases, complaints, reports in raw:
        slot = 0 if _as_date(day) >= week.start else 1
        counts.setdefault(("firm", uscc), [0, 0])[slot] += int(cases)
        if name:
            firm_names[uscc] = name
        if region:
            firm_region[uscc] = region
        if slot == 0:
            s = firm_split.setdefault(uscc, [0, 0])
            s[0] += int(complaints)
            s[1] += int(reports)
    divisions = _divisions()
    from node.cases.service import categories
    cats = categories(node)
    found = []
    for (dim, value), (x, y) in counts.items():
        hit, pv = surge(x, y, min_count=cfg.hotspot_min_count, ratio=cfg.hotspot_ratio, alpha=cfg.hotspot_alpha)
        if not hit:
            continue
        name = (cats.name(value) if dim == "category" else divisions.full_name(value) if dim == "region"
                else firm_names.get(value)) or None
        found.append({"dimension": dim, "value": value, "name": name, "this_week": x, "last_week": y,
                      "ratio": round(x / y, 2) if y else None, "p_value": float(f"{pv:.3g}")})
    found.sort(key=lambda h: (h["p_value"], -h["this_week"], h["dimension"], h["value"]))
    firms = sorted(((u, c) for (d, u), c in counts.items() if d == "firm" and c[0] > 0),
                   key=lambda t: (-t[1][0], t[0]))[:top]
    top_firms = [{"uscc": u, "name": firm_names.get(u), "region": firm_region.get(u) or None, "cases": c[0],
                  "complaints": firm_split.get(u, [0, 0])[0], "reports": firm_split.get(u, [0, 0])[1],
                  "last_week": c[1]} for u, c in firms]
    return {"scope": node.code, "scope_name": node.config.name,
            "week": {"from": week.start.isoformat(), "to": week.end.isoformat()},
            "previous_week": {"from": prev.start.isoformat(), "to": prev.end.isoformat()},
            "rule": {"min_count": cfg.hotspot_min_count, "ratio": cfg.hotspot_ratio, "alpha": cfg.hotspot_alpha,
                     "text": (f"本周件数 ≥ max({cfg.hotspot_min_count}, {cfg.hotspot_ratio} × 上周件数)，且泊松上尾概率 "
                              f"P(X ≥ 本周 | λ = max(上周, 1)) < {cfg.hotspot_alpha} / this week ≥ "
                              f"max({cfg.hotspot_min_count}, {cfg.hotspot_ratio} × last week) and the Poisson "
                              f"upper tail P(X ≥ this week | λ = max(last week, 1)) < {cfg.hotspot_alpha}")},
            "as_of": _as_of(node), "hotspots": found, "top_firms": top_firms, "coverage": coverage(node, now)}


# -- 9. status ---------------------------------------------------------------------------------
def status(node: Node) -> dict[str, Any]:
    """What ``n12315 stats status`` shows: versions, backlog, designation, rejections."""
    rejections = [{"at": show_time(r.at), "kind": r.kind, "sender": r.sender, "origin": r.origin, "day": r.day,
                   "version": int(r.version), "code": r.code, "reason": r.reason}
                  for r in StatsRejection.select().order_by(StatsRejection.id.desc()).limit(50)]
    return {
        "code": node.code,
        "version": int(StatsState.get_value("version", "0") or 0),
        "last_sent_at": show_time(StatsState.get_value("last_sent_at")),
        "refreshed_at": show_time(StatsState.get_value("refreshed_at")),
        "reconciled_at": show_time(StatsState.get_value("reconciled_at")),
        "direct_report_point": _designated(),
        "pending_days": {t: StatsOutbound.select().where(StatsOutbound.target == t).count()
                         for t in ("parent", "direct")},
        "dirty_days": StatsDirty.select().count(),
        "children_reported": sorted({r[0] for r in StatsSnapshot.select(StatsSnapshot.origin)
                                     .where(StatsSnapshot.stream == STREAM_ROLLUP).distinct().tuples()}),
        "rejections_total": StatsRejection.select().count(),
        "rejections": rejections,
    }


def rejections(params: Mapping[str, Any]) -> dict[str, Any]:
    _check_params(params, ("limit",))
    try:
        limit = min(max(int(params.get("limit") or 50), 1), 500)
    except (TypeError, ValueError):
        raise invalid("limit", "limit 须为正整数 / limit must be a positive integer") from None
    items = [{"id": r.id, "at": show_time(r.at), "kind": r.kind, "sender": r.sender, "origin": r.origin,
              "day": r.day, "version": int(r.version), "doc_id": r.doc_id, "code": r.code, "reason": r.reason}
             for r in StatsRejection.select().order_by(StatsRejection.id.desc()).limit(limit)]
    return {"items": items}
