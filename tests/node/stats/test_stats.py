"""Statistics at one node (CONTRACT §7; R4.1-R4.5, R7.6, R8.2; RELIABILITY rules 17-18, F21).

Local aggregates against a brute-force count of the case table, the query API and every
bad-input case, snapshot bodies (no personal data; refusals of malformed, negative, stale,
duplicate and misaddressed snapshots), direct-report refusals, hot spots. Every test that
builds a node runs on SQLite and on PostgreSQL (``make_node``, tests/conftest.py).

The helpers at the top are shared with tests/network/test_stats.py.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import node.cases as case_svc
from node.cases import Actor
from node.cases.models import Case
from node.stats.common import DOC_DIRECT, DOC_SNAPSHOT, OUTPUT_MEASURES, dekad_end, fen, month_end, yuan
from node.stats.cube import case_measures, reconcile, refresh_local
from node.stats.direct import designate, direct_points
from node.stats.hotspots import hotspots, poisson_sf, surge
from node.stats.models import COUNT_MEASURES, MEASURES, StatsRejection, StatsRow, StatsSnapshot
from node.stats.queries import Range, query, query_direct, split_range
from node.stats.rollup import rollup
from node.stats.snapshots import FIRM_COLUMNS, ROW_COLUMNS, apply_direct, apply_snapshot, build_body, parse_body
from replication.engine import Delivery
from replication.registry import ApplyError

INTAKE = Actor("i1", "intake")
HANDLER = Actor("h1", "handler")

CATEGORIES = ("G0101", "G0301", "G0303", "G0401", "S0101", "S0301", "S0601")
REGIONS = ("440305", "440304", "330106", "330102")
USCCS = ("914403001922038216", "91330100716105852F", "91440300708461136T")
CHANNELS = ("phone", "web", "visit", "letter")


# -- shared helpers ------------------------------------------------------------------------------
def case_body(kind: str = "complaint", *, day: str = "2026-09-20", channel: str = "web",
              category: str = "G0303", region: str = "440305", urgency: str = "general",
              amount: str | None = "100.00", uscc: str | None = USCCS[0], firm: str = "深圳市某某电器有限公司",
              name: str = "张三", phone: str = "13800000000", address: str = "深圳市南山区科技园一路 1 号",
              summary: str = "冰箱不制冷，商家拒绝退货", description: str = "购买后三天不制冷，要求退货被拒。"
              ) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "channel": channel, "category": category, "urgency": urgency,
                            "summary": summary, "description": description,
                            "received_at": f"{day}T10:00:00+08:00"}
    if kind != "consultation":
        body["respondent"] = {"name": firm, "region_code": region, "address": "某街道 8 号"}
        if uscc:
            body["respondent"]["uscc"] = uscc
        body["complainant"] = {"name": name, "phone": phone, "address": address}
    if kind == "report":
        body["report_target"] = "business"
    if amount and kind == "complaint":
        body["amount"] = amount
    return body


def create(node, body: dict[str, Any]) -> dict[str, Any]:
    with node.activate():
        return case_svc.create_case(node, body, INTAKE)


def act(node, case_id: str, **payload: Any) -> dict[str, Any]:
    with node.activate():
        return case_svc.act(node, case_id, payload, HANDLER)


def insert_copy(node, case: dict[str, Any], handling_node: str | None = None) -> None:
    """A copy of ``case`` held at ``node`` as a node on its route (what routing leaves behind)."""
    with node.activate():
        row = Case.select().where(Case.case_id == case["id"]).dicts().first()
        assert row is None, "the copy holder must not already hold the case"
    now = datetime(2026, 9, 29, 2, 0)
    received = datetime.fromisoformat(case["received_at"])
    with node.activate():
        Case.insert(case_id=case["id"], kind=case["kind"], report_target=case["report_target"],
                    channel=case["channel"], urgency=case["urgency"], status=case["status"],
                    category=case["category"], summary=case["summary"], description=case["description"] or "",
                    complainant=json.dumps(case["complainant"]), respondent=json.dumps(case["respondent"]),
                    respondent_name=(case["respondent"] or {}).get("name") or "",
                    respondent_region=(case["respondent"] or {}).get("region_code"),
                    respondent_uscc=(case["respondent"] or {}).get("uscc"), amount=case["amount"],
                    amount_recovered=case["amount_recovered"], received_at=received.astimezone(UTC).replace(tzinfo=None),
                    received_date=received.date(), accepting_node=case["accepting_node"],
                    handling_node=handling_node or case["handling_node"], rule_set=case["rule_set"],
                    deadlines=json.dumps(case["deadlines"]), held_as="copy", version=1,
                    search_text=case["summary"], created_at=now, updated_at=now).execute()


def random_case_body(rng: random.Random, days: list[str]) -> dict[str, Any]:
    kind = rng.choice(("complaint", "complaint", "report", "consultation"))
    return case_body(kind, day=rng.choice(days), channel=rng.choice(CHANNELS), category=rng.choice(CATEGORIES),
                     region=rng.choice(REGIONS), urgency=rng.choice(("general", "general", "urgent")),
                     amount=f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}", uscc=rng.choice((*USCCS, None)))


def advance_case(node, case: dict[str, Any], rng: random.Random) -> None:
    """Move a case along its lifecycle a random number of steps."""
    steps = {"complaint": [("accept", {}), ("conclude", {"outcome": "mediated", "amount_recovered": "12.34"}),
                           ("feedback", {"satisfaction": "satisfied"})],
             "report": [("verify", {}), ("file", {}), ("conclude", {})],
             "consultation": [("answer", {"text": "可以依法退货。"})]}[case["kind"]]
    if case["kind"] == "complaint" and rng.random() < 0.3:
        steps = [("decline", {"reason": rng.choice(_decline_grounds())})]
    for action, extra in steps[:rng.randint(0, len(steps))]:
        act(node, case["id"], action=action, **extra)


def _decline_grounds() -> list[str]:
    from node.cases import standard
    return list(standard.DECLINE_GROUNDS)


def brute_force(node, code: str, frm: str, to: str, group_by: list[str], basis: str = "accepted"
                ) -> tuple[Counter, Counter, dict[str, Decimal]]:
    """Ground truth straight from the case table: (cases per group, cases per kind, amounts)."""
    field = {"kind": "kind", "channel": "channel", "category": "category", "urgency": "urgency",
             "status": "status", "region": "respondent_region"}
    who = Case.accepting_node if basis == "accepted" else Case.handling_node
    groups: Counter = Counter()
    kinds: Counter = Counter()
    money = {"amount": Decimal("0.00"), "amount_recovered": Decimal("0.00")}
    with node.activate():
        for r in (Case.select().where((who == code) & (Case.received_date >= date.fromisoformat(frm))
                                      & (Case.received_date <= date.fromisoformat(to))).dicts()):
            groups[tuple((r[field[g]] or "") for g in group_by)] += 1
            kinds[r["kind"]] += 1
            money["amount"] += Decimal(r["amount"] or "0")
            money["amount_recovered"] += Decimal(r["amount_recovered"] or "0")
    return groups, kinds, money


def as_counter(doc: dict[str, Any]) -> Counter:
    return Counter({tuple(r[g] for g in doc["group_by"]): r["cases"] for r in doc["rows"] if r["cases"]})


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def county(tmp_path, make_node):
    return make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")


@pytest.fixture
def api(app_client):
    return app_client


# -- measures of one case (pure) ---------------------------------------------------------------------
def _row(**kw: Any) -> dict[str, Any]:
    base = {"kind": "complaint", "status": "registered", "outcome": None, "deadlines": "{}", "overdue": False,
            "amount": None, "amount_recovered": None}
    base.update(kw)
    return base


def _m(row: dict[str, Any]) -> dict[str, int]:
    return dict(zip(MEASURES, case_measures(row), strict=True))


def test_case_measures_complaint_lifecycle():
    dl = {"accept_by": "2026-10-09", "conclude_by": "2026-12-01",
          "met": {"accept_by": "2026-10-08", "conclude_by": "2026-12-02"}}
    m = _m(_row(status="closed", outcome=json.dumps({"outcome": "mediated", "satisfaction": "basically_satisfied"}),
                deadlines=json.dumps(dl), amount="1299.10", amount_recovered="0.20"))
    assert m["cases"] == m["accepted"] == m["decided"] == m["accepted_on_time"] == m["concluded"] == 1
    assert m["concluded_on_time"] == 0, "met a day after conclude_by"
    assert m["mediated"] == m["basically_satisfied"] == 1
    assert (m["amount_fen"], m["recovered_fen"]) == (129910, 20)


def test_case_measures_decline_refer_answer_overdue():
    declined = _m(_row(status="declined", outcome=json.dumps({"outcome": "declined"}),
                       deadlines=json.dumps({"accept_by": "2026-10-09", "met": {"accept_by": "2026-10-12"}})))
    assert declined["declined"] == declined["decided"] == 1 and declined["accepted"] == 0
    assert declined["accepted_on_time"] == 0
    referred = _m(_row(status="referred", outcome=json.dumps({"outcome": "referred"}),
                       deadlines=json.dumps({"met": {"accept_by": "2026-10-01"}})))
    assert referred["referred"] == 1 and referred["decided"] == 0
    answered = _m(_row(kind="consultation", status="answered", outcome=json.dumps({"outcome": "answered"})))
    assert answered["answered"] == answered["concluded"] == answered["concluded_on_time"] == 1
    late = _m(_row(overdue=True))
    assert late["overdue"] == 1 and late["concluded"] == 0


def test_money_sums_are_exact_decimal():
    total = sum(fen(v) for v in ["0.10"] * 10 + ["0.20"] * 10 + ["99999999999.99"])
    assert yuan(total) == "100000000002.99"
    assert fen("1") == 100 and fen("") == 0 and yuan(5) == "0.05"


def test_ranges_are_covered_by_months_dekads_and_days_exactly_once():
    rng = random.Random(3)
    for _ in range(300):
        a = date(2025, 12, 1) + timedelta(days=rng.randint(0, 400))
        b = a + timedelta(days=rng.randint(0, 420))
        covered: list[date] = []
        for grain, first, last in split_range(Range(a, b)):
            start = first
            while start <= last:
                end = {"d": start, "x": dekad_end(start), "m": month_end(start)}[grain]
                covered += [start + timedelta(days=i) for i in range((end - start).days + 1)]
                start = end + timedelta(days=1)
        assert covered == [a + timedelta(days=i) for i in range((b - a).days + 1)], (a, b)
    year = split_range(Range(date(2025, 10, 11), date(2026, 9, 25)))
    assert [g for g, _, _ in year] == ["x", "m", "x", "d"]


def test_poisson_tail_and_surge_rule():
    assert poisson_sf(0, 3.0) == 1.0
    assert abs(poisson_sf(1, 1.0) - (1 - 0.36787944)) < 1e-6
    hit, p = surge(12, 2, min_count=5, ratio=2.0, alpha=0.01)
    assert hit and p < 0.001
    assert not surge(4, 0, min_count=5, ratio=2.0, alpha=0.01)[0], "below min_count"
    assert not surge(9, 5, min_count=5, ratio=2.0, alpha=0.01)[0], "below ratio"
    assert not surge(21, 10, min_count=5, ratio=2.0, alpha=0.0001)[0], "tail not small enough"


# -- local aggregates against the case table ------------------------------------------------------
def test_local_aggregates_match_the_case_table(county):
    rng = random.Random(7)
    days = ["2026-07-30", "2026-08-01", "2026-08-15", "2026-08-31", "2026-09-01", "2026-09-20", "2026-09-29"]
    made = [create(county, random_case_body(rng, days)) for _ in range(60)]
    for c in made:
        advance_case(county, c, rng)
    with county.activate():
        rollup(county)
        for frm, to in (("2026-07-01", "2026-09-30"), ("2026-07-30", "2026-09-29"), ("2026-08-02", "2026-08-31"),
                        ("2026-08-10", "2026-09-05"), ("2026-09-29", "2026-09-29")):
            for group_by in ([], ["kind"], ["region"], ["category"], ["status"], ["kind", "channel"],
                             ["region", "category", "urgency"]):
                doc = query(county, {"from": frm, "to": to, "group_by": ",".join(group_by)})
                groups, kinds, money = brute_force(county, "440305", frm, to, group_by)
                assert doc["totals"]["cases"] == sum(kinds.values()), (frm, to, group_by)
                assert doc["totals"]["amount"] == f"{money['amount']:.2f}"
                assert doc["totals"]["amount_recovered"] == f"{money['amount_recovered']:.2f}"
                if group_by:
                    assert as_counter(doc) == +groups, (frm, to, group_by)
            handled = query(county, {"from": frm, "to": to, "group_by": "kind", "basis": "handled"})
            _, kinds, _ = brute_force(county, "440305", frm, to, ["kind"], basis="handled")
            assert {r["kind"]: r["cases"] for r in handled["rows"]} == dict(kinds)
        for _ in range(12):   # random ranges: months, dekads and days stitched together
            a = date(2026, 7, 1) + timedelta(days=rng.randint(0, 90))
            b = a + timedelta(days=rng.randint(0, 95))
            doc = query(county, {"from": a.isoformat(), "to": b.isoformat(), "group_by": "region"})
            groups, kinds, _ = brute_force(county, "440305", a.isoformat(), b.isoformat(), ["region"])
            assert as_counter(doc) == +groups and doc["totals"]["cases"] == sum(kinds.values()), (a, b)


def test_copies_on_a_route_are_not_counted(tmp_path, make_node):
    """A case counts once, at its accepting node, however many nodes hold a copy (CONTRACT §7)."""
    station = make_node(tmp_path, "station", "440305001")
    county = make_node(tmp_path, "county", "440305")
    mine = create(county, case_body(day="2026-09-20"))
    theirs = create(station, case_body(day="2026-09-20", kind="report"))
    insert_copy(county, theirs)                                   # relayed through the county
    insert_copy(station, mine, handling_node="440305001")         # handled at the station
    with county.activate():
        rollup(county)
        doc = query(county, {"from": "2026-09-01", "to": "2026-09-30", "group_by": "kind"})
        handled = query(county, {"from": "2026-09-01", "to": "2026-09-30", "basis": "handled"})
    assert doc["totals"]["cases"] == 1 and doc["rows"][0]["kind"] == "complaint"
    assert handled["totals"]["cases"] == 1
    with station.activate():
        rollup(station)
        doc = query(station, {"from": "2026-09-01", "to": "2026-09-30", "group_by": "kind"})
        handled = query(station, {"from": "2026-09-01", "to": "2026-09-30", "group_by": "kind",
                                        "basis": "handled"})
    assert [(r["kind"], r["cases"]) for r in doc["rows"]] == [("report", 1)]
    assert {r["kind"]: r["cases"] for r in handled["rows"]} == {"report": 1, "complaint": 1}


def test_incremental_refresh_follows_status_changes(county, clock):
    c = create(county, case_body(day="2026-09-28"))
    with county.activate():
        rollup(county)
        assert query(county, {"group_by": "status"})["rows"][0]["status"] == "registered"
    clock.advance(hours=1)
    act(county, c["id"], action="accept")
    with county.activate():
        doc = query(county, {"group_by": "status"})   # answered fresh, without a rollup
    assert [(r["status"], r["cases"]) for r in doc["rows"]] == [("accepted", 1)]
    assert doc["totals"]["accepted"] == doc["totals"]["decided"] == 1


def test_reconcile_recomputes_what_the_watermark_missed(county, clock):
    c = create(county, case_body(day="2026-09-28"))
    with county.activate():
        rollup(county)
        # a write that bypasses the watermark: its updated_at lies far in the past
        Case.update(status="accepted", updated_at=datetime(2020, 1, 1)).where(Case.case_id == c["id"]).execute()
        # ... and, as if a refresh had run meanwhile, the watermark has moved past it
        from peewee import fn

        from node.stats.models import StatsState
        max_at, max_pk = Case.select(fn.MAX(Case.updated_at), fn.MAX(Case.pk)).tuples().first()
        StatsState.put("local_seen", f"{max_at}|{max_pk}")
        refresh_local(county)
        before = query(county, {"group_by": "status"})["rows"]
        changed = reconcile(county)
        after = query(county, {"group_by": "status"})["rows"]
    assert [r["status"] for r in before] == ["registered"]
    assert changed == [date(2026, 9, 28)]
    assert [r["status"] for r in after] == ["accepted"]


def test_rollup_job_is_registered(county):
    from node import jobs
    specs = {job_id: (interval, fn) for job_id, interval, fn in jobs.specs(county)}
    assert "stats.rollup" in specs
    assert specs["stats.rollup"][0](county) == county.config.stats.rollup_interval_s
    assert specs["stats.rollup"][1] is rollup


# -- the query API ------------------------------------------------------------------------------------
def test_api_shape_roles_and_coverage(api):
    create(api.node, case_body(day="2026-09-20"))
    create(api.node, case_body("consultation", day="2026-09-21"))
    resp = api.get("/api/v1/stats?from=2026-09-01&to=2026-09-30&group_by=kind", role="analyst")
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    assert set(doc) >= {"scope", "as_of", "totals", "rows", "coverage"}
    assert doc["scope"] == "440305" and doc["as_of"].endswith("+08:00")
    assert doc["totals"]["cases"] == 2 and isinstance(doc["totals"]["amount"], str)
    assert {r["kind"] for r in doc["rows"]} == {"complaint", "consultation"}
    assert set(doc["rows"][0]) == {"kind", *OUTPUT_MEASURES}
    assert doc["coverage"] == {"nodes_reporting": 0, "nodes_expected": 0, "stale": [], "stale_after_hours": 24}
    for role in ("leader", "admin"):
        assert api.get("/api/v1/stats", role=role).status_code == 200
    for role in ("handler", "intake", "discipline"):
        resp = api.get("/api/v1/stats", role=role)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    assert api.get("/api/v1/stats", role=None).status_code == 401
    for path in ("/api/v1/stats/units", "/api/v1/stats/hotspots", "/api/v1/stats/status",
                 "/api/v1/stats/rejections", "/api/v1/stats/direct-report"):
        assert api.get(path, role="analyst").status_code == 200, path
    assert api.post("/api/v1/stats/push", role="analyst").status_code == 403
    assert api.post("/api/v1/stats/push", role="admin").status_code == 200


BAD_QUERIES = [
    ("group_by=kind,colour", "group_by", "colour"),
    ("group_by=name", "group_by", "name"),
    ("from=2026/09/01", "from", "YYYY-MM-DD"),
    ("to=tomorrow", "to", "YYYY-MM-DD"),
    ("from=2026-02-30", "from", "不是有效日期"),
    ("from=2026-09-30&to=2026-09-01", "from", "晚于"),
    ("from=2023-01-01&to=2026-09-30", "to", "1100"),
    ("basis=everything", "basis", "basis"),
    ("colour=red", "colour", "未知查询参数"),
]


@pytest.mark.parametrize("qs,field,message", BAD_QUERIES)
def test_bad_queries_are_422_naming_the_field(api, qs, field, message):
    resp = api.get(f"/api/v1/stats?{qs}", role="analyst")
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["field"] == field and message in err["message"], err
    assert set(resp.get_json()) == {"error"} and set(err) == {"code", "message", "field"}


@pytest.mark.parametrize("path,qs,field,status", [
    ("/api/v1/stats/units", "from=x", "from", 422),
    ("/api/v1/stats/units", "from=2026-09-30&to=2026-09-01", "from", 422),
    ("/api/v1/stats/hotspots", "date=2026-13-01", "date", 422),
    ("/api/v1/stats/hotspots", "top=0", "top", 422),
    ("/api/v1/stats/rejections", "limit=x", "limit", 400),     # the one limit parser of every list (issue 13)
])
def test_bad_queries_on_other_endpoints(api, path, qs, field, status):
    resp = api.get(f"{path}?{qs}", role="analyst")
    assert resp.status_code == status and resp.get_json()["error"]["field"] == field


def test_range_limit_comes_from_config(tmp_path, make_node):
    node = make_node(tmp_path, "county", "440305")
    from dataclasses import replace
    node.config = replace(node.config, stats=replace(node.config.stats, max_range_days=10))
    with node.activate():
        query(node, {"from": "2026-09-01", "to": "2026-09-10"})
        with pytest.raises(Exception) as exc:
            query(node, {"from": "2026-09-01", "to": "2026-09-11"})
    assert exc.value.field == "to" and exc.value.status == 422


# -- snapshots: no personal data; refusals -------------------------------------------------------
def test_snapshot_body_carries_no_personal_data(county):
    secrets_ = {"name": "欧阳娜娜", "phone": "13912345678", "address": "深圳市南山区某某花园 3 栋 502",
                "summary": "购买的热水器漏电险些伤人", "description": "家中老人使用时被电击，商家拒绝赔偿。"}
    create(county, case_body(day="2026-09-20", **secrets_))
    create(county, case_body("report", day="2026-09-20", uscc=None, firm="南山区张伟小吃店",
                             **{**secrets_, "name": "李四"}))
    individual = case_body(day="2026-09-21", firm="南山区王二麻子水果店")
    individual["respondent"]["uscc"] = _individual_uscc()
    create(county, individual)
    with county.activate():
        rollup(county)
        body = build_body(county, date(2026, 9, 20), 1, county.now(), {"440305": county.now().isoformat()})
        body21 = build_body(county, date(2026, 9, 21), 2, county.now(), None)
    text = json.dumps([body, body21], ensure_ascii=False)
    for value in (*secrets_.values(), "李四", "张伟", "王二麻子", "13800000000"):
        assert value not in text, f"personal data {value!r} leaked into a snapshot"
    assert body["rows"] and all(isinstance(v, (str, int)) for r in body["rows"] for v in r)
    assert "深圳市某某电器有限公司" in text, "a legal entity's registered name may travel"
    assert body21["firms"][0][1] == "", "an individual business's name never travels"
    parse_body(body, "440305", lambda a, b: a.startswith(b))  # and it passes its own checks


def _individual_uscc() -> str:
    from node.cases.uscc import check_character
    first17 = "92440300MA5F12345"
    return first17 + check_character(first17)


def _delivery(node, body: dict[str, Any], *, kind: str = DOC_SNAPSHOT, origin: str = "440305001",
              sender: str | None = None, role: str = "child", dest: str | None = None) -> Delivery:
    from node.network.transport import replicator
    with node.activate():
        rep = replicator(node)
    doc = {"v": 1, "kind": kind, "id": f"test-{random.random()}", "channel": "stats", "origin": origin,
           "dest": dest or node.code, "created_at": node.now().isoformat(), "body": body, "sig": {}}
    return Delivery(rep=rep, doc=doc, sender=sender or origin, sender_role=role, route=[origin], now=node.now())


def _body(origin: str = "440305001", day: str = "2026-09-20", version: int = 1, cases_: int = 3,
          kind: str = "complaint") -> dict[str, Any]:
    counts = [0] * len(COUNT_MEASURES)
    counts[0] = cases_
    return {"schema": 1, "node": origin, "day": day, "version": version,
            "generated_at": "2026-09-29T10:00:00+08:00", "columns": list(ROW_COLUMNS),
            "rows": [["accepted", kind, "web", "G0303", "general", "registered", "440305", *counts, "10.00", "0.00"]],
            "firm_columns": list(FIRM_COLUMNS), "firms": [], "members": {origin: "2026-09-29T10:00:00+08:00"}}


def _total(node) -> int:
    with node.activate():
        return query(node, {"from": "2026-09-01", "to": "2026-09-30"})["totals"]["cases"]


def test_snapshot_versions_replace_only_upwards(county):
    """F21 at one node: a higher version replaces, a lower or equal one is ignored with a reason."""
    apply = lambda b: apply_snapshot(county, _delivery(county, b))  # noqa: E731
    with county.activate():
        apply(_body(version=2, cases_=3))
        assert _total(county) == 3
        apply(_body(version=1, cases_=50))                       # late arrival of an older version
        apply(_body(version=2, cases_=3))                        # duplicate
        apply(_body(version=2, cases_=4))                        # same version, other content
        assert _total(county) == 3
        apply(_body(version=5, cases_=7))                        # newer: replaces, never adds
        assert _total(county) == 7
        codes = [r.code for r in StatsRejection.select().order_by(StatsRejection.id)]
        reasons = [r.reason for r in StatsRejection.select().order_by(StatsRejection.id)]
    assert codes == ["stale_version", "duplicate", "version_conflict"]
    assert "低于已存版本" in reasons[0] and "ignored" in reasons[0]


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b["rows"][0].__setitem__(7, -4), "负数"),
    (lambda b: b["rows"][0].__setitem__(len(b["rows"][0]) - 2, "-10.00"), "负数"),
    (lambda b: b["rows"][0].__setitem__(7, 2.5), "整数"),
    (lambda b: b["rows"][0].__setitem__(1, "lawsuit"), "维度"),
    (lambda b: b["rows"][0].__setitem__(len(b["rows"][0]) - 1, 1.5), "十进制"),
    (lambda b: b.__setitem__("node", "440305002"), "不符"),
    (lambda b: b.__setitem__("extra", 1), "字段"),
    (lambda b: b.__setitem__("version", 0), "version"),
    (lambda b: b["members"].__setitem__("330106", "2026-09-29T10:00:00+08:00"), "辖区"),
    (lambda b: b.__setitem__("firms", [["914403001922038216", "x", "440305", -1, 0, 0]]), "负数"),
])
def test_malformed_or_negative_snapshots_are_refused(county, mutate, message):
    body = _body()
    mutate(body)
    with county.activate(), pytest.raises(ApplyError) as exc:
        apply_snapshot(county, _delivery(county, body))
    assert message in str(exc.value)
    with county.activate():
        assert StatsRow.select().where(StatsRow.source != "440305").count() == 0
    assert _total(county) == 0


def test_snapshot_must_come_from_a_direct_child_about_itself(county):
    with county.activate():
        with pytest.raises(ApplyError, match="直接下级"):    # relayed by the child, origin a grandchild
            apply_snapshot(county, _delivery(county, _body("440305001"), sender="440305002"))
        with pytest.raises(ApplyError, match="直接下级"):    # from the parent
            apply_snapshot(county, _delivery(county, _body("440300"), role="parent"))
        with pytest.raises(ApplyError, match="目的地"):      # addressed to another node
            apply_snapshot(county, _delivery(county, _body(), dest="440300"))
        assert StatsSnapshot.select().count() == 0


def test_direct_report_from_an_undesignated_node_is_ignored(tmp_path, make_node):
    hq = make_node(tmp_path, "hq", "000000")
    with hq.activate():
        apply_direct(hq, _delivery(hq, _body("440305"), kind=DOC_DIRECT, origin="440305",
                                         sender="440000"))
        rej = list(StatsRejection.select())
        doc = query_direct(hq, {"from": "2026-09-01", "to": "2026-09-30"})
    assert [r.code for r in rej] == ["not_designated"] and "未被总局指定" in rej[0].reason
    assert doc["totals"]["cases"] == 0
    assert _total(hq) == 0


def test_designation_limits_and_refusals(tmp_path, make_node):
    hq = make_node(tmp_path, "hq", "000000")
    county = make_node(tmp_path, "county", "440305")
    from dataclasses import replace
    hq.config = replace(hq.config, stats=replace(hq.config.stats, max_direct_report_points=2))
    with hq.activate():
        designate(hq, "440305")
        designate(hq, "330106001")
        designate(hq, "440305")                     # again: no second slot taken
        with pytest.raises(Exception) as exc:
            designate(hq, "330106")
        assert exc.value.code == "too_many_points"
        with pytest.raises(Exception) as exc:
            designate(hq, "999999")
        assert exc.value.status == 422 and exc.value.field == "code"
        with pytest.raises(Exception) as exc:
            designate(hq, "000000")
        assert exc.value.field == "code"
        designate(hq, "440305", False)
        designate(hq, "330106")                     # a slot is free again
        points = direct_points(hq)
    assert {c for c, p in points.items() if p["designated"]} == {"330106001", "330106"}
    assert points["440305"]["delivered"] is False, "no link yet: kept until its branch is linked"
    with county.activate(), pytest.raises(Exception) as exc:
        designate(county, "440305001")
    assert exc.value.status == 409


def test_direct_report_admin_api(tmp_path, make_node, clock):
    from tests.conftest import ApiClient
    hq = ApiClient(make_node(tmp_path, "hq", "000000"), clock)
    resp = hq.post("/api/v1/stats/direct-report", json={"code": "440305"}, role="admin")
    assert resp.status_code == 201 and resp.get_json()["designated"] is True
    assert hq.post("/api/v1/stats/direct-report", json={"code": "440305"}, role="analyst").status_code == 403
    resp = hq.post("/api/v1/stats/direct-report", json={"code": "440305", "x": 1}, role="admin")
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "x"
    assert hq.get("/api/v1/stats/direct-report", role="leader").get_json()["items"][0]["code"] == "440305"
    assert hq.client.delete("/api/v1/stats/direct-report/440305", headers=hq.headers("admin")).status_code == 200
    resp = hq.client.delete("/api/v1/stats/direct-report/440305", headers=hq.headers("admin"))
    assert resp.status_code == 404


# -- hot spots --------------------------------------------------------------------------------------
def test_hotspots_find_a_weekly_surge_and_top_firms(county, clock):
    clock.set(datetime(2026, 9, 30, 4, 0, tzinfo=UTC))
    # last week: 1 complaint in S0601; this week: 12 → a surge; G0303 steady at 3 and 3
    create(county, case_body(day="2026-09-20", category="S0601", uscc=USCCS[1], firm="阿里巴巴（中国）网络技术有限公司"))
    for i in range(12):
        create(county, case_body(day=f"2026-09-{24 + i % 7:02d}", category="S0601", uscc=USCCS[1],
                                 firm="阿里巴巴（中国）网络技术有限公司"))
    for d in ("2026-09-18", "2026-09-19", "2026-09-22", "2026-09-25", "2026-09-26", "2026-09-27"):
        create(county, case_body(day=d, category="G0303"))
    with county.activate():
        doc = hotspots(county, {"date": "2026-09-30"})
    assert doc["week"] == {"from": "2026-09-24", "to": "2026-09-30"}
    hits = {(h["dimension"], h["value"]): h for h in doc["hotspots"]}
    assert ("category", "S0601") in hits and ("category", "G0303") not in hits
    assert hits[("category", "S0601")]["this_week"] == 12 and hits[("category", "S0601")]["last_week"] == 1
    assert ("firm", USCCS[1]) in hits and hits[("firm", USCCS[1])]["name"] == "阿里巴巴（中国）网络技术有限公司"
    assert doc["top_firms"][0]["uscc"] == USCCS[1] and doc["top_firms"][0]["cases"] == 12
    assert "泊松" in doc["rule"]["text"] and doc["rule"]["alpha"] == 0.01


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_show_table_csv_xlsx_with_chinese_headings(county, tmp_path):
    from click.testing import CliRunner

    from admin_cli.cli import cli
    create(county, case_body(day="2026-09-20"))
    create(county, case_body("report", day="2026-09-21", region="330106"))
    home = county.config.home
    runner = CliRunner()
    base = ["--home", home, "stats", "show", "--from", "2026-09-01", "--to", "2026-09-30"]
    res = runner.invoke(cli, [*base, "--group-by", "kind"])
    assert res.exit_code == 0, res.output
    assert "类别" in res.output and "投诉" in res.output and "举报" in res.output and "合计" in res.output
    res = runner.invoke(cli, [*base, "--group-by", "region", "--format", "csv"])
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("被投诉方地区代码,被投诉方地区,件数")
    assert any(line.startswith("330106,浙江省杭州市西湖区,1") for line in lines)
    assert lines[-1].startswith("合计,,2,")
    out = tmp_path / "s.xlsx"
    res = runner.invoke(cli, [*base, "--group-by", "kind,channel", "--format", "xlsx", "--output", str(out)])
    assert res.exit_code == 0, res.output
    from openpyxl import load_workbook
    ws = load_workbook(out)["统计"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[1][:5] == ["类别代码", "类别", "渠道代码", "渠道", "件数"]
    assert "涉案金额（元）" in values[1] and values[-1][0] == "合计" and values[-1][4] == 2
    res = runner.invoke(cli, [*base, "--json"])
    assert json.loads(res.output)["totals"]["cases"] == 2
    res = runner.invoke(cli, ["--home", home, "stats", "show", "--group-by", "colour"])
    assert res.exit_code != 0


def test_cli_push_status_and_direct_report_refusal(county):
    from click.testing import CliRunner

    from admin_cli.cli import cli
    create(county, case_body(day="2026-09-20"))
    home = county.config.home
    runner = CliRunner()
    res = runner.invoke(cli, ["--home", home, "stats", "push", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["local_days"] == 1 and doc["parent"] is None and doc["sent"] == 0
    res = runner.invoke(cli, ["--home", home, "stats", "status", "--json"])
    assert json.loads(res.output)["pending_days"]["parent"] == 1, "kept until a parent is linked"
    res = runner.invoke(cli, ["--home", home, "stats", "direct-report", "add", "440305001"])
    assert res.exit_code != 0
    res = runner.invoke(cli, ["--home", home, "stats", "units", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["units"] == []
    res = runner.invoke(cli, ["--home", home, "stats", "hotspots", "--date", "2026-09-30"])
    assert res.exit_code == 0 and "投诉最多的企业" in res.output
