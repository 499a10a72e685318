"""Evidence attachments encrypted at rest (issue 13 item 1: no file under a node's home holds a
complainant's data in plain text; docs/privacy.md "Attachments"): a receipt naming the
complainant is stored sealed under the data key and downloads byte for byte; a blob stored in
plain before encryption still reads (checked by its hash) and is sealed when written again; a
changed or renamed blob is refused with one clear error, never served; ``key rotate-data`` moves
every blob to the new key, plain ones included, and a run stopped half way is finished by the
next — on SQLite and PostgreSQL.
"""
from __future__ import annotations

import hashlib
import shutil

import pytest
from click.testing import CliRunner

from admin_cli.cli import cli
from node import db as dbmod
from node.audit import list_entries
from node.evidence import store
from node.home import open_node
from node.privacy import DataKeyError, keyring_of
from node.privacy.blobs import MAGIC, blob_aad, kid_of, open_bytes, seal_bytes
from node.privacy.fields import encrypted_columns
from node.privacy.rotate import StopAfter, pending_count, rotate_data, rotation_state
from tests.node.cases.examples import complaint
from tests.node.evidence.test_api import new_case, upload

NAME, PHONE = "欧阳晓芸", "13712340987"
RECEIPT = f"购物小票\n顾客：{NAME}\n电话：{PHONE}\n冰箱一台 ¥1,299.00\n".encode()
CASES = "/api/v1/cases"


def person_case(app_client) -> str:
    return new_case(app_client, complaint(complainant={"name": NAME, "phone": PHONE, "address": "深圳市南山区",
                                                       "anonymous": False}))


def attach(app_client, case_id: str, data: bytes, name: str = "小票.txt") -> str:
    r = upload(app_client, case_id, data, name=name, mimetype="text/plain")
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()["sha256"]


def download(app_client, case_id: str, sha: str):
    return app_client.get(f"{CASES}/{case_id}/evidence/{sha}", role="handler")


def files_holding(home, *needles: bytes) -> list[tuple[str, str]]:
    return [(str(p.relative_to(home)), n.decode()) for p in home.rglob("*") if p.is_file()
            for n in needles if n in p.read_bytes()]


def test_a_receipt_naming_the_complainant_is_sealed_on_disk_and_downloads_exactly(app_client):
    node = app_client.node
    cid = person_case(app_client)
    sha = attach(app_client, cid, RECEIPT)
    assert sha == hashlib.sha256(RECEIPT).hexdigest()          # still named by the plain bytes
    stored = store.blob_path(node, sha).read_bytes()
    assert stored.startswith(MAGIC) and kid_of(stored) == "k1" and len(stored) > len(RECEIPT)
    assert files_holding(node.config.home_path, NAME.encode(), PHONE.encode()) == []
    got = download(app_client, cid, sha)
    assert got.status_code == 200 and got.get_data() == RECEIPT
    assert got.headers["Content-Type"].startswith("text/plain")
    # the same bytes again land on the same sealed file
    attach(app_client, person_case(app_client), RECEIPT)
    assert store.blob_files(node) == [store.blob_path(node, sha)]


def test_a_blob_stored_in_plain_before_encryption_still_reads_and_is_sealed_when_written_again(app_client):
    node = app_client.node
    cid = person_case(app_client)
    sha = attach(app_client, cid, RECEIPT)
    path = store.blob_path(node, sha)
    path.write_bytes(RECEIPT)                                    # as an older node left it
    got = download(app_client, cid, sha)
    assert got.status_code == 200 and got.get_data() == RECEIPT
    attach(app_client, person_case(app_client), RECEIPT)         # written again: sealed now
    assert path.read_bytes().startswith(MAGIC) and PHONE.encode() not in path.read_bytes()
    assert download(app_client, cid, sha).get_data() == RECEIPT


def refused(app_client, case_id: str, sha: str) -> dict:
    r = download(app_client, case_id, sha)
    body = r.get_data()
    assert r.status_code == 500 and RECEIPT not in body and b"Traceback" not in body
    return r.get_json()["error"]


def test_a_changed_blob_is_refused_with_a_clear_error(app_client):
    node = app_client.node
    cid = person_case(app_client)
    sha = attach(app_client, cid, RECEIPT)
    path = store.blob_path(node, sha)
    stored = bytearray(path.read_bytes())
    stored[-5] ^= 0x01
    path.write_bytes(bytes(stored))
    error = refused(app_client, cid, sha)
    assert error["code"] == "data_corrupt" and f"evidence/{sha}" in error["message"] and "k1" in error["message"]


def test_a_blob_moved_to_another_name_is_refused(app_client):
    node = app_client.node
    cid = person_case(app_client)
    mine = attach(app_client, cid, RECEIPT)
    other = attach(app_client, cid, b"another receipt\n", name="b.txt")
    shutil.copyfile(store.blob_path(node, other), store.blob_path(node, mine))
    error = refused(app_client, cid, mine)
    assert error["code"] == "data_corrupt" and f"evidence/{mine}" in error["message"]
    with pytest.raises(DataKeyError, match="does not open"):
        store.read_blob(node, mine)


def test_a_plain_blob_that_does_not_hash_to_its_name_is_refused(app_client):
    node = app_client.node
    cid = person_case(app_client)
    sha = attach(app_client, cid, RECEIPT)
    store.blob_path(node, sha).write_bytes(RECEIPT.replace(b"1,299", b"9,999"))
    error = refused(app_client, cid, sha)
    assert error["code"] == "data_corrupt" and "does not hash to its name" in error["message"]


def test_seal_and_open_round_trip_and_bind_the_name(app_client):
    ring = keyring_of(app_client.node.db)
    sealed = seal_bytes(ring, RECEIPT, blob_aad("ab" * 32))
    assert open_bytes(ring, sealed, blob_aad("ab" * 32)) == RECEIPT
    assert seal_bytes(ring, RECEIPT, blob_aad("ab" * 32)) != sealed          # a fresh nonce each time
    with pytest.raises(DataKeyError, match="does not open"):
        open_bytes(ring, sealed, blob_aad("cd" * 32))
    forged_kid = sealed.replace(b"k1", b"k9", 1)
    with pytest.raises(DataKeyError) as info:
        open_bytes(ring, forged_kid, blob_aad("ab" * 32))
    assert info.value.code == "data_key_unknown" and "k9" in info.value.message


def pending_rows(node, target: str) -> int:
    return sum(pending_count(node.db, m, f, target) for m, f in encrypted_columns(dbmod.all_models()))


def test_rotate_data_reseals_every_blob_and_a_stopped_run_is_finished_by_the_next(app_client):
    node = app_client.node
    cid = person_case(app_client)
    bodies = [RECEIPT + f"第{i}张\n".encode() for i in range(5)]
    shas = [attach(app_client, cid, b, name=f"r{i}.txt") for i, b in enumerate(bodies)]
    store.blob_path(node, shas[0]).write_bytes(bodies[0])          # one left in plain by an older node
    before = {s: store.blob_path(node, s).read_bytes() for s in shas}
    models = dbmod.all_models()

    # batch=1: each row and each blob is one batch; stop after the rows and two blobs
    with node.activate():
        stop_at = pending_rows(node, "k2") + 2
        with pytest.raises(StopAfter):
            rotate_data(node.db, models, now="t", batch=1, grace_s=0, fail_after_batches=stop_at,
                        blobs=store.blob_dir(node))
    kids = [kid_of(store.blob_path(node, s).read_bytes()) for s in shas]
    assert kids.count("k2") == 2 and set(kids) <= {"k1", "k2", None} and rotation_state(node.db)["to"] == "k2"
    assert keyring_of(node.db).kids == ["k1", "k2"]             # the old key stays while a blob needs it
    for s, b in zip(shas, bodies, strict=True):                   # everything reads half way
        assert download(app_client, cid, s).get_data() == b

    home = node.config.home_path
    node.close()
    result = CliRunner().invoke(cli, ["--home", str(home), "key", "rotate-data", "--batch", "2",
                                      "--grace-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert "续做 / resuming" in result.output and "3 attachments re-encrypted" in result.output
    assert "k1" in result.output.splitlines()[-1]                   # old keys removed: k1
    after = {s: store.blob_path(node, s).read_bytes() for s in shas}
    assert all(kid_of(b) == "k2" for b in after.values())
    assert all(after[s] != before[s] for s in shas)
    assert "k1 " not in (home / "keys" / "data.key").read_text()
    assert files_holding(home, NAME.encode(), PHONE.encode()) == []
    reopened = open_node(home, clock=app_client.clock)            # a fresh process holds only k2
    try:
        assert [store.read_blob(reopened, s) for s in shas] == bodies
        [entry] = list_entries(reopened, action="key.rotate-data")
        assert entry["detail"]["blobs"] == 3 and entry["detail"]["resumed"] is True
    finally:
        reopened.close()


def test_each_rotation_moves_the_blobs_on(app_client):
    node = app_client.node
    cid = person_case(app_client)
    sha = attach(app_client, cid, RECEIPT)
    with node.activate():
        first = rotate_data(node.db, dbmod.all_models(), now="t", grace_s=0, blobs=store.blob_dir(node))
        assert first["blobs"] == 1 and first["to"] == "k2" and first["dropped"] == ["k1"]
        sealed = store.blob_path(node, sha).read_bytes()
        second = rotate_data(node.db, dbmod.all_models(), now="t", grace_s=0, blobs=store.blob_dir(node))
    # a dropped key's id is never handed out again: k3, not a new k1
    assert second["blobs"] == 1 and second["dropped"] == ["k2"] and second["to"] == "k3"
    now = store.blob_path(node, sha).read_bytes()
    assert kid_of(now) == second["to"] != kid_of(sealed) and now != sealed
    assert download(app_client, cid, sha).get_data() == RECEIPT
