"""Statistics across the tree (CONTRACT §7; R4.2; RELIABILITY rules 17-18, F14, F19, F21).

Oracle: at every tier, the totals (and the by-kind split) equal the ground truth — the cases
whose accepting node lies in that node's subtree — however the cases were placed, however
far they were routed (across branches, through HQ: every node on the route keeps a copy),
and whatever happened to the snapshots on the way (duplicated, delayed, reordered,
re-delivered as old documents). Trees are built through ``init`` and invite/join
(tests/network/conftest.py); every test runs on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date

import pytest

from federation.storage import write_tx
from node.accounts import service as users
from node.divisions import load_divisions
from node.network.transport import replicator
from node.stats.common import DOC_DIRECT, DOC_SNAPSHOT
from node.stats.direct import designate
from node.stats.models import COUNT_MEASURES, StatsRejection, StatsRow
from node.stats.queries import query, query_direct
from node.stats.rollup import rollup
from node.stats.snapshots import build_body
from node.stats.units import units
from replication import documents, outbox
from replication.models import OutboxEntry, Quarantine
from tests.network.harness import Faults
from tests.node.stats.test_stats import act, advance_case, case_body, create, random_case_body

DIV = load_divisions()
DAYS = ["2026-08-28", "2026-08-31", "2026-09-01", "2026-09-15", "2026-09-28"]
RANGE = {"from": "2026-08-01", "to": "2026-09-30"}


def depth(code: str) -> int:
    return len(DIV.chain(code))


def rollup_all(net, rounds: int | None = None, nodes=None) -> None:
    """Each node rolls up, deepest first, then the network settles; repeated per level."""
    order = sorted(nodes or net.nodes, key=lambda c: (-depth(c), c))
    for _ in range(rounds or max(depth(c) for c in net.nodes)):
        for code in order:
            if code not in net.down:
                node = net.nodes[code]
                with node.activate():
                    rollup(node)
        net.settle(rounds=200)


def truth(cases: list[dict], code: str) -> Counter:
    return Counter(c["kind"] for c in cases if DIV.is_within(c["accepting_node"], code))


def figures(net, code: str, **params) -> dict:
    node = net.nodes[code]
    with node.activate():
        return query(node, {**RANGE, **params})


def assert_every_tier_exact(net, cases: list[dict]) -> None:
    for code in net.nodes:
        doc = figures(net, code, group_by="kind")
        want = truth(cases, code)
        got = Counter({r["kind"]: r["cases"] for r in doc["rows"] if r["cases"]})
        assert doc["totals"]["cases"] == sum(want.values()), (code, doc["totals"]["cases"], want, net.seed)
        assert got == want, (code, got, want, net.seed)


def copies(net) -> int:
    """Case rows held as copies on routes, over the whole tree."""
    from node.cases.models import Case
    n = 0
    for node in net.nodes.values():
        with node.activate():
            n += Case.select().where(Case.held_as == "copy").count()
    return n


def work_on(net, case: dict, rng: random.Random) -> bool:
    """A few lifecycle steps, once, at the node holding the case as its handler (the
    handling node, or the nearest node above it when that division has no node of its
    own); False when no node holds it so yet or it was worked on already. A step that
    fails fails the test (issue 14: no swallowed errors)."""
    from node.cases.models import Case
    if case.get("worked"):
        return False
    for code, node in net.nodes.items():
        if code in net.down:
            continue
        with node.activate():
            if Case.select().where((Case.case_id == case["id"]) & (Case.held_as == "handler")).exists():
                advance_case(node, case, rng)
                case["worked"] = True
                return True
    return False


def test_every_tier_counts_each_case_once(tree):
    rng = random.Random(tree.seed)
    cases = []
    for code in tree.nodes:
        if code == "000000":
            continue
        for _ in range(3):
            cases.append(create(tree.nodes[code], random_case_body(rng, DAYS)))
    tree.settle()
    assert all(work_on(tree, c, rng) for c in cases), "every case reached its handler"
    rollup_all(tree)
    assert copies(tree) > len(cases), "routing left copies along the routes"
    assert_every_tier_exact(tree, cases)
    cov = figures(tree, "000000")["coverage"]
    assert cov["nodes_expected"] == 7 and cov["nodes_reporting"] == 7 and cov["stale"] == []
    cov = figures(tree, "440300")["coverage"]
    assert (cov["nodes_expected"], cov["nodes_reporting"]) == (2, 2)
    # the HTTP API at HQ says the same (roles analyst, leader, admin)
    hq = tree.nodes["000000"]
    with hq.activate():
        token = users.add_user("ana", "analyst", hq.now())
    resp = tree.clients["000000"].get("/api/v1/stats?from=2026-08-01&to=2026-09-30&group_by=kind",
                                     headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.get_json()["totals"]["cases"] == len(cases)
    # the snapshots carried no personal data
    for code, node in tree.nodes.items():
        with node.activate():
            leaked = [r for r in StatsRow.select().tuples() if any("张三" in str(v) or "1380000" in str(v) for v in r)]
        assert not leaked, code


def _old_snapshots(net, child: str) -> list[tuple[str, dict]]:
    node = net.nodes[child]
    with node.activate():
        return [(r.dest, json.loads(r.body))
                for r in OutboxEntry.select().where((OutboxEntry.channel == "stats")
                                                    & (OutboxEntry.doc_kind == DOC_SNAPSHOT))]


def _redeliver(net, child: str, docs: list[tuple[str, dict]]) -> int:
    """Send old signed snapshot documents again (a replay under new sequence numbers)."""
    node = net.nodes[child]
    with node.activate():
        rep = replicator(node)
        with write_tx(node.db):
            for dest, doc in docs:
                outbox.enqueue(rep, dest, "stats", doc, [child], node.now())
    return len(docs)


# Three random schedules on SQLite, the first on PostgreSQL too: what varies between them is the
# seed, not the database (and each PostgreSQL tree costs the suite seconds).
@pytest.mark.parametrize(("variant", "db_backend"), [
    (0, "sqlite"), (1, "sqlite"), (2, "sqlite"),
    pytest.param(0, "postgresql", marks=pytest.mark.postgres),
], indirect=["db_backend"])
def test_f21_property_random_placements_duplicate_and_late_rollups(variant, tree):
    """F21: random placements, status changes, copies; snapshots duplicated, delayed,
    reordered, responses lost, old documents re-delivered; random rollup order. Every
    tier ends equal to the ground truth; stale versions are ignored, never added."""
    rng = random.Random(tree.seed * 10 + variant)
    codes = [c for c in tree.nodes if c != "000000"]
    cases: list[dict] = []
    saved: dict[str, list[tuple[str, dict]]] = {}
    for _round in range(4):
        for code in codes:
            tree.faults[code] = Faults(duplicate=rng.choice((0, 0.5)), drop_response=rng.choice((0, 0.3)),
                                       hold=rng.choice((0, 0.3)))
        for _ in range(rng.randint(3, 8)):
            cases.append(create(tree.nodes[rng.choice(codes)], random_case_body(rng, DAYS)))
        for c in rng.sample(cases, min(len(cases), 4)):
            work_on(tree, c, rng)
        for code in rng.sample(codes, rng.randint(1, len(codes))):
            node = tree.nodes[code]
            with node.activate():
                rollup(node)
            saved.setdefault(code, []).extend(_old_snapshots(tree, code))
        for _ in range(rng.randint(1, 3)):
            for code in rng.sample(list(tree.nodes), len(tree.nodes)):
                tree.sync(code)
            tree.release_held(shuffle=True)
            tree.clock.advance(rng.randint(1, 120))
    # replay old snapshot documents from a few nodes (late arrivals of lower versions)
    replayed = 0
    for code in rng.sample(sorted(saved), min(3, len(saved))):
        replayed += _redeliver(tree, code, rng.sample(saved[code], min(5, len(saved[code]))))
    tree.faults.clear()
    tree.release_held()
    rollup_all(tree)
    tree.release_held()
    rollup_all(tree, rounds=1)
    assert_every_tier_exact(tree, cases)
    assert sum(tree.stats.values()) > 0, "the faults were exercised"
    assert copies(tree) > 0
    if replayed:
        ignored = 0
        for node in tree.nodes.values():
            with node.activate():
                ignored += StatsRejection.select().where(StatsRejection.code.in_(["stale_version", "duplicate"])).count()
        assert ignored > 0, "the replayed documents were seen and ignored"
    for node in tree.nodes.values():
        with node.activate():
            assert Quarantine.select().where(Quarantine.state == "held").count() == 0


def test_direct_report_points_are_shown_apart(tree):
    hq = tree.nodes["000000"]
    rng = random.Random(tree.seed)
    cases = [create(tree.nodes[code], random_case_body(rng, DAYS))
             for code in ("440305", "440305001", "440305", "330106", "440300")]
    with hq.activate():
        point = designate(hq, "440305")
    assert point["delivered"] is True
    tree.settle()
    rollup_all(tree)
    with hq.activate():
        direct = query_direct(hq, {**RANGE, "group_by": "node"})
        national = query(hq, RANGE)
    assert national["totals"]["cases"] == len(cases), "direct reports never count twice"
    assert direct["totals"]["cases"] == sum(truth(cases, "440305").values()) == 3
    assert [(r["node"], r["cases"]) for r in direct["rows"]] == [("440305", 3)]
    assert direct["coverage"]["nodes_reporting"] == 1
    assert_every_tier_exact(tree, cases)

    # a direct snapshot from a node HQ never designated: relayed, then ignored at HQ
    rogue = tree.nodes["330106"]
    with rogue.activate():
        rep = replicator(rogue)
        with write_tx(rogue.db):
            body = build_body(rogue, date(2026, 9, 15), 999, rogue.now(), None)
            doc = documents.create(DOC_DIRECT, channel="stats", origin="330106", dest="000000", body=body,
                                   keypair=rogue.keypair, now=rogue.now())
            outbox.enqueue(rep, "330100", "stats", doc, ["330106"], rogue.now())
    tree.settle()
    with hq.activate():
        rej = [r for r in StatsRejection.select() if r.origin == "330106"]
        direct = query_direct(hq, {**RANGE, "group_by": "node"})
        assert query(hq, RANGE)["totals"]["cases"] == len(cases)
    assert [r.code for r in rej] == ["not_designated"]
    assert {r["node"] for r in direct["rows"]} == {"440305"}

    # withdrawn: new figures of 440305 reach HQ through the tree only
    with hq.activate():
        designate(hq, "440305", False)
    tree.settle()
    cases.append(create(tree.nodes["440305"], case_body(day="2026-09-15")))
    rollup_all(tree)
    with hq.activate():
        assert query_direct(hq, RANGE)["totals"]["cases"] == 3
    assert_every_tier_exact(tree, cases)


def test_snapshot_from_outside_the_subtree_is_refused(tree):
    """F14 for rollups: a document whose origin lies outside the sending child's subtree is
    refused at the first hop (quarantine, with the reason) and never counted."""
    cases = [create(tree.nodes["440305"], case_body(day="2026-09-15"))]
    rollup_all(tree)
    outsider = tree.nodes["330106"]
    county = tree.nodes["440305"]
    with outsider.activate():
        body = build_body(outsider, date(2026, 9, 15), 10**6, outsider.now(), None)
        body["rows"] = [["accepted", "complaint", "web", "G0303", "general", "registered", "330106",
                         50, *[0] * (len(COUNT_MEASURES) - 1), "0.00", "0.00"]]
    doc = documents.create(DOC_SNAPSHOT, channel="stats", origin="330106", dest="440300", body=body,
                           keypair=outsider.keypair, now=outsider.now())
    with county.activate():
        rep = replicator(county)
        with write_tx(county.db):
            outbox.enqueue(rep, "440300", "stats", doc, ["330106", "440305"], county.now())
    tree.settle(rounds=3, must_converge=False)   # it cannot drain: the channel waits behind the refused document
    pref = tree.nodes["440300"]
    with pref.activate():
        held = list(Quarantine.select().where(Quarantine.state == "held"))
    assert len(held) == 1 and "outside" in held[0].error
    assert figures(tree, "440300")["totals"]["cases"] == 1
    # the admin skips it (audited); the channel flows again and the totals stay exact
    from replication.quarantine import skip
    with pref.activate():
        skip(replicator(pref), held[0].id, "test", "伪造的快照 / forged snapshot")
    cases.append(create(county, case_body(day="2026-09-16")))
    rollup_all(tree)
    assert_every_tier_exact(tree, cases)


def test_stale_nodes_are_named_in_coverage(tree):
    rollup_all(tree)
    tree.clock.advance(25 * 3600)
    rollup_all(tree, nodes=[c for c in tree.nodes if c != "440305001"])
    for code in ("000000", "440000", "440300", "440305"):
        cov = figures(tree, code)["coverage"]
        assert cov["stale"] == ["440305001"], (code, cov)
        assert cov["nodes_reporting"] == cov["nodes_expected"] - 1
    assert figures(tree, "330000")["coverage"]["stale"] == []


def test_unit_performance_ranks_subordinate_units(tree):
    good, bad = tree.nodes["330106"], tree.nodes["440305"]
    for _ in range(3):
        c = create(good, case_body(day="2026-09-28", region="330106"))
        act(good, c["id"], action="accept")
        act(good, c["id"], action="conclude", outcome="mediated", amount_recovered="10.05")
        act(good, c["id"], action="feedback", satisfaction="satisfied")
    c = create(bad, case_body(day="2026-09-28"))
    act(bad, c["id"], action="accept")
    act(bad, c["id"], action="conclude", outcome="not_mediated", reason=_end_ground())
    act(bad, c["id"], action="feedback", satisfaction="dissatisfied")
    rollup_all(tree)
    hq = tree.nodes["000000"]
    with hq.activate():
        doc = units(hq, RANGE)
    by = {u["code"]: u for u in doc["units"]}
    assert [u["code"] for u in doc["units"]] == ["330000", "440000"]
    assert by["330000"]["rank"] == 1 and by["330000"]["mediation_success_rate"] == 1.0
    assert by["330000"]["amount_recovered"] == "30.15" and by["330000"]["satisfaction_rate"] == 1.0
    assert by["440000"]["mediation_success_rate"] == 0.0 and by["440000"]["cases_taken"] == 1
    assert by["440000"]["acceptance_rate"] == 1.0 and by["440000"]["on_time_acceptance_rate"] == 1.0
    assert "ranking_rule" in doc and doc["coverage"]["nodes_expected"] == 7


def _end_ground() -> str:
    from node.cases import standard
    return next(iter(standard.MEDIATION_END_GROUNDS))


def test_revoked_child_figures_leave_the_totals(tree):
    """A subtree counts under its current parent only (F19): once the prefecture revokes
    the county, the county's figures leave the prefecture's and everyone above."""
    cases = [create(tree.nodes[code], case_body(day="2026-09-15")) for code in ("440305", "440305001", "440300")]
    rollup_all(tree)
    assert figures(tree, "000000")["totals"]["cases"] == 3
    pref = tree.nodes["440300"]
    from federation import links
    with pref.activate():
        links.revoke_link("440305", "test", pref.keypair, pref.now(), DIV.is_within)
    rollup_all(tree)
    assert figures(tree, "440300")["totals"]["cases"] == 1
    assert figures(tree, "000000")["totals"]["cases"] == 1
    assert figures(tree, "440300")["coverage"]["nodes_expected"] == 0
    del cases


def test_heartbeat_keeps_an_idle_child_fresh(tree):
    rollup_all(tree)
    tree.clock.advance(23 * 3600)
    rollup_all(tree)                    # nothing changed, but the heartbeat goes up
    tree.clock.advance(23 * 3600)
    assert figures(tree, "000000")["coverage"]["stale"] == []
