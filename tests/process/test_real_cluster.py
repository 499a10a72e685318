"""Real processes: a five-level chain of ``n12315 serve`` on 127.0.0.1, wired by the CLI,
with a fault proxy in front of the county (RELIABILITY F1-F8, F23, F24).

The oracle is the ping log: every ping a node sent is applied exactly once at its
destination (``n12315 pings --json``: every sequence number once, none twice) and its
pong comes back. One cluster serves the whole module; each test leaves it healthy.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from admin_cli.demo import TREE, Federation, cli_cmd, free_ports
from tests.process.proxy import FaultProxy

pytestmark = [pytest.mark.process, pytest.mark.timeout(600)]

CHAIN = TREE[:5]   # the demo's Guangdong branch: HQ → province → prefecture → county → station




@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    ports = free_ports(len(CHAIN) + 1)
    proxy_port = ports[-1]
    fed = Federation(base, 0, tree=CHAIN, log=lambda s: None, public_ports={"440305": proxy_port})
    for i, n in enumerate(fed.nodes.values()):
        n.port = ports[i]
    proxy = FaultProxy(proxy_port, fed.nodes["440305"].port)
    try:
        fed.init_all(roles=("admin",))
        fed.start_all()
        fed.link_all()
        fed.proxy = proxy
        yield fed
    finally:
        fed.stop_all()
        proxy.close()


def pings(fed: Federation, code: str) -> dict:
    return json.loads(cli_cmd(fed.nodes[code].home, "pings", "--json").stdout)


def send_pings(fed: Federation, src: str, dst: str, count: int) -> dict:
    return json.loads(cli_cmd(fed.nodes[src].home, "ping", dst, "--count", str(count), "--json").stdout)


def wait_exactly_once(fed: Federation, src: str, dst: str, total: int, timeout: float = 120,
                      poll_s: float = 0.5) -> dict:
    """Wait until ``dst`` has every ping ``src`` ever sent, and ``src`` every pong. Each look
    runs two CLI processes (about a second of CPU): long waits look less often, so the
    measuring does not slow down what it measures."""
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        got = pings(fed, dst)
        mine = pings(fed, src)
        last = {"dst": got, "src": mine}
        seen = got["from"].get(src, {})
        if seen.get("count") == total and mine["answered"] == mine["sent"]:
            assert seen["distinct"] == total and seen["min"] == 0 and seen["max"] == total - 1
            assert got["applied_more_than_once"] == []
            return got
        assert seen.get("count", 0) <= total, f"more pings applied than sent: {seen}"
        time.sleep(poll_s)
    raise AssertionError(f"not delivered exactly once within {timeout}s: {last}")


def test_five_level_chain_linked_by_cli_carries_documents_both_ways(cluster):
    rows = json.loads(cli_cmd(cluster.nodes["440305"].home, "link", "list", "--json").stdout)
    assert {(r["code"], r["role"], r["state"]) for r in rows} == {("440300", "parent", "active"),
                                                                  ("440305001", "child", "active")}
    send_pings(cluster, "440305001", "000000", 20)
    send_pings(cluster, "000000", "440305001", 20)
    wait_exactly_once(cluster, "440305001", "000000", 20)
    wait_exactly_once(cluster, "000000", "440305001", 20)
    status = json.loads(cli_cmd(cluster.nodes["440305"].home, "status", "--json").stdout)
    assert status["node"]["code"] == "440305" and len(status["links"]) == 2


def _total_sent(fed: Federation, src: str, dst: str = "000000") -> int:
    return pings(fed, src)["sent_to"].get(dst, 0)


@pytest.mark.parametrize("mode", ["drop_request", "drop_response", "duplicate"])
def test_f1_f2_f3_faults_between_real_processes(cluster, mode):
    """F1 request dropped, F2 response lost after commit, F3 the same batch twice at once."""
    cluster.proxy.mode = mode
    try:
        before = cluster.proxy.counts.get(mode, 0)
        send_pings(cluster, "440305001", "000000", 30)
        deadline = time.monotonic() + 30
        while cluster.proxy.counts.get(mode, 0) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cluster.proxy.counts.get(mode, 0) >= before + 3, "the fault was exercised"
    finally:
        cluster.proxy.mode = "pass"
    wait_exactly_once(cluster, "440305001", "000000", _total_sent(cluster, "440305001"))


def test_f24_tampered_body_refused_then_delivered_untampered(cluster):
    county_log = cluster.nodes["440305"].home / "serve.log"
    before = county_log.read_text(encoding="utf-8", errors="replace").count("digest_mismatch")
    cluster.proxy.mode = "tamper"
    try:
        send_pings(cluster, "440305001", "000000", 5)
        deadline = time.monotonic() + 30
        refused = 0
        while time.monotonic() < deadline:
            refused = county_log.read_text(encoding="utf-8", errors="replace").count("digest_mismatch") - before
            if refused:
                break
            time.sleep(0.3)
        assert refused, "the county refused the tampered push (content digest)"
    finally:
        cluster.proxy.mode = "pass"
    wait_exactly_once(cluster, "440305001", "000000", _total_sent(cluster, "440305001"))


def test_f23_captured_request_replayed_later_is_refused(cluster):
    cluster.proxy.captured.clear()
    send_pings(cluster, "440305001", "000000", 3)
    wait_exactly_once(cluster, "440305001", "000000", _total_sent(cluster, "440305001"))
    pushes = [c for c in cluster.proxy.captured if c.path == "/federation/v1/push"]
    assert pushes
    resp = cluster.proxy.replay(pushes[0])
    assert resp.status_code == 401 and resp.json()["error"]["code"] in ("replayed", "stale")
    received = pings(cluster, "000000")
    assert received["applied_more_than_once"] == []


def test_f6_sigkill_mid_sync_loses_and_doubles_nothing(cluster):
    county = cluster.nodes["440305"]
    total_before = _total_sent(cluster, "440305001")
    send_pings(cluster, "440305001", "000000", 600)
    time.sleep(0.7)                      # mid-drain: some batches applied, some in flight
    cluster.stop("440305", sig=signal.SIGKILL)
    time.sleep(0.5)
    cluster.start("440305")
    cluster.wait_healthy("440305")
    cluster.stop("440300", sig=signal.SIGKILL)   # and the next hop too
    cluster.start("440300")
    cluster.wait_healthy("440300")
    wait_exactly_once(cluster, "440305001", "000000", total_before + 600, timeout=240)
    assert county.proc is not None


def test_f4_held_back_pushes_delivered_late_newest_first(cluster):
    """F4: pushes held back in the network (the sender times out and retries) arrive late and
    newest first, after their retries went through: applied once, in the order sent."""
    total = _total_sent(cluster, "440305001")
    cluster.proxy.mode = "hold"
    try:
        send_pings(cluster, "440305001", "000000", 10)
        deadline = time.monotonic() + 60
        while len(cluster.proxy.held) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(cluster.proxy.held) >= 2, "the station retried while its pushes were held"
    finally:
        cluster.proxy.mode = "pass"
    wait_exactly_once(cluster, "440305001", "000000", total + 10)
    statuses = cluster.proxy.release_held()
    assert statuses and all(code == 200 for code in statuses), statuses   # answered as duplicates
    got = wait_exactly_once(cluster, "440305001", "000000", total + 10)
    assert got["from"]["440305001"]["in_order"]
    county = pings(cluster, "440305")
    assert county["applied_more_than_once"] == []


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_f5_station_offline_then_drains_both_ways(cluster):
    """F5: the station is off while documents queue both ways (its own pings are committed by
    the CLI into its database while ``serve`` is down). It comes back and drains both ways,
    with the county's retry delay within the cap and bounded memory; the drain time is
    printed (``N12315_F5_PINGS`` pings each way, default 2,000; 10,000 in BENCHMARKS.md)."""
    n = int(os.environ.get("N12315_F5_PINGS", "2000"))
    station, county = cluster.nodes["440305001"], cluster.nodes["440305"]
    to_station = _total_sent(cluster, "440305", "440305001")
    to_county = _total_sent(cluster, "440305001", "440305")
    cluster.stop("440305001")
    try:
        send_pings(cluster, "440305001", "440305", n)
        send_pings(cluster, "440305", "440305001", n)
        deadline = time.monotonic() + 60
        row: dict = {}
        while time.monotonic() < deadline:
            status = json.loads(cli_cmd(county.home, "status", "--json").stdout)
            row = next(r for r in status["links"] if r["code"] == "440305001")
            if row["backlog"] >= n and row["last_error"] and row["next_try_at"]:
                break
            time.sleep(0.5)
        assert row["backlog"] >= n and row["last_error"], row
        # the cluster runs with a 5 s backoff cap (the default is an hour): never longer than that
        wait_s = (datetime.fromisoformat(row["next_try_at"]) - datetime.now(UTC)).total_seconds()
        assert wait_s <= 5 * 1.25 + 1, row
    finally:
        started = time.monotonic()
        cluster.start("440305001")
        cluster.wait_healthy("440305001")
    poll_s = max(0.5, n / 2000)
    wait_exactly_once(cluster, "440305", "440305001", to_station + n, timeout=300, poll_s=poll_s)
    wait_exactly_once(cluster, "440305001", "440305", to_county + n, timeout=300, poll_s=poll_s)
    drained = time.monotonic() - started
    peak = _vm_hwm_mb(station.proc.pid)
    print(f"F5 drain: {n} pings each way ({4 * n} documents over the link) in {drained:.1f} s "
          f"after the station returned; station peak RSS {peak:.0f} MB")
    assert peak < 400, f"memory grew with the backlog: {peak:.0f} MB"


ACK_SENT = re.compile(r'^(\d+) +sendto\(.*\\"acked\\":(\d+),.*\\"applied\\":(\d+)')
WAL_SYNCED = re.compile(r'^(\d+) +f(?:data)?sync\(\d+<[^>]*node\.db-wal>\) += 0')
WAL_SYNC_STARTED = re.compile(r'^(\d+) +f(?:data)?sync\(\d+<[^>]*node\.db-wal> <unfinished')
SYNC_RESUMED = re.compile(r'^(\d+) +<\.\.\. f(?:data)?sync resumed>\) += 0')


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed: F7 needs a syscall trace")
def test_f7_acknowledgement_leaves_only_after_the_commit_is_on_disk(cluster):
    """F7: power lost after a commit that was not on disk must find no acknowledgement sent
    for it. We cannot cut the power, but we can watch the real county process's system calls:
    every push answer that acknowledges newly applied documents is sent only after the
    write-ahead log was synced to disk (``synchronous=FULL``) since the previous answer."""
    county = cluster.nodes["440305"]
    trace = county.home.parent / "county.strace"
    cluster.stop("440305")
    cluster.start("440305", wrap=["strace", "-f", "-y", "-s", "512", "--seccomp-bpf",
                                  "-e", "trace=fdatasync,fsync,sendto", "-o", str(trace)])
    try:
        cluster.wait_healthy("440305", timeout=60)
        total = _total_sent(cluster, "440305001", "440305")
        for _ in range(4):
            send_pings(cluster, "440305001", "440305", 20)
            time.sleep(1.5)
        wait_exactly_once(cluster, "440305001", "440305", total + 80)
    finally:
        cluster.stop("440305")
        cluster.start("440305")
        cluster.wait_healthy("440305")
    synced_since_last_ack = False
    acks = 0
    syncing: set[str] = set()   # threads inside a WAL sync that strace split over two lines
    for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
        if WAL_SYNCED.match(line):
            synced_since_last_ack = True
            continue
        if (started := WAL_SYNC_STARTED.match(line)) is not None:
            syncing.add(started.group(1))
            continue
        if (resumed := SYNC_RESUMED.match(line)) is not None and resumed.group(1) in syncing:
            syncing.discard(resumed.group(1))
            synced_since_last_ack = True
            continue
        sent = ACK_SENT.match(line)
        if sent and int(sent.group(3)) > 0:
            assert synced_since_last_ack, f"acknowledged before the commit reached the disk: {line[:200]}"
            synced_since_last_ack = False
            acks += 1
    assert acks >= 2, f"the trace shows {acks} push answers that applied documents"


def test_f8_node_restored_from_an_old_backup_starts_a_new_epoch(cluster):
    station = cluster.nodes["440305001"]
    before = pings(cluster, "440305")["from"].get("440305001", {}).get("count", 0)
    sent_before = pings(cluster, "440305001")["sent"]
    cluster.stop("440305001")
    backup = station.home.parent / "station-backup.db"
    shutil.copy(station.home / "node.db", backup)
    cluster.start("440305001")
    cluster.wait_healthy("440305001")
    send_pings(cluster, "440305001", "440305", 10)
    time.sleep(3)
    cluster.stop("440305001")
    # the disk is replaced; last night's backup comes back
    for suffix in ("", "-wal", "-shm"):
        Path(str(station.home / "node.db") + suffix).unlink(missing_ok=True)
    shutil.copy(backup, station.home / "node.db")
    cluster.start("440305001")
    cluster.wait_healthy("440305001")
    sent_after = send_pings(cluster, "440305001", "440305", 10)
    assert sent_after["sent"] == 10
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = pings(cluster, "440305")
        if got["from"].get("440305001", {}).get("count", 0) >= before + 20:
            break
        time.sleep(0.5)
    got = pings(cluster, "440305")
    assert got["from"]["440305001"]["count"] == before + 20, "post-restore pings were not silently deduplicated"
    assert got["applied_more_than_once"] == []
    log = (station.home / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "new epoch" in log
    # As a receiver the restored station had lost the pongs of the first ten pings, which the
    # county had already deleted as acknowledged: it must not wait for them forever, but
    # take the pongs of the new pings and name the loss (protocol 1.2 acked_before).
    deadline = time.monotonic() + 60
    mine = pings(cluster, "440305001")
    while mine["answered"] < mine["sent"] and time.monotonic() < deadline:
        time.sleep(0.5)
        mine = pings(cluster, "440305001")
    assert mine["sent"] == mine["answered"] == sent_before + 10, mine
    status = json.loads(cli_cmd(station.home, "status", "--json").stdout)
    assert any("restore gap" in w and "440305" in w for w in status["warnings"]), status["warnings"]
