"""The day cube of this node and its projections (R4.1, R7.2, R8.2 automatic aggregation;
RELIABILITY rule 2): the first and third step of a figure's path (``docs/statistics.md``).

**Local rows.** ``refresh_local`` recomputes this node's own rows of the day cube
(``StatsRow`` with ``source`` = this node) for the receipt days (Asia/Shanghai) of the cases
that changed since the last run (``updated_at``/``pk`` watermark with an overlap window),
from the ``Case`` table: basis ``accepted`` over the cases this node took in
(``accepting_node`` = me), basis ``handled`` over the cases it handles (``handling_node`` =
me). Copies held on a route have another accepting and handling node, so they count nowhere
but at their own nodes: a case counts once. ``reconcile`` compares a fingerprint of every
receipt day and recomputes any day the watermark missed. A changed day is marked dirty (its
projections) and outbound (its snapshot, ``node.stats.snapshots``).

**Projections.** ``refresh_aggregates`` rebuilds ``StatsAgg`` (totals, one row per value of
each group-by field, per unit; day, dekad and month grain) for the dirty days, so queries
never scan the case table. The bulk writers here are shared with snapshot ingest.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from peewee import fn

from node.cases import Case
from node.db import is_sqlite, write_tx
from node.runtime import Node
from node.stats.common import (
    as_date,
    aware,
    chunks,
    db_time,
    dekad_end,
    dekad_start,
    fen,
    is_designated,
    is_hq,
    month_end,
    month_start,
    quoted,
)
from node.stats.models import (
    DIMS,
    MEASURES,
    StatsDayPrint,
    StatsDirty,
    StatsFirm,
    StatsOutbound,
    StatsRow,
    StatsState,
)

# How far the incremental watermark looks back: a transaction that commits late with an
# ``updated_at`` slightly older than the newest one seen is still picked up (the classic
# "rows above my cursor" loss, RELIABILITY rule 2); recomputing a day twice is harmless.
WATERMARK_OVERLAP = timedelta(minutes=5)
PK_OVERLAP = 1000

CONCLUSIVE = frozenset({"mediated", "not_mediated", "settled", "withdrawn", "filed", "not_filed"})
_COUNT_INDEX = {m: i for i, m in enumerate(MEASURES)}


# -- local rows ----------------------------------------------------------------------------------
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
    for chunk in chunks(list(days), 300):
        query = (Case.select(*cols)
                 .where(Case.received_date.in_(list(chunk))
                        & ((Case.accepting_node == code) | (Case.handling_node == code)))
                 .dicts())
        for row in query:
            day = as_date(row["received_date"])
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
    for chunk in chunks(list(days), 300):
        for r in (StatsRow.select(StatsRow.day, StatsRow.basis, *[getattr(StatsRow, d) for d in DIMS], *mcols)
                  .where((StatsRow.source == code) & StatsRow.day.in_(list(chunk)))
                  .tuples()):
            cube[as_date(r[0])][tuple(r[1:8])] = [int(v) for v in r[8:]]  # type: ignore[index]
        for f in (StatsFirm.select(StatsFirm.day, StatsFirm.uscc, StatsFirm.name, StatsFirm.region,
                                   StatsFirm.cases, StatsFirm.complaints, StatsFirm.reports)
                  .where((StatsFirm.source == code) & StatsFirm.day.in_(list(chunk)))
                  .tuples()):
            firms[as_date(f[0])][f[1]] = [f[2], f[3], int(f[4]), int(f[5]), int(f[6])]
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
    cols = ", ".join(quoted(c) for c in columns)
    cursor = db.cursor()
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


def insert_rows(model: Any, rows: list[tuple[Any, ...]]) -> None:
    # cube rows hold checked codes (node, enums, category, region) and integers only
    _bulk_insert(model, _CUBE_COLUMNS, rows, plain=True)


def insert_firms(source: str, day: date, firms: Mapping[str, Sequence[Any]]) -> None:
    iso = day.isoformat()
    _bulk_insert(StatsFirm, _FIRM_COLUMNS, [(source, iso, uscc, *f[:5]) for uscc, f in firms.items()])


def mark_dirty(node: Node, days: Iterable[date]) -> None:
    """Days whose projections must be rebuilt and whose snapshot must go up."""
    days = sorted(set(days))
    if not days:
        return
    for chunk in chunks(days, 500):
        StatsDirty.insert_many([(d,) for d in chunk], fields=[StatsDirty.day]).on_conflict_ignore().execute()
    targets = []
    if not is_hq(node):
        targets.append("parent")
        if is_designated():
            targets.append("direct")
    for target in targets:
        for chunk in chunks(days, 500):
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
        for chunk in chunks(changed, 300):
            StatsRow.delete().where((StatsRow.source == code) & StatsRow.day.in_(list(chunk))).execute()
            StatsFirm.delete().where((StatsFirm.source == code) & StatsFirm.day.in_(list(chunk))).execute()
        rows: list[tuple[Any, ...]] = []
        for d in changed:
            rows += _cube_rows(code, d, new_cube[d])
            insert_firms(code, d, new_firms[d])
        insert_rows(StatsRow, rows)
        mark_dirty(node, changed)
    return changed


def _newest() -> tuple[object, object]:
    """The newest change and the highest id of the case table, as two queries: asked in one,
    SQLite scans the whole table (10–24 ms at 100,000 cases, on every statistics request);
    asked apart, each is one step down its index."""
    max_at = Case.select(fn.MAX(Case.updated_at)).scalar()
    max_pk = Case.select(fn.MAX(Case.pk)).scalar()
    return max_at, max_pk


def local_changed() -> bool:
    """Whether a case was written since the last ``refresh_local`` (three index lookups):
    what the ``stats.forward`` job looks at every second (issue 15 P6)."""
    max_at, max_pk = _newest()
    return max_pk is not None and StatsState.get_value("local_seen") != f"{max_at}|{max_pk}"


def refresh_local(node: Node) -> list[date]:
    """Incremental: recompute the receipt days of cases written since the last run."""
    max_at, max_pk = _newest()
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
    days = sorted({as_date(r[0]) for r in query.tuples()})
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
    max_at, max_pk = _newest()
    prints: dict[date, str] = {}
    for day, n, versions, newest, pks in (Case.select(Case.received_date, fn.COUNT(Case.pk), fn.SUM(Case.version),
                                                      fn.MAX(Case.updated_at), fn.SUM(Case.pk))
                                          .group_by(Case.received_date)
                                          .tuples()):
        prints[as_date(day)] = f"{n}|{versions}|{newest}|{pks}"
    stored = {as_date(r.day): r.fingerprint for r in StatsDayPrint.select()}
    mine = {as_date(r[0]) for r in StatsRow.select(StatsRow.day).where(StatsRow.source == node.code)
            .distinct().tuples()}
    days = sorted({d for d, fp in prints.items() if stored.get(d) != fp} | (set(stored) - set(prints))
                  | (mine - set(prints)))
    changed = _write_local(node, days) if days else []
    with write_tx(node.db):
        StatsDayPrint.delete().execute()
        rows = [(d, fp) for d, fp in prints.items()]
        for chunk in chunks(rows, 500):
            StatsDayPrint.insert_many(list(chunk), fields=[StatsDayPrint.day, StatsDayPrint.fingerprint]).execute()
        StatsState.put("reconciled_at", db_time(node.now()).isoformat())
        if max_pk is not None:  # the incremental watermark starts from here
            StatsState.put("local_wm_at", _as_naive_iso(max_at))
            StatsState.put("local_wm_pk", str(max_pk))
            StatsState.put("local_seen", f"{max_at}|{max_pk}")
    return changed


def reconcile_due(node: Node) -> bool:
    last = StatsState.get_value("reconciled_at")
    if not last:
        return True
    return aware(last) <= node.now() - timedelta(hours=node.config.stats.reconcile_interval_hours)


# -- projections ---------------------------------------------------------------------------------
def sum_cols(prefix: str = "") -> str:
    return ", ".join(f'SUM({prefix}"{m}")' for m in MEASURES)


_AGG_COLS = ('"grain", "start", "dim", "unit", "basis", ' + ", ".join(quoted(d) for d in DIMS) + ", "
             + ", ".join(quoted(m) for m in MEASURES))


def _date_param(node: Node) -> str:
    """A date bound into a SELECT list: typed on PostgreSQL (an untyped literal would be
    text), plain on SQLite (where CAST(... AS DATE) would keep only the year)."""
    return node.db.param if is_sqlite(node.db) else f"CAST({node.db.param} AS DATE)"


def _dim_select(dim: str) -> str:
    return ", ".join(quoted(d) if d == dim else "''" for d in DIMS)


def _take_dirty(node: Node) -> list[date]:
    cursor = node.db.execute_sql('DELETE FROM "stats_dirty" RETURNING "day"')
    return sorted({as_date(r[0]) for r in cursor.fetchall()})


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
    if not is_sqlite(db):
        sets = ", ".join(["(\"day\")"] + [f'("day", {quoted(d)})' for d in DIMS])
        label = "CASE " + " ".join(f"WHEN GROUPING({quoted(d)}) = 0 THEN '{d}'" for d in DIMS) + " ELSE '' END"
        values = ", ".join(f"COALESCE({quoted(d)}, '')" for d in DIMS)
        db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) SELECT \'d\', "day", {label}, \'\', \'\', {values}, '
                       f'{sum_cols()} FROM "stats_row" WHERE {where} GROUP BY GROUPING SETS ({sets})', isos)
    else:
        low = ", ".join(quoted(d) for d in _LOW_DIMS)
        db.execute_sql('DROP TABLE IF EXISTS temp."stats_low"')
        db.execute_sql(f'CREATE TEMP TABLE "stats_low" AS SELECT "day", {low}, '
                       + ", ".join(f'SUM("{m}") AS "{m}"' for m in MEASURES)
                       + f' FROM "stats_row" WHERE {where} GROUP BY "day", {low}', isos)
        for dim in ("", *_LOW_DIMS):
            group = '"day"' + (f", {quoted(dim)}" if dim else "")
            db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                           f"SELECT 'd', \"day\", '{dim}', '', '', {_dim_select(dim)}, {sum_cols()} "
                           f'FROM temp."stats_low" GROUP BY {group}')
        db.execute_sql('DROP TABLE temp."stats_low"')
        for dim in ("category", "region"):
            db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                           f"SELECT 'd', \"day\", '{dim}', '', '', {_dim_select(dim)}, {sum_cols()} "
                           f'FROM "stats_row" WHERE {where} GROUP BY "day", {quoted(dim)}', isos)
    db.execute_sql(f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                   f"SELECT 'd', \"day\", '@unit', \"source\", \"basis\", {_dim_select('')}, {sum_cols()} "
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
        for chunk in chunks(days, 200):
            _rebuild_days(node, [d.isoformat() for d in chunk])
        # dekads (旬) from days, months from dekads: each coarser grain reads the finer
        # projection, never the cube again
        all_dims = '"dim", "unit", "basis", ' + ", ".join(quoted(d) for d in DIMS)
        dp = _date_param(node)
        dekads = sorted({dekad_start(d) for d in days})
        for grain, starts, finer in (("x", dekads, "d"), ("m", sorted({month_start(d) for d in dekads}), "x")):
            for first in starts:
                last = dekad_end(first) if grain == "x" else month_end(first)
                a, b = first.isoformat(), last.isoformat()
                db.execute_sql(f'DELETE FROM "stats_agg" WHERE "grain" = {p} AND "start" = {p}', (grain, a))
                db.execute_sql(
                    f'INSERT INTO "stats_agg" ({_AGG_COLS}) '
                    f"SELECT {p}, {dp}, {all_dims}, {sum_cols()} FROM \"stats_agg\" "
                    f'WHERE "grain" = {p} AND "start" BETWEEN {p} AND {p} GROUP BY {all_dims}',
                    (grain, a, finer, a, b))
        StatsState.put("refreshed_at", db_time(node.now()).isoformat())
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
