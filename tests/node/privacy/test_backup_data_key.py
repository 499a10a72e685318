"""Backups and the data key (issue 13 items 1 and 7; docs/privacy.md "Backups"): a backup made
without ``--with-keys`` holds no data key; restoring it with a keys folder that lacks
``data.key`` is refused with a message telling the operator to put the key back (nothing is
written); with the key back, the restored node reads its complainants. CLI processes on SQLite,
as the other backup tests (tests/ops/test_backup_restore.py)."""
from __future__ import annotations

import json
import shutil

from node.home import open_node
from tests.conftest import ApiClient, FakeClock
from tests.node.cases.examples import complaint
from tests.ops.procs import CHECKOUT_CLI, clean_env, ok, run

PASS = {"N12315_BACKUP_PASSPHRASE": "correct horse battery staple"}
PHONE = "13955556666"


def test_restore_asks_for_the_data_key_when_the_backup_holds_none(tmp_path):
    county = tmp_path / "county"
    ok(run(CHECKOUT_CLI, county, "init", "--level", "county", "--code", "440305", "--name", "南山区局",
           "--url", "http://127.0.0.1:1"))
    node = open_node(county, clock=FakeClock())
    try:
        made = ApiClient(node, FakeClock()).post("/api/v1/cases", complaint(
            complainant={"name": "王密钥", "phone": PHONE, "address": "深圳市南山区", "anonymous": False}))
        assert made.status_code == 201, made.get_json()
        case_id = made.get_json()["id"]
    finally:
        node.close()
    backup = tmp_path / "plain.bk"
    ok(run(CHECKOUT_CLI, county, "backup", "--to", str(backup), env=clean_env(**PASS)))

    old_keys = tmp_path / "old-keys"
    shutil.copytree(county / "keys", old_keys)
    (old_keys / "data.key").unlink()
    restored = tmp_path / "restored"
    refused = run(CHECKOUT_CLI, restored, "restore", "--from", str(backup), "--keys-from", str(old_keys),
                  env=clean_env(**PASS))
    assert refused.returncode != 0 and not restored.exists()
    [line] = refused.stderr.strip().splitlines()
    assert "data.key" in line and "N12315_DATA_KEY" in line and "Traceback" not in refused.stderr

    shutil.copy2(county / "keys" / "data.key", old_keys / "data.key")
    ok(run(CHECKOUT_CLI, restored, "restore", "--from", str(backup), "--keys-from", str(old_keys),
           env=clean_env(**PASS)))
    back = open_node(restored)
    try:
        with back.activate():
            from node.cases import Case
            assert json.loads(Case.row(case_id)["complainant"])["phone"] == PHONE
    finally:
        back.close()
