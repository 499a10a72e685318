"""Personal data encrypted at rest (issue 13 item 1; CONTRACT §11; docs/privacy.md): field
encryption round-trips, refuses a wrong key, changed bytes and a value moved between columns with
one clear error; same-phone look-ups go through the keyed hash; migration 13 encrypts the rows an
older node wrote in clear; the data key lives apart from the database (0600 file or environment).
"""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from node import db as dbmod
from node.cases import Case, similar_cases
from node.home import open_node
from node.notify.models import Notification
from node.privacy import keys as data_keys
from node.privacy import normalise_phone
from node.privacy.fields import PREFIX
from tests.node.cases.examples import complaint

PHONE = "13911112222"


class Staff:
    role, login, node = "handler", "handler1", "440305"


def file_case(app_client, **complainant) -> dict:
    who = {"name": "欧阳晓芸", "phone": PHONE, "address": "深圳市南山区桃园路 9 号", "anonymous": False,
           **complainant}
    r = app_client.post("/api/v1/cases", complaint(complainant=who))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def raw(node, sql: str, *args) -> list[tuple]:
    return node.db.execute_sql(sql.replace("?", node.db.param), list(args)).fetchall()


def test_the_complainant_is_stored_encrypted_and_read_back_through_the_models(app_client):
    case = file_case(app_client)
    node = app_client.node
    [(stored, phone_hash)] = raw(node, 'SELECT complainant, complainant_phone_hash FROM "case" WHERE case_id = ?',
                                 case["id"])
    assert stored.startswith(PREFIX + "k1:") and PHONE not in stored and "欧阳" not in stored
    assert len(phone_hash) == 64 and PHONE not in phone_hash
    shown = app_client.get(f"/api/v1/cases/{case['id']}", role="handler").get_json()
    assert shown["complainant"]["phone"] == PHONE and shown["complainant"]["name"] == "欧阳晓芸"
    with node.activate():
        assert json.loads(Case.row(case["id"])["complainant"])["phone"] == PHONE


def test_the_key_file_is_private_and_apart_from_the_database(app_client):
    path = app_client.node.config.home_path / "keys" / "data.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db_bytes = (app_client.node.config.home_path / "node.db").read_bytes() if dbmod.is_sqlite(app_client.node.db) \
        else b""
    secret = path.read_text().split()[-2] if path.read_text().rstrip().endswith("current") else ""
    assert secret and secret.encode() not in db_bytes


def test_a_wrong_key_is_refused_with_one_clear_error(app_client):
    case = file_case(app_client)
    node = app_client.node
    path = node.config.home_path / "keys" / "data.key"
    other = data_keys.DataKey("k1", os.urandom(32))
    data_keys.write_file(path, [other], "k1")
    data_keys.bind_keyring(node.db, data_keys.load_keyring(node.config.home_path))
    r = app_client.get(f"/api/v1/cases/{case['id']}", role="handler")
    assert r.status_code == 500
    error = r.get_json()["error"]
    assert error["code"] == "data_corrupt" and "case.complainant" in error["message"] and "k1" in error["message"]
    assert PHONE not in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)


def test_a_changed_byte_is_refused(app_client):
    case = file_case(app_client)
    node = app_client.node
    [(stored,)] = raw(node, 'SELECT complainant FROM "case" WHERE case_id = ?', case["id"])
    head, body = stored.rsplit(":", 1)
    blob = bytearray(base64.b64decode(body))
    blob[20] ^= 0x01
    with dbmod.write_tx(node.db):
        node.db.execute_sql(f'UPDATE "case" SET complainant = {node.db.param} WHERE case_id = {node.db.param}',
                            [head + ":" + base64.b64encode(bytes(blob)).decode(), case["id"]])
    r = app_client.get(f"/api/v1/cases/{case['id']}", role="handler")
    assert r.status_code == 500 and r.get_json()["error"]["code"] == "data_corrupt"


def test_a_value_moved_to_another_column_does_not_open(app_client):
    """The table and column are the associated data: a notification's sealed address copied into
    a case's complainant column is refused, though it was sealed under the same key."""
    case = file_case(app_client)
    node = app_client.node
    with node.activate():
        assert Notification.select().count() >= 1    # the 'received' notice to the complainant
    [(address,)] = raw(node, "SELECT address FROM notification ORDER BY id LIMIT 1")
    assert address.startswith(PREFIX)
    with dbmod.write_tx(node.db):
        node.db.execute_sql(f'UPDATE "case" SET complainant = {node.db.param} WHERE case_id = {node.db.param}',
                            [address, case["id"]])
    r = app_client.get(f"/api/v1/cases/{case['id']}", role="handler")
    assert r.status_code == 500 and r.get_json()["error"]["code"] == "data_corrupt"


def test_the_notification_outbox_holds_no_name_phone_or_text_in_clear(app_client):
    file_case(app_client)
    node = app_client.node
    rows = raw(node, "SELECT recipient, address, message FROM notification")
    assert rows and all(v.startswith(PREFIX) for row in rows for v in row)
    with node.activate():
        n = Notification.select().first()
        assert n.address == PHONE and n.recipient == "欧阳晓芸" and "欧阳晓芸" in n.message


@pytest.mark.parametrize("typed", [PHONE, "139 1111 2222", "+86 139-1111-2222", "１３９１１１１２２２２", "0086 13911112222"])
def test_same_phone_hints_match_through_the_keyed_hash_however_it_is_typed(app_client, typed):
    case = file_case(app_client)
    file_case(app_client, phone="13700000000")
    node = app_client.node
    with node.activate():
        found = similar_cases(node, phone=typed, now=node.now(), actor=Staff())
    assert [c["id"] for c in found] == [case["id"]] and found[0]["matched"] == ["phone"]


def test_a_masked_phone_is_not_hashed():
    assert normalise_phone("139****2222") == "" and normalise_phone("+86 139 1111 2222") == PHONE


def test_migration_13_encrypts_what_an_older_node_wrote_in_clear(app_client):
    """An older home: plain complainants and notices, no hash, no key file, schema at 12."""
    first = file_case(app_client)
    second = file_case(app_client, phone="13700000000", name="司徒明澈")
    node = app_client.node
    home, p = node.config.home_path, node.db.param
    with node.activate():
        plain = {c: Case.row(c)["complainant"] for c in (first["id"], second["id"])}
        notices = [(n.id, n.address, n.recipient, n.message) for n in Notification.select()]
    with dbmod.write_tx(node.db):
        for cid, text in plain.items():
            node.db.execute_sql(f'UPDATE "case" SET complainant = {p}, complainant_phone_hash = NULL '
                                f'WHERE case_id = {p}', [text, cid])
        for nid, address, recipient, message in notices:
            node.db.execute_sql(f"UPDATE notification SET address = {p}, recipient = {p}, message = {p} "
                                f"WHERE id = {p}", [address, recipient, message, nid])
        node.db.execute_sql("DELETE FROM schema_version WHERE version >= 13")   # as at release 12
    node.close()
    (home / "keys" / "data.key").unlink()

    reopened = open_node(home, clock=app_client.clock)
    try:
        assert stat.S_IMODE((home / "keys" / "data.key").stat().st_mode) == 0o600
        rows = raw(reopened, 'SELECT case_id, complainant, complainant_phone_hash FROM "case"')
        assert len(rows) == 2 and all(c.startswith(PREFIX) and h for _, c, h in rows)
        assert all(v.startswith(PREFIX) for r in raw(reopened, "SELECT address, recipient, message FROM notification")
                   for v in r)
        with reopened.activate():
            assert {c: Case.row(c)["complainant"] for c in plain} == plain
            found = similar_cases(reopened, phone="13700000000", now=reopened.now(), actor=Staff())
        assert [c["id"] for c in found] == [second["id"]]
    finally:
        reopened.close()


def test_a_home_at_schema_13_without_its_key_is_refused_not_given_a_new_one(app_client):
    node = app_client.node
    home = node.config.home_path
    node.close()
    (home / "keys" / "data.key").unlink()
    with pytest.raises(data_keys.DataKeyError) as caught:
        open_node(home)
    assert caught.value.code == "data_key_missing" and "N12315_DATA_KEY" in caught.value.message
    assert not (home / "keys" / "data.key").exists()


def test_the_key_may_come_from_the_environment(app_client):
    case = file_case(app_client)
    node = app_client.node
    home = node.config.home_path
    [(kid, secret)] = [(k.kid, k.secret) for k in data_keys.load_keyring(home).all()]
    node.close()
    (home / "keys" / "data.key").unlink()
    env = {data_keys.ENV: f"{kid}:{base64.b64encode(secret).decode()}"}
    reopened = open_node(home, environ=env)
    try:
        with reopened.activate():
            assert json.loads(Case.row(case["id"])["complainant"])["phone"] == PHONE
    finally:
        reopened.close()
    assert not (home / "keys" / "data.key").exists()
    with pytest.raises(data_keys.DataKeyError, match="32"):
        open_node(home, environ={data_keys.ENV: base64.b64encode(b"short").decode()})
