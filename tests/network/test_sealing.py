"""Personal data sealed in transit (issue 13 item 2; CONTRACT §11; docs/privacy-sealing.md).

Multi-node trees built through ``init`` and invite/join (tests/network/conftest.py), on SQLite
and PostgreSQL. The oracle: every row of every table of a node that relays or keeps a copy of a
case it does not handle (case copy, outbox, inbox, quarantine, …) holds neither the
complainant's phone nor name; the handler and the accepting node show them in full; a report
against staff leaves nothing readable at the unit accused.
"""
from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from node import db as dbmod
from node.cases.models import Case
from node.privacy import sealing
from node.routing import arrivals, documents, sealed
from replication.models import OutboxEntry, Quarantine
from tests.network.test_case_routing import Api, complaint, no_quarantine

PHONE, NAME = "13600001111", "陈女士"


@pytest.fixture
def api(tree):  # noqa: F811 - the fixture imported above
    return Api(tree)


def everything(net, code: str) -> str:
    """Every value of every row of every table of one node, as one text."""
    node = net.nodes[code]
    parts: list[str] = []
    with node.activate():
        for model in dbmod.all_models():
            for row in model.select().dicts():
                parts.extend(str(v) for v in row.values())
    return "\n".join(parts)


def stored(net, code: str, cid: str) -> dict[str, Any]:
    with net.nodes[code].activate():
        row = Case.row(cid)
    assert row is not None, code
    return row


def person(net, code: str, cid: str) -> dict[str, Any]:
    return json.loads(stored(net, code, cid)["complainant"])


def test_a_complaint_routed_station_county_prefecture_is_masked_at_the_relay(tree, api, caplog):
    """A station takes a complaint about a Futian firm; no node covers 440304, so the
    prefecture keeps it (station → county → prefecture). The county relays it: nothing of the
    complainant in any of its tables, in flight or after; station and prefecture read it."""
    for name in ("node", "replication", "federation"):   # not peewee's SQL echo
        caplog.set_level(logging.DEBUG, logger=name)
    cid = api.create("440305001", complaint("440304", name="深圳市福田区某商行"))["id"]
    tree.down.add("440300")      # hold the document at the relay: its outbox and inbox hold it
    tree.settle(must_converge=False)
    relay = everything(tree, "440305")
    assert cid in relay                                   # it did pass the county …
    assert PHONE not in relay and NAME not in relay       # … as the masked view and an envelope
    with tree.nodes["440305"].activate():
        held = [json.loads(e.body) for e in OutboxEntry.select()]
    assert held and all("sealed" in d["body"]["case"] for d in held if d["kind"] == "case.transfer")
    tree.down.clear()
    tree.settle()
    assert stored(tree, "440300", cid)["held_as"] == "handler"
    for code, role in (("440305001", "intake"), ("440300", "handler")):   # accepting node, handling node
        full = api.get(code, cid, role=role)["complainant"]
        assert full["phone"] == PHONE and full["name"] == NAME, code
        assert person(tree, code, cid)["phone"] == PHONE
    relay = everything(tree, "440305")
    assert PHONE not in relay and NAME not in relay
    assert person(tree, "440305", cid)["phone"] == "136****1111"
    for code in ("440000", "000000", "330106"):
        text = everything(tree, code)
        assert PHONE not in text and NAME not in text, code
    assert PHONE not in caplog.text and NAME not in caplog.text
    no_quarantine(tree)


def test_a_handler_the_sender_had_no_key_for_gets_it_re_sealed_by_the_accepting_node(tree, api):
    """The province has never heard of 440305's seal key: the transfer carries the masked view
    and an envelope only the province opens; the county flags the case, and the province seals
    it to the county as soon as the county's first update tells it the key."""
    cid = api.create("440000", complaint())["id"]
    with tree.nodes["440000"].activate():
        before = sealing.peer_seal_key("440000", tree.nodes["440000"].config.home_path, "440305")
    tree.settle()
    at_county = api.get("440305", cid)
    assert at_county["complainant"]["phone"] == PHONE
    assert not (at_county["attention"] or "").startswith(sealed.SEALED_ATTENTION)
    assert api.get("440000", cid, role="intake")["complainant"]["phone"] == PHONE
    text = everything(tree, "440300")
    assert PHONE not in text and NAME not in text
    if before is None:   # the path this test is about was taken
        with tree.nodes["440305"].activate():
            assert OutboxEntry.select().count() == 0
    no_quarantine(tree)


def test_a_transfer_is_re_sealed_to_the_new_handler_and_the_old_one_keeps_it_masked(tree, api):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    assert api.get("440305", cid)["complainant"]["phone"] == PHONE
    api.act("440305", cid, action="escalate", reason="涉及跨区连锁经营，报请上级决定")
    tree.settle()
    assert stored(tree, "440300", cid)["held_as"] == "handler"
    assert api.get("440300", cid)["complainant"]["phone"] == PHONE        # the new handler reads it
    assert api.get("440000", cid, role="intake")["complainant"]["phone"] == PHONE   # the accepting node too
    old = everything(tree, "440305")                                      # the old handler: a copy
    assert PHONE not in old and NAME not in old
    kept = person(tree, "440305", cid)
    assert (kept["name"], kept["phone"], kept["address"], kept["masked"]) == ("陈**", "136****1111", "深圳市南山区***",
                                                                              True)
    no_quarantine(tree)


def test_a_staff_report_leaves_nothing_readable_at_the_unit_accused(tree, api, caplog):
    for name in ("node", "replication", "federation"):   # not peewee's SQL echo
        caplog.set_level(logging.DEBUG, logger=name)
    body = {"kind": "report", "report_target": "staff", "channel": "letter", "category": "S99",
            "summary": "执法人员收受商户财物", "description": "某所工作人员检查时收受礼品。",
            "complainant": {"name": "王举报", "phone": "13500000000", "address": "南山区"},
            "respondent": {"name": "南山区市场监管局某执法人员", "region_code": "440305"}}
    cid = api.create("440305", body)["id"]
    secrets_ = ("执法人员收受", "收受礼品", "王举报", "13500000000", "某执法人员")
    tree.down.add("440300")
    tree.settle(must_converge=False)
    accused = everything(tree, "440305")                 # the transfer waits in its outbox
    assert cid in accused and not [s for s in secrets_ if s in accused]
    tree.down.clear()
    tree.settle()
    up = api.get("440300", cid, role="discipline")
    assert up["summary"] == "执法人员收受商户财物" and up["complainant"]["phone"] == "13500000000"
    api.act("440300", cid, role="discipline", action="verify")
    tree.settle()
    for code in ("440305", "440305001", "440000", "000000"):   # updates came back through them
        text = everything(tree, code)
        assert not [s for s in secrets_ if s in text], code
    assert stored(tree, "440305", cid)["status"] == "verifying"
    assert not [s for s in secrets_ if s in caplog.text]
    no_quarantine(tree)


def test_seal_key_rotation_keeps_old_envelopes_open_and_peers_learn_the_new_key(tree, api):
    prefecture = tree.nodes["440300"]
    home = prefecture.config.home_path
    with tree.nodes["440305"].activate():
        first = sealing.peer_seal_key("440305", tree.nodes["440305"].config.home_path, "440300")
    envelope = sealing.seal("c-1", {"complainant": "{}"}, {"440300": first})
    n, new = sealing.rotate_seal_key(home)
    assert n == 2 and new != first and sorted(sealing.seal_key_files(home)) == [1, 2]
    assert sealing.open_envelope(envelope, "c-1", "440300", sealing.own_seal_keys(home)) == {"complainant": "{}"}
    # the prefecture's next case document carries its new key; the county seals to it after
    cid = api.create("440300", complaint())["id"]
    tree.settle()
    with tree.nodes["440305"].activate():
        assert sealing.peer_seal_key("440305", tree.nodes["440305"].config.home_path, "440300") == new
    api.act("440305", cid, action="escalate", reason="报请上级")
    tree.settle()
    assert api.get("440300", cid)["complainant"]["phone"] == PHONE
    no_quarantine(tree)


def test_a_tampered_envelope_is_quarantined_with_a_reason(tree, api):
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    county = tree.nodes["440305"]
    with county.activate():
        row = Case.row(cid)
        body, _ = sealed.outgoing(county, {**row, "version": row["version"] + 1}, documents.history_wire(cid))
        ct = bytearray(base64.b64decode(body["case"]["sealed"]["ct"]))
        ct[0] ^= 1
        body["case"]["sealed"]["ct"] = base64.b64encode(bytes(ct)).decode()
        with dbmod.write_tx(county.db):
            assert documents.send(county, documents.DOC_UPDATE, "440000", body)
    tree.settle(must_converge=False)
    with tree.nodes["440000"].activate():
        held = [(q.doc_kind, q.error) for q in Quarantine.select().where(Quarantine.state == "held")]
        assert Case.row(cid)["version"] == row["version"]            # not applied
    assert held and held[0][0] == "case.update"
    assert "密封" in held[0][1] and "altered" in held[0][1]
    assert "Traceback" not in held[0][1] and PHONE not in held[0][1]


def test_a_document_of_the_previous_release_without_envelope_still_applies(tree, api):
    """An earlier release sends the complainant in the clear: a reader keeps it, a node that may
    not read it stores the masked view."""
    cid = api.create("440000", complaint())["id"]
    tree.settle()
    county = tree.nodes["440305"]
    with county.activate():
        row = Case.row(cid)
        wire = documents.row_to_wire({**row, "version": row["version"] + 1, "status": "accepted"})
        events = documents.history_wire(cid)
    assert json.loads(wire["complainant"])["phone"] == PHONE and "sealed" not in wire
    for code, expect in (("440300", "136****1111"), ("440000", PHONE)):
        node = tree.nodes[code]
        with node.activate(), dbmod.write_tx(node.db):
            assert arrivals.store_copy(node, wire, events) == "updated"
        assert person(tree, code, cid)["phone"] == expect, code
        assert stored(tree, code, cid)["status"] == "accepted"


def test_a_record_without_a_seal_key_verifies_and_gets_the_masked_view_only():
    """Node records of an earlier release (no ``seal_key``) verify as before; a node whose only
    record has none is left out of the envelope (the sender keeps the plaintext)."""
    from datetime import UTC, datetime

    from federation import keys, records
    pair = keys.generate_keypair("440000#1")
    now = datetime(2026, 9, 29, tzinfo=UTC)
    old = records.sign_record(records.make_record(code="440000", level="province", name="广东", url="https://gd",
                                                  key_id=pair.key_id, public_key=pair.public_b64, issuer=None,
                                                  issued_at=now), pair)
    assert "seal_key" not in old
    verified = records.verify_chain([old], {pair.key_id: pair.public_b64}, lambda c, a: c.startswith(a[:2]), now)
    assert "440000" in verified
    bad = {**old, "seal_key": "not base64"}
    with pytest.raises(records.TrustError):
        records.verify_chain([bad], {pair.key_id: pair.public_b64}, lambda c, a: True, now)
