"""``n12315 backup`` while ``serve`` takes cases, ``restore`` into an empty home (CONTRACT §11;
issue 13 item 7): every case acknowledged before the backup began is in the restored node,
which starts a new replication epoch (F8); the file is sealed (nothing readable without the
passphrase, no key inside unless asked)."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.ops.procs import CHECKOUT_CLI, clean_env, free_port, ok, run, serving

PASS = {"N12315_BACKUP_PASSPHRASE": "correct horse battery staple"}
PHONE = "13912345678"


def case_body(i: int) -> dict:
    return {"kind": "complaint", "report_target": None, "channel": "phone",
            "received_at": "2026-09-29T10:00:00+08:00", "urgency": "general",
            "complainant": {"name": "王备份", "phone": PHONE, "address": "深圳市南山区", "anonymous": False},
            "respondent": {"name": f"深圳市某电器有限公司{i}", "uscc": "914403001922038216", "region_code": "440305",
                           "address": "深圳市南山区"},
            "category": "G0303", "summary": f"空调不制冷 {i}", "description": "安装后不制冷", "amount": "1299.00",
            "extensions": {}}


@pytest.fixture
def county(tmp_path) -> Path:
    home = tmp_path / "county"
    ok(run(CHECKOUT_CLI, home, "init", "--level", "county", "--code", "440305", "--name", "南山区局",
           "--url", "http://127.0.0.1:1"))
    return home


def case_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / "node.db") as db:
        return {row[0] for row in db.execute("SELECT case_id FROM \"case\"")}


def epoch(home: Path) -> str:
    with sqlite3.connect(home / "node.db") as db:
        return db.execute("SELECT value FROM local_state WHERE key = 'epoch'").fetchone()[0]


@pytest.mark.process
@pytest.mark.timeout(600)
def test_backup_while_serving_keeps_every_acknowledged_case(county, tmp_path):
    token = ok(run(CHECKOUT_CLI, county, "user", "add", "intake1", "--role", "intake")).stdout.strip().splitlines()[-1]
    acked: list[tuple[float, str]] = []
    stop = threading.Event()
    errors: list[str] = []

    def intake(url: str) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            resp = session.post(url + "/api/v1/cases", json=case_body(i), timeout=30,
                                headers={"Authorization": f"Bearer {token}"})
            if resp.status_code != 201:
                errors.append(f"{resp.status_code} {resp.text[:200]}")
                return
            acked.append((time.monotonic(), resp.json()["id"]))

    backup = tmp_path / "out" / "county.n12315-backup"
    backup.parent.mkdir()
    with serving(CHECKOUT_CLI, county, free_port()) as url:
        worker = threading.Thread(target=intake, args=(url,))
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while len(acked) < 20 and time.monotonic() < deadline and not errors:
                time.sleep(0.1)
            started = time.monotonic()
            record = json.loads(ok(run(CHECKOUT_CLI, county, "backup", "--to", str(backup), "--json",
                                       env=clean_env(**PASS))).stdout)
            time.sleep(1)            # cases keep flowing after the backup: they must not matter
        finally:
            stop.set()
            worker.join(60)
    assert not errors, errors
    before = {cid for at, cid in acked if at < started}
    assert len(before) >= 20 and len(acked) > len(before), "cases flowed before and during the backup"
    assert record["file"] == str(backup) and record["with_keys"] is False

    sealed = backup.read_bytes()
    assert PHONE.encode() not in sealed and "王备份".encode() not in sealed and b"PRIVATE KEY" not in sealed

    # a backup without keys needs the old keys folder; without it restore refuses and writes nothing
    restored = tmp_path / "restored"
    refused = run(CHECKOUT_CLI, restored, "restore", "--from", str(backup), env=clean_env(**PASS))
    assert refused.returncode != 0 and "--keys-from" in refused.stderr and not restored.exists()
    wrong = run(CHECKOUT_CLI, restored, "restore", "--from", str(backup), "--keys-from", str(county / "keys"),
                env=clean_env(N12315_BACKUP_PASSPHRASE="wrong"))
    assert wrong.returncode != 0 and "passphrase" in wrong.stderr and not restored.exists()

    doc = json.loads(ok(run(CHECKOUT_CLI, restored, "restore", "--from", str(backup), "--keys-from",
                            str(county / "keys"), "--json", env=clean_env(**PASS))).stdout)
    got = case_ids(restored)
    assert before <= got, f"lost acknowledged cases: {sorted(before - got)[:5]}"
    assert epoch(restored) == doc["epoch"] != epoch(county), "the restored store starts a new epoch (F8)"
    assert not (restored / "replication-state.json").exists()
    status = json.loads(ok(run(CHECKOUT_CLI, restored, "status", "--json")).stdout)
    assert status["node"]["code"] == "440305" and status["node"]["epoch"] == doc["epoch"]
    with serving(CHECKOUT_CLI, restored, free_port()) as url:
        resp = requests.get(url + f"/api/v1/cases/{sorted(before)[0]}", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, "the restored node serves the old tokens and cases"


def test_restore_only_into_an_empty_home_and_keys_only_when_asked(county, tmp_path):
    plain = tmp_path / "plain.bk"
    with_keys = tmp_path / "keys.bk"
    ok(run(CHECKOUT_CLI, county, "backup", "--to", str(plain), env=clean_env(**PASS)))
    ok(run(CHECKOUT_CLI, county, "backup", "--to", str(with_keys), "--with-keys", "--passphrase-stdin",
           stdin=PASS["N12315_BACKUP_PASSPHRASE"] + "\n"))
    again = run(CHECKOUT_CLI, county, "backup", "--to", str(plain), env=clean_env(**PASS))
    assert again.returncode != 0 and "exists" in again.stderr
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    proc = run(CHECKOUT_CLI, occupied, "restore", "--from", str(with_keys), env=clean_env(**PASS))
    assert proc.returncode != 0 and "empty" in proc.stderr and sorted(p.name for p in occupied.iterdir()) == ["notes.txt"]
    home = tmp_path / "fresh"
    ok(run(CHECKOUT_CLI, home, "restore", "--from", str(with_keys), env=clean_env(**PASS)))
    assert (home / "keys" / "node-key-1.pem").read_bytes() == (county / "keys" / "node-key-1.pem").read_bytes()
    assert (home / "keys" / "node-key-1.pem").stat().st_mode & 0o077 == 0
    checks = json.loads(run(CHECKOUT_CLI, county, "doctor", "--json", "--no-probe").stdout)["checks"]
    assert next(c for c in checks if c["name"] == "backups")["status"] == "ok"


def test_a_damaged_or_truncated_backup_is_refused(county, tmp_path):
    import io

    from node.errors import NodeError
    from node.ops.sealed import SealedReader, SealedWriter
    payload = bytes(range(256)) * 9000          # > 2 segments
    buf = io.BytesIO()
    with SealedWriter(buf, "pw", {"node": "x"}) as w:
        w.write(payload)
    data = buf.getvalue()
    assert SealedReader(io.BytesIO(data), "pw").read() == payload
    for bad in (data[:-20], data[: len(data) // 2], data[:-1] + bytes([data[-1] ^ 1]),
                data.replace(b'"node": "x"', b'"node": "y"')):
        with pytest.raises(NodeError):
            SealedReader(io.BytesIO(bad), "pw").read()
    with pytest.raises(NodeError) as err:
        SealedReader(io.BytesIO(data), "wrong").read()
    assert "passphrase" in err.value.message
