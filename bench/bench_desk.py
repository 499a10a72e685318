"""Staff desk page times with 100,000 cases in the node (issue 11 item 10: every page renders in
under 150 ms on the server).

A county node (Nanshan 440305, a file in a temporary home) holding a year of cases, 2025-10-01 …
2026-09-30, the node's clock at 2026-09-30 09:00 Asia/Shanghai:

- **templates through the domain**: for each receipt day, one case per life path (registered;
  accepted; in mediation; concluded after mediation; not mediated; closed; declined; a report
  being verified; a report filed and concluded; a consultation answered) taken in with
  ``create_case`` and moved along with ``act`` on the day each action happens, so its
  deadlines, history, custody trail and outcome are what the node itself writes. Old cases
  are mostly finished, recent ones mostly open (a real county's shape).
- **bulk**: each day's templates copied to ~274 cases a day (100,000 in all) in batches of
  500, with new ids from the day counter (``take_ids``), varied summaries, firms, phones,
  categories and channels, their history events and search rows, written with the case
  domain's ``insert_rows``; then the overdue job (``mark_overdue``) and the statistics rollup
  (``stats.rollup``), as the scheduler would run them.
- **pages**: an administrator signed in through the form; each desk page fetched through the
  Flask test client (everything the server does for a page: session, role, queries,
  template; no network), 2 warm-up runs then ``RUNS`` timed; p50 and p95 beside the 150 ms
  goal. A page that answers 404 is reported as missing, any other non-200 as an error.

Run: ``python -m bench desk`` (``N12315_BENCH_DESK_CASES``, ``N12315_BENCH_DESK_RUNS`` change
the size and the runs).
"""
from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

CASES = int(os.environ.get("N12315_BENCH_DESK_CASES", "100000"))
RUNS = int(os.environ.get("N12315_BENCH_DESK_RUNS", "20"))
GOAL_MS = 150.0
COMMAND = "python -m bench desk"
NOW = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)          # 09:00 in Shanghai
DAYS = 365
FIRST_DAY = (NOW - timedelta(days=DAYS - 1)).date()
BATCH = 500
PASSWORD = "bench-desk-12315"

#: (name, kind, [(days after receipt, action payload)], weight when old, weight when recent)
PATHS: list[tuple[str, str, list[tuple[float, dict[str, Any]]], float, float]] = [
    ("registered", "complaint", [], 0.3, 14),
    ("accepted", "complaint", [(1, {"action": "accept", "mode": "investigation"})], 0.5, 14),
    ("in_mediation", "complaint", [(1, {"action": "accept"}), (2, {"action": "mediate"})], 0.5, 12),
    ("mediated", "complaint", [(1, {"action": "accept"}), (2, {"action": "mediate"}),
                               (9, {"action": "conclude", "outcome": "mediated", "amount_recovered": "120.00",
                                    "note": "经调解，商家退款并赔偿"}),
                               (10, {"action": "notify", "note": "已电话告知投诉人"})], 34, 8),
    ("not_mediated", "complaint", [(1, {"action": "accept"}),
                                   (12, {"action": "conclude", "outcome": "not_mediated",
                                         "note": "双方分歧较大，调解不成"}),
                                   (13, {"action": "notify"})], 7, 2),
    ("closed", "complaint", [(1, {"action": "accept"}),
                             (8, {"action": "conclude", "outcome": "settled"}),
                             (9, {"action": "notify"}),
                             (10, {"action": "feedback", "satisfaction": "satisfied"}),
                             (11, {"action": "close"})], 20, 3),
    ("declined", "complaint", [(2, {"action": "decline", "reason": "outside_remit"})], 5, 3),
    ("verifying", "report", [(1, {"action": "verify"})], 0.3, 6),
    ("report_concluded", "report", [(1, {"action": "verify"}), (6, {"action": "file"}), (7, {"action": "notify"}),
                                    (20, {"action": "conclude", "outcome": "filed"})], 5, 1),
    ("answered", "consultation", [(0.1, {"action": "answer", "text": "已告知消费者相关法律规定及维权途径"})], 27.4, 37),
]

SUMMARIES = [
    ("空调安装后不制冷，商家拒绝维修", "G0303"), ("外卖米饭中发现金属异物", "S0304"),
    ("健身房预付卡闭店无法退款", "S0101"), ("网购羽绒服含绒量与标注不符", "S0301"),
    ("直播间购买的面膜疑似假货", "S0303"), ("二手车里程表被调，要求退车", "G0201"),
    ("手机屏幕一周内自动碎裂，售后推诿", "G0301"), ("装修公司拖延工期并增加费用", "S0201"),
    ("培训机构退费纠纷，拒不退还剩余课时费", "S0102"), ("超市销售过期酸奶", "G0101"),
    ("美容院诱导办卡后服务缩水", "S0103"), ("快递丢件，商家与快递互相推诿", "S0104"),
    ("电动自行车电池鼓包，要求更换", "G0401"), ("酒店预订后临时涨价", "S0202"),
    ("网络游戏充值未到账", "S0302"), ("会员自动续费未提醒，要求退款", "S0305"),
]
FIRM_WORDS = ["科技", "餐饮", "电器", "服饰", "健身", "教育", "汽车", "美容", "家居", "通信", "物流", "食品"]
CHANNELS = ["phone"] * 6 + ["web"] * 8 + ["visit", "letter", "open311", "complaint_point"]
SUMMARY_ANY = "空调不制冷"          # a phrase many cases carry (q search)


class _Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _pick_paths(rng: random.Random, day: date) -> list[int]:
    """How many cases of each path this day gets (≈ CASES / DAYS in all)."""
    recent = (NOW.date() - day).days < 40
    weights = [p[4] if recent else p[3] for p in PATHS]
    want = CASES // DAYS + (1 if (day - FIRST_DAY).days < CASES % DAYS else 0)
    counts = [0] * len(PATHS)
    for i in rng.choices(range(len(PATHS)), weights, k=want):
        counts[i] += 1
    return counts


def _body(kind: str, rng: random.Random, i: int) -> dict[str, Any]:
    summary, category = SUMMARIES[i % len(SUMMARIES)]
    body: dict[str, Any] = {
        "kind": kind, "channel": rng.choice(CHANNELS), "category": category, "summary": summary,
        "description": f"消费者反映：{summary}。多次与经营者协商未果，请求依法处理。",
        "complainant": {"name": "陈女士", "phone": f"136{rng.randrange(10**8):08d}", "address": "深圳市南山区"},
        "respondent": {"name": f"深圳市南山区{rng.choice(FIRM_WORDS)}有限公司", "region_code": "440305",
                       "address": "深圳市南山区"},
        "amount": f"{rng.randrange(50, 20000)}.00",
    }
    if kind == "consultation":
        del body["respondent"], body["amount"]
    if kind == "report":
        body["report_target"] = "business"
    return body


def _build(node: Any, clock: _Clock, say: Any) -> dict[str, Any]:
    """Templates through create_case/act, copied in bulk; returns what the pages need."""
    from node.cases import Actor, Case, CaseEvent, act, create_case, insert_rows
    from node.cases.intake import take_ids
    from node.db import is_sqlite, write_tx

    rng = random.Random(11)
    actor = Actor("bench", "admin")
    sample: dict[str, str] = {}
    t_templates = t_bulk = 0.0
    written = 0
    with node.activate():
        for d in range(DAYS):
            day = FIRST_DAY + timedelta(days=d)
            counts = _pick_paths(rng, day)
            received = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC) + timedelta(minutes=d % 300)
            t0 = time.perf_counter()
            for idx, (_, _, steps, _, _) in enumerate(PATHS):
                if idx and steps and received + timedelta(days=steps[-1][0]) > NOW:
                    counts[0] += counts[idx]     # too recent for this path: still registered
                    counts[idx] = 0
            templates: list[tuple[str, int]] = []
            for idx, (name, kind, steps, _, _) in enumerate(PATHS):
                if not counts[idx]:
                    continue
                clock.t = received
                case_id = create_case(node, _body(kind, rng, d + idx), actor)["id"]
                for offset, payload in steps:
                    clock.t = received + timedelta(days=offset)
                    act(node, case_id, dict(payload), actor)
                templates.append((case_id, counts[idx] - 1))
                sample.setdefault(name, case_id)
            t_templates += time.perf_counter() - t0
            t0 = time.perf_counter()
            copies = sum(n for _, n in templates)
            if copies:
                with write_tx(node.db):
                    ids = iter(take_ids(node, day, copies))
                    rows: list[dict[str, Any]] = []
                    events: list[dict[str, Any]] = []
                    for template_id, n in templates:
                        row = Case.row(template_id)
                        evs = [{k: v for k, v in e.items() if k != "id"}
                               for e in CaseEvent.for_case(template_id).dicts()]
                        for _ in range(n):
                            i = rng.randrange(10**6)
                            summary, category = SUMMARIES[i % len(SUMMARIES)]
                            firm = f"深圳市南山区{FIRM_WORDS[i % len(FIRM_WORDS)]}{i % 397}号有限公司"
                            copy = {k: v for k, v in row.items() if k != "pk"}
                            copy.update(case_id=next(ids), summary=summary, category=category,
                                        channel=CHANNELS[i % len(CHANNELS)],
                                        description=f"消费者反映：{summary}（编号 {i}）。",
                                        respondent_name=firm if row["respondent_name"] else "")
                            copy["search_text"] = "\n".join(t for t in (summary, copy["description"],
                                                                        copy["respondent_name"]) if t)
                            rows.append(copy)
                            events += [{**e, "case_id": copy["case_id"]} for e in evs]
                    for start in range(0, len(rows), BATCH):
                        part = rows[start:start + BATCH]
                        insert_rows(node.db, Case, part)
                        if is_sqlite(node.db):
                            p = node.db.param
                            node.db.execute_sql("INSERT INTO case_search (case_id, body) VALUES "
                                                + ", ".join([f"({p}, {p})"] * len(part)),
                                                [v for r in part for v in (r["case_id"], r["search_text"])])
                    for start in range(0, len(events), BATCH):
                        insert_rows(node.db, CaseEvent, events[start:start + BATCH])
            t_bulk += time.perf_counter() - t0
            written += copies + len(templates)
            if d % 73 == 72:
                say(f"  [desk] {d + 1}/{DAYS} days, {written} cases "
                    f"(templates {t_templates:.0f} s, bulk {t_bulk:.0f} s)")
        clock.t = NOW
        total = Case.select().count()
    return {"sample": sample, "total": total, "t_templates": t_templates, "t_bulk": t_bulk}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _sign_in(client: Any, login: str) -> None:
    form = client.get("/desk/login").get_data(as_text=True)
    token = unescape(_CSRF.search(form).group(1))
    resp = client.post("/desk/login", data={"login": login, "password": PASSWORD, "next": "/desk/",
                                            "csrf_token": token})
    if resp.status_code != 302:
        raise RuntimeError(f"sign-in failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")


def _pages(sample: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("home (我的工作台)", "/desk/"),
        ("intake form", "/desk/cases/new"),
        ("case list", "/desk/cases"),
        ("case list, status + overdue filter", "/desk/cases?status=accepted&overdue=true"),
        ("case list, kind + urgency + due within 5 days", "/desk/cases?kind=complaint&urgency=general&due_within_days=5"),
        (f"case list, q={SUMMARY_ANY}", "/desk/cases?q=" + quote(SUMMARY_ANY)),
        ("case list, q=firm name", "/desk/cases?q=" + quote("科技123号")),
        ("case page, concluded after mediation", f"/desk/cases/{sample.get('mediated', 'none')}"),
        ("case page, registered (all actions)", f"/desk/cases/{sample.get('registered', 'none')}"),
        ("supervision", "/desk/supervision"),
        ("directives", "/desk/directives"),
        ("dashboards", "/desk/stats"),
        ("administration", "/desk/admin"),
    ]


def _time_pages(client: Any, pages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    figures = []
    slow: list[str] = []
    missing: list[str] = []
    for label, path in pages:
        first = client.get(path)
        if first.status_code != 200:
            what = "missing (404)" if first.status_code == 404 else f"error {first.status_code}"
            if first.status_code == 302:
                what = f"redirect to {first.headers.get('Location')}"
            missing.append(path)
            figures.append({"name": f"desk GET {path} — {label}", "value": what, "unit": "", "command": COMMAND})
            continue
        client.get(path)                       # second warm-up
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, (path, resp.status_code)
        p50 = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        if p95 >= GOAL_MS:
            slow.append(f"{path} ({p95:.0f} ms)")
        figures.append({"name": f"desk GET {path} — {label}: p50 / p95 (goal < {GOAL_MS:.0f} ms)",
                        "value": f"{p50:.1f} / {p95:.1f}", "unit": "ms", "command": COMMAND})
    figures.append({"name": f"desk pages at or over {GOAL_MS:.0f} ms (p95)", "value": ", ".join(slow) or "none",
                    "unit": "", "command": COMMAND})
    figures.append({"name": "desk pages missing or failing", "value": ", ".join(missing) or "none", "unit": "",
                    "command": COMMAND})
    return figures


def run(say: Any = None) -> list[dict[str, Any]]:
    say = say or (lambda s: print(s, file=sys.stderr, flush=True))
    from node import stats
    from node.accounts import add_user, set_password
    from node.app import create_app
    from node.cases import mark_overdue
    from node.db import analyze
    from node.home import init_home

    clock = _Clock(NOW)
    with tempfile.TemporaryDirectory(prefix="bench-desk-") as tmp:
        node = init_home(Path(tmp) / "home", level="county", code="440305", name="深圳市南山区市场监督管理局",
                         url="http://440305.bench", db_url=None, clock=clock)
        try:
            with node.activate():
                add_user("admin", "admin", clock())
                set_password("admin", PASSWORD)
            t0 = time.perf_counter()
            built = _build(node, clock, say)
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            overdue = mark_overdue(node)
            t_overdue = time.perf_counter() - t0
            t0 = time.perf_counter()
            with node.activate():
                stats.rollup(node, full=True)
            t_rollup = time.perf_counter() - t0
            # what serve's db.analyze job does at boot and every 6 h: the planner's statistics
            t0 = time.perf_counter()
            analyze(node.db)
            t_analyze = time.perf_counter() - t0
            say(f"  [desk] {built['total']} cases in {t_build:.0f} s; overdue job {t_overdue:.1f} s "
                f"({overdue} flagged); statistics rollup {t_rollup:.1f} s; ANALYZE {t_analyze:.2f} s")
            client = create_app(node).test_client()
            _sign_in(client, "admin")
            pages = _time_pages(client, _pages(built["sample"]))
        finally:
            node.close()
    return [
        {"name": f"desk: cases in the node (SQLite, received over {DAYS} days)",
         "value": built["total"], "unit": "cases", "command": COMMAND},
        {"name": "desk: build time (templates through create_case/act, then bulk insert_rows)",
         "value": f"{built['t_templates']:.0f} + {built['t_bulk']:.0f}", "unit": "s", "command": COMMAND},
        *pages,
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}    ({f['command']})")
