"""Fresh figures at HQ (issue 15 item 4, P6; F21 kept): a case taken at a station is counted
at HQ within a minute, with the default configuration and no command, through the
``stats.forward`` job (``node/stats/forward.py``); a burst is coalesced to a handful of
snapshots per tier; ``n12315 stats push --wait S`` returns once the parent holds the snapshot
and fails with a message when it does not in time.

The in-process harness (tests/network/harness.py) with ``serve``'s scheduler played on its
fake clock: every job of the statistics and replication domains runs at the interval its
spec gives, from the node's default level configuration. Every test runs on SQLite and on
PostgreSQL (``network_db_url``).
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from node import jobs
from node.divisions import load_divisions
from node.stats.models import StatsSnapshot, StatsState
from node.stats.queries import query
from node.stats.rollup import rollup
from tests.network.conftest import CHAIN, build, network_db_url, seed  # noqa: F401  (fixtures)
from tests.network.harness import Network
from tests.node.stats.test_stats import case_body, create

DIV = load_divisions()
RANGE = {"from": "2026-09-01", "to": "2026-09-30"}
DAY = "2026-09-29"            # the harness clock's day in Shanghai
SERVE_JOBS = ("stats.rollup", "stats.forward", "replication.push", "replication.pull")


class Scheduler:
    """``serve``'s APScheduler played on the harness clock: each job at its spec's interval
    (first run one interval after start; the boot run is the test's ``boot``)."""

    def __init__(self, net: Network):
        self.net = net
        self.runs: Counter = Counter()
        self.jobs: list[list] = []
        now = net.clock()
        for code, node in net.nodes.items():
            for job_id, interval, fn in jobs.specs(node):
                if job_id in SERVE_JOBS:
                    every = max(0.5, interval(node))
                    self.jobs.append([now + timedelta(seconds=every), code, job_id, every, fn])

    def step(self, seconds: float = 1.0) -> None:
        self.net.clock.advance(seconds)
        now = self.net.clock()
        # deepest first, as the threads of five processes would race anyway
        for job in sorted(self.jobs, key=lambda j: (j[0], -len(j[1]))):
            if job[0] <= now:
                node = self.net.nodes[job[1]]
                with node.activate():
                    job[4](node)
                self.runs[(job[1], job[2])] += 1
                while job[0] <= now:
                    job[0] += timedelta(seconds=job[3])


def depth(code: str) -> int:
    return len(DIV.chain(code))


def boot(net: Network) -> None:
    """What ``serve`` does at start (every job once): roll up bottom-up, settle."""
    for _ in range(5):
        for code in sorted(net.nodes, key=lambda c: -depth(c)):
            node = net.nodes[code]
            with node.activate():
                rollup(node)
        net.settle(rounds=50)


def cases_at(net: Network, code: str) -> int:
    node = net.nodes[code]
    with node.activate():
        return query(node, RANGE)["totals"]["cases"]


def version(net: Network, code: str) -> int:
    """The node's snapshot counter (``n12315 stats status``): one step per snapshot built."""
    node = net.nodes[code]
    with node.activate():
        return int(StatsState.get_value("version", "0") or 0)


@pytest.fixture
def chain(tmp_path, seed, network_db_url):  # noqa: F811  (fixtures imported above)
    """Station → county → prefecture → province → HQ, default level configurations."""
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    build(net, CHAIN, {"440000": "000000", "440300": "440000", "440305": "440300", "440305001": "440305"})
    boot(net)
    yield net
    net.close()


def wait_at(net: Network, sched: Scheduler, code: str, want: int, limit_s: int) -> int:
    """Step the scheduler a second at a time until ``code`` counts ``want``; the seconds."""
    for second in range(1, limit_s + 1):
        sched.step(1.0)
        if cases_at(net, code) == want:
            return second
    raise AssertionError(f"{code} counts {cases_at(net, code)} cases, not {want}, after {limit_s} s")


def test_a_case_at_a_station_is_counted_at_hq_within_a_minute(chain):
    net = chain
    hq = net.nodes["000000"]
    assert hq.config.stats.rollup_interval_s >= 300 and net.nodes["440305001"].config.stats.forward_debounce_s == 5
    sched = Scheduler(net)
    before = {code: cases_at(net, code) for code in net.nodes}
    assert set(before.values()) == {0}
    create(net.nodes["440305001"], case_body(day=DAY))
    seconds = wait_at(net, sched, "000000", 1, limit_s=120)
    print(f"station → HQ (5 levels, in-process, fake clock): {seconds} s")
    assert seconds < 60
    # the scheduled rollups (every 300 s, HQ 600 s) never ran: the debounced forward did it
    assert not [k for k, n in sched.runs.items() if k[1] == "stats.rollup" and n]
    # and the figure is exact at every tier, once (F21) though the route holds copies
    for _ in range(10):
        sched.step(1.0)
    assert {code: cases_at(net, code) for code in net.nodes} == {code: 1 for code in net.nodes}
    # a case taken in the middle of the tree goes up as fast
    create(net.nodes["440300"], case_body(day=DAY, region="440304"))
    seconds = wait_at(net, sched, "000000", 2, limit_s=120)
    assert seconds < 60
    assert cases_at(net, "440305") == 1 and cases_at(net, "440300") == 2


def test_without_the_forward_job_hq_waits_for_the_intervals(chain):
    """The control: the same chain with ``stats.forward`` left out of the schedule does not
    reach HQ within the minute (what issue 15 measured: up to four rollup intervals)."""
    net = chain
    sched = Scheduler(net)
    sched.jobs = [j for j in sched.jobs if j[2] != "stats.forward"]
    create(net.nodes["440305001"], case_body(day=DAY))
    with pytest.raises(AssertionError, match="not 1"):
        wait_at(net, sched, "000000", 1, limit_s=90)


def test_a_burst_is_one_snapshot_per_tier_not_one_per_case(chain):
    net = chain
    sched = Scheduler(net)
    n = 1000
    chain_codes = [c for _, c in CHAIN]
    v0 = {code: version(net, code) for code in chain_codes}
    station = net.nodes["440305001"]
    # 1,000 cases over three seconds of the clock: the forward job sees new work at three
    # of its looks, and the debounce makes that one round
    for i in range(n):
        create(station, case_body(day=DAY, summary=f"批量投诉 {i}"))
        if i % 100 == 99:
            sched.step(0.3)
    seconds = wait_at(net, sched, "000000", n, limit_s=120)
    for _ in range(15):          # let any straggling round happen before counting
        sched.step(1.0)
    sent = {code: version(net, code) - v0[code] for code in chain_codes}
    print(f"burst of {n} cases: HQ counted all after {seconds} s; snapshots built per node: {sent}")
    assert seconds < 60
    assert sent["000000"] == 0                      # HQ sends nowhere
    # one snapshot of the day per tier for the whole burst, not one per case or per look
    assert all(sent[c] == 1 for c in ("440305001", "440305", "440300", "440000")), sent
    assert {code: cases_at(net, code) for code in chain_codes} == {code: n for code in chain_codes}


# -- n12315 stats push --wait ------------------------------------------------------------------
@pytest.fixture
def pair(tmp_path, seed, network_db_url, monkeypatch):  # noqa: F811
    """A county and its station; the CLI's node reaches the harness network and clock."""
    from node import home as node_home
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    build(net, [("county", "440305"), ("station", "440305001")], {"440305001": "440305"})
    real_open = node_home.open_node

    def open_in_network(home, **kw):
        node = real_open(home, **{**kw, "clock": net.clock})
        node.transport = net._session(node.code)
        return node

    monkeypatch.setattr(node_home, "open_node", open_in_network)
    yield net
    net.close()


def _held_by_parent(net: Network) -> int | None:
    county = net.nodes["440305"]
    with county.activate():
        row = (StatsSnapshot.select(StatsSnapshot.version)
               .where((StatsSnapshot.origin == "440305001") & (StatsSnapshot.day == DAY)).first())
    return None if row is None else int(row.version)


def test_stats_push_wait_returns_when_the_parent_holds_the_snapshot(pair):
    from tests.test_contract_forms import n12315
    net = pair
    station = net.nodes["440305001"]
    create(station, case_body(day=DAY))
    assert _held_by_parent(net) is None
    res = n12315("--home", str(station.config.home), "stats", "push", "--wait", "20", "--json")
    assert res.exit_code == 0, (res.stdout, res.stderr)
    doc = json.loads(res.stdout)
    assert doc["backlog"] == 0 and doc["sent"] >= 1 and doc["errors"] == []
    assert _held_by_parent(net) == version(net, "440305001")
    assert cases_at(net, "440305") == 1


def test_stats_push_wait_times_out_with_a_message(pair):
    import time

    from tests.test_contract_forms import n12315
    net = pair
    station = net.nodes["440305001"]
    create(station, case_body(day=DAY))
    net.down.add("440305")
    started = time.monotonic()
    res = n12315("--home", str(station.config.home), "stats", "push", "--wait", "1.5")
    took = time.monotonic() - started
    assert res.exit_code != 0
    assert "上级未确认" in res.stderr and "1.5 s" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert 1.4 <= took < 30, took
    assert _held_by_parent(net) is None
    # the snapshot stays queued: once the parent is back, the retry delivers it
    net.down.discard("440305")
    res = n12315("--home", str(station.config.home), "stats", "push", "--wait", "20")
    assert res.exit_code == 0, res.stderr
    assert _held_by_parent(net) == version(net, "440305001")
