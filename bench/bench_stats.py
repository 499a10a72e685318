"""Statistics at HQ scale (issue 6 "Benchmark"; R4.2, R7.2; CONTRACT §7).

HQ holds the figures of 3,200 simulated nodes × 365 days: the 31 provinces with county-level
units, each the parent of ~103 simulated county/station nodes (real division codes, each
node's respondents in its own region). Every province sends HQ one snapshot per day (what
the real tree does: HQ's children are the provinces, whose snapshots carry their subtree's
rows and their nodes in ``members``) — 11,315 snapshot documents. Measured:

- **ingest**: every snapshot body through the receive path of ``stats.snapshot`` (field
  checks, version check, replace the (origin, day) rows, coverage members), 200 documents
  per transaction with a savepoint each, as the replication inbox applies a batch; then
  the projection rebuild that makes them queryable. The origin signature and the HTTP hop
  are the replication layer's and are measured there.
- **query p95**: ``GET /api/v1/stats`` through the Flask app (token check, JSON) grouped by
  region and by category over a year — month-aligned (2025-10-01…2026-09-30) and rolling
  (edge days at both ends); target ≤ 200 ms.

On SQLite (a file in a temporary home) and on PostgreSQL
(``postgresql://postgres@127.0.0.1:5432/test?schema=bench_stats``; set
``BENCH_STATS_PG`` to use another server, or ``none`` to skip). ``run()`` returns the figures
as ``{"name", "value", "unit", "command"}``; ``python -m bench stats`` prints them.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("BENCH_STATS_PG", "postgresql://postgres@127.0.0.1:5432/test?schema=bench_stats")
PROVINCES = 32          # at most; provinces without county-level units (HK, Macao…) are skipped
NODES = 3200
DAYS = 365
FIRST_DAY = date(2025, 10, 1)
QUERY_RUNS = 15
COMMAND = "python -m bench stats"
CATEGORIES = ["G0101", "G0102", "G0103", "G0201", "G0301", "G0302", "G0303", "G0304", "G0401", "G0402",
              "G0501", "G0502", "G0601", "G0701", "G0702", "G0801", "G0901", "G1001", "G1002", "G99",
              "S0101", "S0102", "S0103", "S0104", "S0201", "S0202", "S0301", "S0302", "S0303", "S0304",
              "S0401", "S0501", "S0601", "S0602", "S0701", "S0702", "S08", "S09", "S10"]


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 9, 30, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t


def _tree() -> dict[str, list[tuple[str, str]]]:
    """Every province with counties → its share of the 3,200 simulated nodes, as (node code,
    respondent region) pairs: real county codes, then stations under them."""
    from node.divisions import load_divisions
    div = load_divisions()
    counties: dict[str, list[str]] = defaultdict(list)
    for d in div.divisions():
        if d.level == "county":
            counties[div.province_of(d.code) or ""].append(d.code)
    provinces = [d.code for d in div.divisions() if d.level == "province" and counties[d.code]][:PROVINCES]
    out = {}
    for idx, p in enumerate(provinces):
        want = NODES // len(provinces) + (1 if idx < NODES % len(provinces) else 0)
        cs = counties[p]
        nodes = [(c, c) for c in cs[:want]]
        i = 1
        while len(nodes) < want:  # small provinces: stations under their counties
            c = cs[(i - 1) % len(cs)]
            nodes.append((f"{c}{i:03d}", c))
            i += 1
        out[p] = nodes
    return out


def _pools(rng: random.Random, tree: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, ...]]]:
    """Each simulated node's recurring dimension combinations (a county sees the same few
    kinds of complaint day after day): skewed like real 12315 traffic."""
    kinds = ("complaint",) * 11 + ("consultation",) * 7 + ("report",) * 2
    channels = ("web",) * 10 + ("phone",) * 7 + ("visit", "visit", "letter")
    status = {"complaint": ("concluded", "concluded", "closed", "accepted", "in_mediation"),
              "report": ("concluded", "verifying", "filed"), "consultation": ("answered",)}
    out = {}
    for nodes in tree.values():
        for code, region in nodes:
            combos = []
            for _ in range(6):
                kind = rng.choice(kinds)
                combos.append(("accepted", kind, rng.choice(channels),
                               CATEGORIES[min(int(rng.paretovariate(1.2)) - 1, len(CATEGORIES) - 1)],
                               "general" if rng.random() < 0.95 else "urgent", rng.choice(status[kind]), region))
            out[code] = combos
    return out


def _body(rng: random.Random, province: str, nodes: list[tuple[str, str]], pools: dict[str, list[tuple[str, ...]]],
          day: date, version: int, members: dict[str, str] | None) -> dict[str, Any]:
    """One province's snapshot of one day: each of its nodes reports 1-2 of its combinations."""
    import node.stats as stats
    n_counts = len(stats.COUNT_MEASURES)
    rows: dict[tuple[str, ...], list[int]] = {}
    for code, _ in nodes:
        for key in rng.sample(pools[code], 1 + (rng.random() < 0.5)):
            acc = rows.setdefault(key, [0] * (n_counts + 2))
            cases = 1 + int(rng.random() * 6)
            acc[0] += cases
            acc[n_counts] += int(rng.random() * 400_000)
            if key[1] == "complaint" and key[5] in ("concluded", "closed"):
                acc[6] += cases                                  # concluded
                acc[7] += cases                                  # concluded on time
                acc[9] += cases                                  # mediated
                acc[n_counts + 1] += int(rng.random() * 100_000)
    out_rows = [[*k, *v[:n_counts], f"{v[n_counts] // 100}.{v[n_counts] % 100:02d}",
                 f"{v[n_counts + 1] // 100}.{v[n_counts + 1] % 100:02d}"] for k, v in sorted(rows.items())]
    return {"schema": 1, "node": province, "day": day.isoformat(), "version": version,
            "generated_at": "2026-09-30T12:00:00+08:00", "columns": list(stats.ROW_COLUMNS), "rows": out_rows,
            "firm_columns": list(stats.FIRM_COLUMNS), "firms": [], "members": members}


def _pg_reset(url: str) -> str | None:
    if url.lower() == "none":
        return "BENCH_STATS_PG=none"
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


def _bench(backend: str, db_url: str | None, say: Any) -> list[dict[str, Any]]:
    import node.stats as stats
    from federation.models import Link
    from node.accounts import service as users
    from node.app import create_app
    from node.db import write_tx
    from node.home import init_home

    tree = _tree()
    clock = _Clock()
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        hq = init_home(Path(tmp) / "hq", level="hq", code="000000", name="国家市场监督管理总局",
                       url="http://hq.bench", db_url=db_url, clock=clock)
        with hq.activate():
            for p in tree:   # bench shortcut: the 32 province links as rows (no invite/join)
                Link.insert(code=p, level="province", role="child", name=p, url=f"http://{p}.bench",
                            state="active", created_at=clock().replace(tzinfo=None)).execute()
            token = users.add_user("bench", "analyst", clock())
        rng = random.Random(6)
        pools = _pools(rng, tree)
        is_within = __import__("node.divisions", fromlist=["load_divisions"]).load_divisions().is_within
        docs = rows = 0
        t_ingest = 0.0
        version = 0
        batch: list[tuple[str, dict[str, Any]]] = []

        def flush() -> float:
            t0 = time.perf_counter()
            with hq.activate(), write_tx(hq.db):
                for origin, body in batch:
                    with hq.db.atomic():   # the inbox's savepoint per document
                        snap = stats.parse_body(body, origin, is_within)
                        stats.ingest(hq, stats.STREAM_ROLLUP, snap, sender=origin, doc_id=f"b{snap.version}",
                                     now=clock())
            batch.clear()
            return time.perf_counter() - t0

        # each province's nodes follow a weekly pattern: seven day-templates per province,
        # generated once (the generator is not what is measured)
        weeks = {p: [_body(rng, p, nodes, pools, FIRST_DAY, 0, None)["rows"] for _ in range(7)]
                 for p, nodes in tree.items()}
        for i in range(DAYS):
            day = FIRST_DAY + timedelta(days=i)
            for p, nodes in tree.items():
                version += 1
                members = ({c: "2026-09-30T12:00:00+08:00" for c, _ in nodes} | {p: "2026-09-30T12:00:00+08:00"}
                           if i == DAYS - 1 else None)
                body = {**_body(rng, p, [], pools, day, version, members), "rows": weeks[p][day.weekday()]}
                rows += len(body["rows"])
                docs += 1
                batch.append((p, body))
                if len(batch) >= 200:
                    t_ingest += flush()
            if i % 73 == 72:
                say(f"  [{backend}] {i + 1}/{DAYS} days, {docs} snapshots, {rows} rows, {t_ingest:.1f} s")
        if batch:
            t_ingest += flush()
        t0 = time.perf_counter()
        with hq.activate():
            stats.refresh_aggregates(hq)
        t_rebuild = time.perf_counter() - t0
        client = create_app(hq).test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def timed(qs: str) -> list[float]:
            out = []
            for run in range(QUERY_RUNS + 2):
                t0 = time.perf_counter()
                resp = client.get(f"/api/v1/stats?{qs}", headers=headers)
                elapsed = time.perf_counter() - t0
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
                if run >= 2:
                    out.append(elapsed * 1000)
            return out

        def p95(values: list[float]) -> float:
            return round(statistics.quantiles(values, n=20)[-1], 1)

        check = client.get("/api/v1/stats?from=2025-10-01&to=2026-09-30", headers=headers).get_json()
        expected_cases = check["totals"]["cases"]
        with hq.activate():
            cube_cases = int(hq.db.execute_sql('SELECT SUM("cases") FROM "stats_row" WHERE "basis" = \'accepted\'')
                             .fetchone()[0])
        assert expected_cases == cube_cases, (expected_cases, cube_cases)
        assert check["coverage"]["nodes_expected"] == NODES + len(tree), check["coverage"]
        aligned = "from=2025-10-01&to=2026-09-30"
        rolling = "from=2025-10-11&to=2026-09-25"
        t_region = timed(f"{aligned}&group_by=region") + timed(f"{rolling}&group_by=region")
        t_category = timed(f"{aligned}&group_by=category") + timed(f"{rolling}&group_by=category")
        t_total = timed(aligned)
        t_units = []
        for run in range(QUERY_RUNS // 5 + 1):
            t0 = time.perf_counter()
            assert client.get(f"/api/v1/stats/units?{aligned}", headers=headers).status_code == 200
            if run:
                t_units.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()   # one run: it has no target and takes seconds
        resp = client.get(f"/api/v1/stats?{aligned}&group_by=region,category", headers=headers)
        t_pair = [(time.perf_counter() - t0) * 1000]
        pairs = len(resp.get_json()["rows"])
        regions = len(client.get(f"/api/v1/stats?{aligned}&group_by=region", headers=headers).get_json()["rows"])
        hq.close()
    scale = f"{NODES} nodes × {DAYS} days"
    cmd = f"{COMMAND} [{backend}]"
    figures += [
        {"name": f"stats [{backend}] ingest: {docs} province snapshots ({rows} rows, {scale})",
         "value": round(t_ingest, 1), "unit": "s", "command": cmd},
        {"name": f"stats [{backend}] ingest rate", "value": round(docs / t_ingest), "unit": "snapshots/s",
         "command": cmd},
        {"name": f"stats [{backend}] ingest rate (rows)", "value": round(rows / t_ingest), "unit": "rows/s",
         "command": cmd},
        {"name": f"stats [{backend}] projection rebuild after ingest ({DAYS} days)", "value": round(t_rebuild, 1),
         "unit": "s", "command": cmd},
        {"name": f"stats [{backend}] p95 GET /api/v1/stats group_by=region, one year ({regions} regions)",
         "value": p95(t_region), "unit": "ms", "command": cmd},
        {"name": f"stats [{backend}] p95 GET /api/v1/stats group_by=category, one year", "value": p95(t_category),
         "unit": "ms", "command": cmd},
        {"name": f"stats [{backend}] p95 GET /api/v1/stats totals only, one year", "value": p95(t_total),
         "unit": "ms", "command": cmd},
        {"name": f"stats [{backend}] median GET /api/v1/stats/units, one year", "value":
            round(statistics.median(t_units), 1), "unit": "ms", "command": cmd},
        {"name": f"stats [{backend}] GET /api/v1/stats group_by=region,category, one year, one run "
                 f"({pairs} rows; no target)", "value": round(statistics.median(t_pair), 1), "unit": "ms",
         "command": cmd},
    ]
    return figures


def run(say: Any = None) -> list[dict[str, Any]]:
    say = say or (lambda s: print(s, file=sys.stderr))
    figures = _bench("sqlite", None, say)
    reason = _pg_reset(PG_URL)
    if reason is None:
        try:
            figures += _bench("postgresql", PG_URL, say)
        finally:
            _pg_reset(PG_URL)
    else:
        say(f"  [postgresql] skipped: {reason}")
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}    ({f['command']})")
