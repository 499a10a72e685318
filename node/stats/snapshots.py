"""Snapshots up the tree (R4.1 aggregation level by level; RELIABILITY rules 17-18, F21):
the second step of a figure's path (``docs/statistics.md``).

``send_snapshots`` sends the parent one signed ``stats.snapshot`` document per (origin, day)
whose subtree figures changed: this node's rows plus the newest stored snapshot of each
child, summed, as dimension rows (``build_body``). Its version comes from a counter row
(never a clock). The receiving side checks a body field by field (``parse_body``) and
``ingest`` replaces its stored rows of (child, day) only with a higher version, so
duplicates, replays and late arrivals never double-count (F21). A designated direct-report
point sends each snapshot a second time as ``stats.direct``, addressed to HQ and relayed up
unchanged (``apply_direct``; R4.2). Counts, codes and sums only: no personal data.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from peewee import fn

from federation.models import LocalState
from node.cases import ALL_KINDS, CHANNELS, SHANGHAI, STATUSES, URGENCIES
from node.db import write_tx
from node.network import replicator
from node.runtime import Node
from node.stats.common import (
    BASES,
    CHANNEL,
    DATE_RE,
    DOC_DIRECT,
    DOC_SNAPSHOT,
    HQ_CODE,
    MONEY_RE,
    STREAM_DIRECT,
    STREAM_ROLLUP,
    as_date,
    aware,
    chunks,
    db_time,
    is_designated,
    is_hq,
    next_counter,
    quoted,
    show_time,
    today,
    yuan,
)
from node.stats.cube import insert_firms, insert_rows, mark_dirty, sum_cols
from node.stats.models import (
    COUNT_MEASURES,
    DIMS,
    StatsDirectPoint,
    StatsDirectRow,
    StatsFirm,
    StatsMember,
    StatsOutbound,
    StatsRejection,
    StatsRow,
    StatsState,
)
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError

log = logging.getLogger(__name__)

SCHEMA = 1
ROW_COLUMNS: tuple[str, ...] = ("basis", *DIMS, *COUNT_MEASURES, "amount", "amount_recovered")
FIRM_COLUMNS: tuple[str, ...] = ("uscc", "name", "region", "cases", "complaints", "reports")
BODY_KEYS = frozenset({"schema", "node", "day", "version", "generated_at", "columns", "rows",
                       "firm_columns", "firms", "members"})
MAX_ROWS = 200_000
SEND_CHUNK_DAYS = 100

_CATEGORY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_REGION_RE = re.compile(r"^(|\d{6})$")
_NODE_RE = re.compile(r"^(\d{6}|\d{9})$")
_USCC_RE = re.compile(r"^[0-9A-HJ-NP-RT-UW-Y]{18}$")

_KINDS = frozenset(ALL_KINDS)
_CHANNELS = frozenset(c.value for c in CHANNELS)
_URGENCIES = frozenset(u.value for u in URGENCIES)
_STATUSES = frozenset(STATUSES)


# -- build and send ------------------------------------------------------------------------------
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


def _fmt_row(r: Sequence[Any]) -> list[Any]:
    counts = [int(v or 0) for v in r[7:7 + len(COUNT_MEASURES)]]
    money = [yuan(v) for v in r[7 + len(COUNT_MEASURES):]]
    return [*r[:7], *counts, *money]


def build_body(node: Node, day: date, version: int, now: datetime,
               members: Mapping[str, str] | None) -> dict[str, Any]:
    """The snapshot of this node's subtree for ``day``: its own rows plus the newest stored
    snapshot of each child, summed per (basis, dims). Counts, codes and sums only."""
    p = node.db.param
    dims = ", ".join(quoted(d) for d in DIMS)
    cursor = node.db.execute_sql(
        f'SELECT "basis", {dims}, {sum_cols()} FROM "stats_row" WHERE "day" = {p} '
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
    return sorted({as_date(r[0]) for r in cursor.fetchall()})


def flag_all_days(target: str) -> int:
    days = [(target, as_date(r[0])) for r in StatsRow.select(StatsRow.day).distinct().tuples()]
    for chunk in chunks(days, 500):
        (StatsOutbound.insert_many(list(chunk), fields=[StatsOutbound.target, StatsOutbound.day])
            .on_conflict_ignore().execute())
    return len(days)


def send_snapshots(node: Node) -> dict[str, int]:
    """Enqueue one signed snapshot per changed day for the parent (and, at a designated
    direct-report point, one more addressed to HQ). Business change and outbox rows commit
    together (rule 1); a day's flag is taken in the same transaction."""
    sent = {"parent": 0, "direct": 0}
    if is_hq(node):
        return sent
    rep = replicator(node)
    now = node.now()
    parent = topology.parent_code()
    with write_tx(node.db):
        _check_version_epoch(node)
        if parent is not None and StatsState.get_value("parent") != parent:
            # a new parent (or a move to another branch, F19) needs the whole history
            flag_all_days("parent")
            StatsState.put("parent", parent)
    if parent is None:
        return sent
    direct_hop = topology.next_hop(rep, HQ_CODE) if is_designated() else None
    while True:
        with write_tx(node.db):
            up = _take_outbound(node, "parent")
            direct = _take_outbound(node, "direct") if direct_hop else []
            last = StatsState.get_value("last_sent_at")
            beat = timedelta(minutes=node.config.stats.heartbeat_minutes)
            if not up and not direct and (last is None or aware(last) + beat <= now) and not sent["parent"]:
                up = [today(now)]
            days = sorted(set(up) | set(direct))
            if not days:
                return sent
            todo, rest = days[:SEND_CHUNK_DAYS], days[SEND_CHUNK_DAYS:]
            for target, ds in (("parent", up), ("direct", direct)):
                leftover = [d for d in ds if d in set(rest)]
                for chunk in chunks(leftover, 500):
                    (StatsOutbound.insert_many([(target, d) for d in chunk],
                                               fields=[StatsOutbound.target, StatsOutbound.day])
                        .on_conflict_ignore().execute())
            members = members_report(node, now)
            up_set, direct_set = set(up), set(direct)
            for i, day in enumerate(todo):
                version = next_counter(node, "version")
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
            StatsState.put("last_sent_at", db_time(now).isoformat())
            if not rest:
                return sent


# -- receive -------------------------------------------------------------------------------------
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
    if not isinstance(body["day"], str) or not DATE_RE.match(body["day"]):
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
            if type(v) is not str or not MONEY_RE.match(v):
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
                members[code] = aware(str(at))
            except ValueError:
                raise _bad(f"members[{code}] 时间无效 / bad time") from None
    # the body's types are checked above, so plain sorted JSON is its canonical form
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    return Snapshot(origin, day, version, generated_at, rows, firms, members, digest)


def _reject(kind: str, sender: str, origin: str, day: str, version: int, doc_id: str, code: str,
            reason: str, now: datetime) -> str:
    StatsRejection.insert(at=db_time(now), kind=kind, sender=sender, origin=origin, day=day, version=version,
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
    insert_rows(model, [(snap.node, iso, *r) for r in snap.rows])
    if stream == STREAM_ROLLUP:
        if existing is not None:
            StatsFirm.delete().where((StatsFirm.source == snap.node) & (StatsFirm.day == snap.day)).execute()
        insert_firms(snap.node, snap.day, {f[0]: f[1:] for f in snap.firms})
        db.execute_sql(f'INSERT INTO "stats_dirty" ("day") VALUES ({p}) ON CONFLICT DO NOTHING', (iso,))
        if not is_hq(node):
            mark_dirty(node, [snap.day])
        if snap.members is not None:
            current = (StatsMember.select(fn.MAX(StatsMember.version))
                       .where(StatsMember.via == snap.node).scalar()) or 0
            if snap.version > int(current):
                StatsMember.delete().where(StatsMember.via == snap.node).execute()
                rows = [(snap.node, code, db_time(at), snap.version) for code, at in snap.members.items()]
                for chunk in chunks(rows, 500):
                    StatsMember.insert_many(list(chunk), fields=[StatsMember.via, StatsMember.member,
                                                                 StatsMember.reported_at, StatsMember.version]).execute()
                next_counter(node, "members_gen")
    cols = ("version", "digest", "doc_id", "generated_at", "received_at", "rows")
    values = (snap.version, snap.digest, doc_id, db_time(snap.generated_at).isoformat(" "),
              db_time(now).isoformat(" "), len(snap.rows))
    db.execute_sql(
        f'INSERT INTO "stats_snapshot" ("stream", "origin", "day", {", ".join(quoted(c) for c in cols)}) '
        f'VALUES ({", ".join([p] * (3 + len(cols)))}) ON CONFLICT ("stream", "origin", "day") DO UPDATE SET '
        + ", ".join(f"{quoted(c)} = excluded.{quoted(c)}" for c in cols), (stream, snap.node, iso, *values))
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
    if not is_hq(node):
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
