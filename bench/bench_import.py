"""Bulk import (issue 15 item 3, P5; CONTRACT §12; docs/import.md): cases per second.

A generated 50,000-row legacy export (CSV, UTF-8, the §5 columns plus ``legacy_id``,
``status``, ``outcome``, ``concluded_at``): a year of receipt days, complaints, reports and
consultations in about the national proportions, most of them finished (concluded, closed,
declined, answered), a few still open, and 0.5 % rows that intake's validator refuses (a
phone that is not one). Measured end to end as ``n12315 import cases`` runs it: read the
file, validate every row with intake's validator, number, write in batches of 1,000 (one
transaction each, ``synchronous=FULL`` on SQLite). Then the same file again: every row
skipped (the idempotent re-run). Goal: ≥ 5,000 cases/s on SQLite and on PostgreSQL.

PostgreSQL: ``postgresql://postgres@127.0.0.1:5432/test?schema=bench_import`` (set
``BENCH_IMPORT_PG`` to use another server, or ``none`` to skip). ``BENCH_IMPORT_ROWS``
changes the row count.
"""
from __future__ import annotations

import csv
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("BENCH_IMPORT_PG", "postgresql://postgres@127.0.0.1:5432/test?schema=bench_import")
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "50000"))
GOAL = 5000
COMMAND = "python -m bench import"
COLUMNS = ["legacy_id", "kind", "report_target", "channel", "received_at", "urgency", "complainant.name",
           "complainant.phone", "complainant.address", "complainant.anonymous", "respondent.name",
           "respondent.uscc", "respondent.region_code", "respondent.address", "category", "summary",
           "description", "amount", "amount_recovered", "status", "outcome", "concluded_at"]
CATEGORIES = ["G0101", "G0102", "G0201", "G0301", "S0101", "S0201", "S0301", "S0401", "G99", "S10"]
REGIONS = ["440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
FIRMS = ["南山数码科技有限公司", "福田家电销售有限公司", "前海电子商务有限公司", "蛇口餐饮管理有限公司",
         "罗湖健身服务有限公司", "宝安汽车销售服务有限公司", "龙岗教育培训中心", "盐田物业管理有限公司"]
PROBLEMS = [("手机屏幕出现坏点，商家拒绝退换", "购买后第三天发现屏幕有坏点，要求更换，商家以人为损坏为由拒绝。"),
            ("预付卡门店关闭无法退款", "办理健身年卡后门店突然停业，余额无法退还。"),
            ("外卖食品中发现异物", "订购的外卖中发现金属异物，商家只愿退还餐费。"),
            ("网购商品与描述不符", "收到的商品材质与页面描述明显不符，要求退货退款。"),
            ("培训机构拒绝退费", "报名课程后因故无法上课，机构拒绝按约定退还剩余费用。"),
            ("新车交付后发现维修记录", "新购车辆交付后查出曾有喷漆维修记录，商家未告知。")]
YEAR_START = datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def _row(i: int, rng: random.Random) -> dict[str, Any]:
    kind = rng.choices(["complaint", "consultation", "report"], [62, 30, 8])[0]
    received = YEAR_START + timedelta(days=rng.randrange(365), minutes=rng.randrange(600))
    summary, description = rng.choice(PROBLEMS)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    row: dict[str, Any] = {
        "legacy_id": f"SZ-LEGACY-{i:07d}", "kind": kind, "channel": rng.choice(["phone", "web", "visit", "letter"]),
        "received_at": received.astimezone(BEIJING).isoformat(), "urgency": "general",
        "complainant.name": name, "complainant.phone": f"13{rng.randrange(10**9):09d}",
        "complainant.address": f"广东省深圳市南山区科技园{rng.randrange(1, 200)}号",
        "respondent.name": rng.choice(FIRMS), "respondent.region_code": rng.choice(REGIONS),
        "respondent.address": f"深圳市某区某路{rng.randrange(1, 999)}号",
        "category": rng.choice(CATEGORIES), "summary": summary, "description": description,
        "amount": f"{rng.randrange(50, 20000)}.00",
    }
    if kind == "consultation":
        row["status"] = "answered"
        del row["amount"]
    elif kind == "report":
        row["report_target"] = "business"
        row["status"], row["outcome"] = rng.choice([("concluded", "filed"), ("concluded", "not_filed"),
                                                     ("verifying", "")])
    else:
        status = rng.choices(["concluded", "closed", "declined", "accepted", "registered"], [55, 20, 10, 10, 5])[0]
        row["status"] = status
        if status in ("concluded", "closed"):
            row["outcome"] = rng.choice(["mediated", "mediated", "not_mediated", "settled", "withdrawn"])
            if row["outcome"] == "mediated":
                row["amount_recovered"] = row["amount"]
    if row.get("status") in ("concluded", "closed", "declined", "answered"):
        row["concluded_at"] = (received + timedelta(days=rng.randrange(1, 40))).astimezone(BEIJING).isoformat()
    if rng.random() < 0.005:
        row["complainant.phone"] = "电话不详"    # refused by intake's phone check
    return row


def generate(path: Path, n: int, seed: int = 15) -> int:
    """Write an ``n``-row legacy export to ``path``; return how many rows intake would refuse."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(n):
            row = _row(i, rng)
            bad += row["complainant.phone"] == "电话不详"
            writer.writerow(row)
    return bad


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the validating process): on a
    shared machine, wall time says how busy the others were; this says what the import cost."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _pg_reset(url: str) -> str | None:
    if url.lower() == "none":
        return "BENCH_IMPORT_PG=none"
    try:
        import psycopg2
        base, _, query = url.partition("?")
        schema = query.split("schema=", 1)[1].split("&", 1)[0]
        conn = psycopg2.connect(base, connect_timeout=3)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
    except Exception as exc:  # no server: skip the PostgreSQL half with the reason
        return str(exc).strip().splitlines()[0]
    return None


def _bench(backend: str, db_url: str | None, file: Path, bad: int, tmp: Path, say: Any) -> list[dict[str, Any]]:
    import node.imports as imports
    from node.home import init_home

    clock = lambda: datetime(2026, 9, 30, 1, 0, tzinfo=UTC)  # noqa: E731
    node = init_home(tmp / f"home-{backend}", level="county", code="440305", name="深圳市南山区市场监督管理局",
                     url="http://440305.bench", db_url=db_url, clock=clock)
    try:
        started, cpu_before = time.perf_counter(), _cpu_s()
        first = imports.import_file(node, file)
        elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu_before
        assert first.imported == ROWS - bad and first.rejected == bad, first.counts()
        started = time.perf_counter()
        again = imports.import_file(node, file)
        rerun = time.perf_counter() - started
        assert again.imported == 0 and again.skipped == ROWS - bad, again.counts()
    finally:
        node.close()
    rate = first.imported / elapsed
    say(f"  [{backend}] {first.imported:,} imported, {first.rejected} rejected in {elapsed:.1f} s "
        f"({rate:,.0f} cases/s; {cpu:.1f} CPU-s in the command's processes, load average "
        f"{os.getloadavg()[0]:.1f}); re-run {again.skipped:,} skipped in {rerun:.1f} s")
    return [{"name": f"import {ROWS:,}-row CSV, full validation, {backend} (goal ≥ {GOAL:,})",
             "value": round(rate), "unit": "cases/s", "command": COMMAND},
            {"name": f"the same per CPU-second of the importing processes (validator child included; "
                     f"the database server's own CPU not), {backend}",
             "value": round(first.imported / cpu), "unit": "cases/CPU-s", "command": COMMAND},
            {"name": f"re-run of the same file, every row skipped, {backend}",
             "value": round(again.skipped / rerun), "unit": "rows/s", "command": COMMAND}]


def run(say: Any = None) -> list[dict[str, Any]]:
    say = say or (lambda s: print(s, file=sys.stderr))
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp_s:
        tmp = Path(tmp_s)
        file = tmp / "legacy.csv"
        bad = generate(file, ROWS)
        figures += _bench("sqlite", None, file, bad, tmp, say)
        reason = _pg_reset(PG_URL)
        if reason is None:
            try:
                figures += _bench("postgresql", PG_URL, file, bad, tmp, say)
            finally:
                _pg_reset(PG_URL)
        else:
            say(f"  [postgresql] skipped: {reason}")
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}    ({f['command']})")
