"""F20 over real processes (RELIABILITY F20, issue 14): the county's disk fills up under a
real ``n12315 serve``. Nothing it acknowledged was not stored, what it could not store is
refused with a clear error, and it recovers without a restart when space returns.

The county's home is a small tmpfs the test mounts itself (root only; skipped otherwise) and a
filler file takes every free byte but ``SLACK``. Then waves of concurrent intake POSTs
(``/api/v1/cases``) at the county and pings pushed by its station (a real second ``serve``)
run until the disk has run out and two more waves met it. Every 2xx must be stored (each
acknowledged case readable after recovery, no refused one stored; every ping applied exactly
once, every pong back); every refusal is 503 ``storage_full`` JSON with ``Retry-After``, never
a 2xx nor a 500; the log names the full disk in one line, no traceback. The filler goes: the
same process takes cases again and drains the station's backlog. The log itself lives off the
full disk (as ``/var/log`` would), so it can say so.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from admin_cli.demo import Federation, cli_cmd, free_ports

pytestmark = [pytest.mark.process, pytest.mark.timeout(600)]

COUNTY, STATION = "440305", "440305001"
PAIR = [("county", COUNTY, "深圳市南山区市场监督管理局", None),
        ("station", STATION, "南山区粤海市场监管所", COUNTY)]
DISK_MB = 48
INTAKE_PER_WAVE = 12
PINGS_PER_WAVE = 30
MAX_WAVES = 15
SLACK = 2 * 1024 * 1024   # left free after filling: the first writes fit, then the disk is full


def _mount_tmpfs(where: Path) -> None:
    if shutil.which("mount") is None:
        pytest.skip("cannot mount a tmpfs for the full disk: no `mount` command")
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full disk: {(proc.stderr or proc.stdout).strip()}")


@pytest.fixture
def pair(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("cannot mount a tmpfs for the full disk: not root")
    disk = tmp_path / "disk"
    _mount_tmpfs(disk)
    fed = Federation(tmp_path, 0, tree=PAIR, log=lambda s: None)
    fed.nodes[COUNTY].home = disk / COUNTY     # the county's home is on the small disk
    for n, port in zip(fed.nodes.values(), free_ports(len(PAIR)), strict=True):
        n.port = port
    try:
        fed.init_all(roles=("admin", "intake"))
        # the log on another disk, as /var/log is: it can still say the data disk is full
        (disk / COUNTY / "serve.log").symlink_to(tmp_path / "county-serve.log")
        fed.start_all()
        fed.link_all()
        yield fed
    finally:
        fed.stop_all()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, slack: int) -> Path:
    """A filler file taking every free byte of ``disk`` (large writes, then small ones), then
    giving ``slack`` bytes back."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    f.write(chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
        f.truncate(max(0, f.tell() - slack))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize <= slack + 64 * 1024
    return filler


def complaint(i: int) -> dict:
    return {"kind": "complaint", "channel": "phone", "category": "S0304",
            "summary": f"满盘测试 {i} / full-disk test {i}",
            "description": "真实进程满盘测试 / real-process full-disk test " + "说明" * 400,
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": f"满盘商户{i}", "region_code": COUNTY, "address": ""}}


def pings(fed: Federation, code: str) -> dict:
    return json.loads(cli_cmd(fed.nodes[code].home, "pings", "--json").stdout)


def assert_clear_refusal(resp: requests.Response) -> None:
    """A refusal a client can act on: the JSON error shape, no traceback, and for a full disk
    503 ``storage_full`` with ``Retry-After``."""
    assert "Traceback" not in resp.text, resp.text[:500]
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.text[:300]
    err = resp.json()["error"]
    assert resp.status_code == 503 and err["code"] == "storage_full", (resp.status_code, err)
    assert int(resp.headers["Retry-After"]) > 0
    assert "磁盘" in err["message"] and "disk" in err["message"], err


def test_f20_full_disk_acknowledges_only_what_it_stored_and_recovers(pair):
    county, station = pair.nodes[COUNTY], pair.nodes[STATION]
    log_path = pair.base_dir / "county-serve.log"
    filler = fill(county.home.parent, SLACK)
    full_since = time.monotonic()

    # waves of the station's pings (pushed every 0.5 s) and concurrent intake POSTs at the
    # county, until the disk has run out and two more waves met it: both kinds of traffic
    # arrive before, at and after the last free byte
    def post(i: int) -> requests.Response:
        return pair.api(COUNTY, "POST", "/api/v1/cases", role="intake", json=complaint(i))

    station_log = station.home / "serve.log"
    answers: list[tuple[int, requests.Response]] = []
    pings_sent = after_full = 0
    for _wave in range(MAX_WAVES):
        sent = json.loads(cli_cmd(station.home, "ping", COUNTY, "--count", str(PINGS_PER_WAVE), "--json").stdout)
        assert sent["sent"] == PINGS_PER_WAVE
        pings_sent += PINGS_PER_WAVE
        numbers = range(len(answers), len(answers) + INTAKE_PER_WAVE)
        with ThreadPoolExecutor(4) as pool:   # concurrent intakes share a group commit
            answers.extend(zip(numbers, pool.map(post, numbers), strict=True))
        time.sleep(1.0)
        if any(r.status_code >= 300 for _, r in answers):
            after_full += 1
            if after_full > 2:
                break
    # the station's requests met the full disk too: its own log names each refusal it got
    deadline = time.monotonic() + 30
    push_refused = 0
    while time.monotonic() < deadline:
        push_refused = station_log.read_text(encoding="utf-8", errors="replace").count("HTTP 503 storage_full")
        if push_refused:
            break
        time.sleep(0.5)
    assert push_refused, "the full county refused the station's requests with 503 storage_full"

    acked = {i: r.json()["id"] for i, r in answers if 200 <= r.status_code < 300}
    refused = [r for i, r in answers if not 200 <= r.status_code < 300]
    for r in refused:
        assert_clear_refusal(r)
    print(f"F20 full disk: {len(answers)} intake POSTs, {len(acked)} acknowledged, {len(refused)} refused; "
          f"{pings_sent} pings pushed by the station")
    assert refused, "the full disk refused at least one intake (the fault fired)"
    assert acked, "some intakes fitted before the disk ran out (so 2xx-means-stored is tested)"

    # what the full county had stored of the station's pings (reading needs no space)
    applied_while_full = pings(pair, COUNTY)["from"].get(STATION, {}).get("count", 0)

    # space returns: no restart
    filler.unlink()
    full_for_s = time.monotonic() - full_since
    drained = False
    deadline = time.monotonic() + 120
    got: dict = {}
    while time.monotonic() < deadline:
        got = pings(pair, COUNTY)
        mine = pings(pair, STATION)
        seen = got["from"].get(STATION, {})
        if seen.get("count") == pings_sent and mine["answered"] == mine["sent"] == pings_sent:
            drained = True
            break
        assert seen.get("count", 0) <= pings_sent, f"more pings applied than sent: {seen}"
        time.sleep(0.5)
    assert drained, f"the backlog did not drain after space returned: {got}"
    seen = got["from"][STATION]
    assert seen["distinct"] == pings_sent and seen["min"] == 0 and seen["max"] == pings_sent - 1
    assert got["applied_more_than_once"] == []

    stored = 0
    for i, case_id in acked.items():
        r = pair.api(COUNTY, "GET", f"/api/v1/cases/{case_id}")
        assert r.status_code == 200, f"case {i} was acknowledged as {case_id} but is not stored: {r.text[:200]}"
        assert r.json()["summary"].startswith(f"满盘测试 {i} ")
        stored += 1
    # a refused intake is sent again and now taken: the node writes again without a restart
    again = pair.api(COUNTY, "POST", "/api/v1/cases", role="intake", json=complaint(len(answers)))
    assert again.status_code == 201, again.text[:300]
    listed = pair.api(COUNTY, "GET", "/api/v1/cases", params={"limit": 200}).json()["items"]
    mine = {c["id"] for c in listed if c["summary"].startswith("满盘测试 ")}
    assert mine == set(acked.values()) | {again.json()["id"]}, "a refused case was stored, or a stored one lost"
    assert county.proc is not None and county.proc.poll() is None, "recovered without a restart"

    log = log_path.read_text(encoding="utf-8", errors="replace")
    print(f"F20: {stored} of {len(acked)} acknowledged cases stored, none of the {len(refused)} refused; "
          f"station push/pull refused {push_refused}x with 503 storage_full; pings applied while full "
          f"{applied_while_full}, after recovery {seen['count']} of {pings_sent}, each once; pongs back {pings_sent}")
    assert "Traceback (most recent call last)" not in log, log[-3000:]
    notices = log.count("storage full (database or disk is full)")
    # one line a minute while full, however many requests it refused (here, well under a minute)
    assert 1 <= notices <= 1 + int(full_for_s // 60), (notices, full_for_s)
