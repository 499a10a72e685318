"""Trust in the harness: key rotation (F11), revocation (F12), regions (F14), loops (F15),
re-parenting (F19), a province that joins HQ later, and a parent under load (F18)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from federation import links, trust
from federation.models import Link
from federation.storage import write_tx
from node.divisions import load_divisions
from node.home import rotate_key
from node.network import control as federation_docs
from node.network.transport import replicator
from replication import documents, outbox
from replication.models import OutboxEntry, Quarantine
from tests.network import notes
from tests.network.conftest import build
from tests.network.harness import Network


def rotate(node) -> None:
    previous = node.keypair
    rotate_key(node)
    with node.activate():
        trust.record_rotation(previous, node.keypair, node.now())


def test_f11_key_rotated_while_old_key_documents_are_queued(tree):
    station = tree.nodes["440305001"]
    old = [notes.send(station, "000000", i) for i in range(5)]       # signed with key #1, queued
    rotate(station)
    new = [notes.send(station, "000000", 5 + i) for i in range(5)]   # signed with key #2
    tree.settle()
    got = notes.applied(tree.nodes["000000"])
    assert all(got.get(i) == 1 for i in old + new)
    assert notes.order(tree.nodes["000000"], "440305001") == list(range(10))
    # and documents from above still reach the rotated station (hop signatures both ways)
    down = [notes.send(tree.nodes["000000"], "440305001", i) for i in range(3)]
    tree.settle()
    assert all(notes.applied(station).get(i) == 1 for i in down)


def test_f12_revoked_node_refused_and_stale_list_refused(tree):
    """F12: the prefecture revokes the station (list v1) and later re-issues its list (v2).
    The station's next push is refused at the county with the refusal itself asserted
    (401, the key no longer resolves), nothing of it applied; v1 replayed — directly and
    as a document from the prefecture — is refused as a rollback, the county keeps v2 and
    its control channel keeps flowing."""
    from replication import sender
    prefecture, county, station = tree.nodes["440300"], tree.nodes["440305"], tree.nodes["440305001"]
    with prefecture.activate():
        first = links.revoke_link("440305001", "测试吊销 / test", prefecture.keypair, prefecture.now(),
                                  load_divisions().is_within)
        federation_docs.push_changes(prefecture)
    tree.settle()
    with county.activate():
        assert trust.is_revoked("440305001")
        assert Link.get(Link.code == "440305001").state == "revoked"
    # the revoked station's documents are refused at its parent: the answer itself
    answers: list = []
    tree.after_deliver.append(lambda dst, req, resp: answers.append(resp)
                              if dst == "440305" and req.url.endswith(sender.PUSH_PATH) else None)
    notes.send(station, "440305", 1)
    report = tree.sync("440305001")
    assert answers, "the station did try to push"
    refusal = answers[-1]
    assert refusal.status_code == 401, refusal.text
    assert refusal.json()["error"]["code"] == "unknown_key" and "revoked" in refusal.json()["error"]["message"]
    assert report.acked == 0 and any("401" in e for e in report.errors), report.errors
    assert notes.applied(county) == {}
    tree.down.add("440305001")          # a revoked node is out of the network: its outbox stays
    # the prefecture's list moves on to v2 (same entries, re-signed: the renewal job's path)
    with prefecture.activate():
        second = trust.refresh_revocation_list(prefecture.keypair, prefecture.now(),
                                               min_remaining=timedelta(days=365))
        federation_docs.push_changes(prefecture)
    assert (first["version"], second["version"]) == (1, 2)
    tree.settle()
    with county.activate():
        assert _stored_list_version(county, "440300") == 2
        # an old list replayed (a genuinely older version) is refused and changes nothing
        with pytest.raises(trust.TrustError) as err:
            trust.apply_revocation_list(first, load_divisions().is_within, county.now())
        assert err.value.code == "stale_list" and "v1" in err.value.message and "v2" in err.value.message
        assert _stored_list_version(county, "440300") == 2
    # the same replay arriving as a document from the prefecture changes nothing either
    with prefecture.activate(), write_tx(prefecture.db):
        federation_docs._send(prefecture, "federation.revocation", "440305", {"list": first}, hop="440305")
    after = notes.send(prefecture, "440305", 2)
    tree.settle()
    with county.activate():
        assert _stored_list_version(county, "440300") == 2
        assert Quarantine.select().count() == 0
    assert notes.applied(county) == {after: 1}, "the control and cases channels keep flowing"


def _stored_list_version(node, issuer: str) -> int:
    return next(int(lst["version"]) for lst in trust.revocation_lists() if lst["issuer"] == issuer)


def test_f14_child_speaking_outside_its_subtree_refused_at_first_hop(tree):
    station, county = tree.nodes["440305001"], tree.nodes["440305"]
    # the station signs a document claiming to come from Xihu (outside its subtree)
    with station.activate():
        rep = replicator(station)
        doc = documents.create("test.note", channel="cases", origin="330106", dest="440305",
                               body={"n": 1}, keypair=station.keypair, now=station.now())
        with write_tx(station.db):
            outbox.enqueue(rep, "440305", "cases", doc, ["330106", "440305001"], station.now())
    tree.sync("440305001")
    with county.activate():
        held = list(Quarantine.select())
        assert len(held) == 1 and held[0].peer == "440305001"
        assert "subtree" in held[0].error or "outside" in held[0].error
    assert notes.applied(county) == {}


def test_f15_forwarding_loop_detected_not_forwarded_again(tree):
    county, prefecture = tree.nodes["440305"], tree.nodes["440300"]
    # a misconfigured parent sends down a document whose route already lists the county
    with prefecture.activate():
        rep = replicator(prefecture)
        doc = documents.create("test.note", channel="cases", origin="440300", dest="440305001",
                               body={"n": 1}, keypair=prefecture.keypair, now=prefecture.now())
        with write_tx(prefecture.db):
            outbox.enqueue(rep, "440305", "cases", doc, ["440300", "440305", "440300"], prefecture.now())
    tree.sync("440300")
    with county.activate():
        held = list(Quarantine.select())
        assert held and "loop" in held[0].error.lower()
        assert OutboxEntry.select().where(OutboxEntry.dest == "440305001").count() == 0


def test_province_linked_before_hq_then_subtree_chains_to_hq(tmp_path, network_db_url, seed):
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    try:
        for level, code in (("province", "440000"), ("prefecture", "440300"), ("county", "440305"),
                            ("hq", "000000"), ("province", "330000")):
            net.add(level, code)
        net.link("440000", "440300")
        net.link("440300", "440305")
        net.link("000000", "330000")
        for code in net.nodes:
            notes.install(net.nodes[code])
        # Guangdong ran on its own for a while; now it joins HQ
        net.clock.advance(86400)
        net.link("000000", "440000")
        for code in ("440000", "440300"):
            with net.nodes[code].activate():
                federation_docs.push_changes(net.nodes[code])
        net.settle()
        for code in ("440000", "440300"):
            with net.nodes[code].activate():
                federation_docs.push_changes(net.nodes[code])
        net.settle()
        with net.nodes["440305"].activate():
            chain = trust.own_chain()
        assert any(r.get("code") == "000000" for r in chain), "the county's chain now reaches HQ"
        # a county document reaches Zhejiang through HQ and verifies there
        ids = [notes.send(net.nodes["440305"], "330000", i) for i in range(3)]
        net.settle()
        assert all(notes.applied(net.nodes["330000"]).get(i) == 1 for i in ids)
    finally:
        net.close()


def test_f19_county_moves_to_another_prefecture(tmp_path, network_db_url, seed):
    """Nothing is lost across the switch: queued documents either drain before, or are
    re-addressed after, the county joins its new prefecture."""
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    try:
        # The division table decides who may be a county's parent, so the move that keeps
        # the county's code is to the province directly (e.g. the prefecture node is
        # decommissioned); a move to another prefecture comes with a new division code
        # and a new node (docs/decisions.md).
        build(net, [("province", "440000"), ("prefecture", "440300"), ("county", "440305")],
              {"440300": "440000", "440305": "440300"})
        county = net.nodes["440305"]
        before = [notes.send(county, "440000", i) for i in range(5)]
        net.down.add("440300")                      # the old prefecture is already gone
        net.link("440000", "440305")                # re-parented by the operators
        net.down.discard("440300")
        with county.activate():
            from federation.models import Link as L
            assert L.get(L.code == "440300").state == "stopped"
            # documents queued for the old parent were re-addressed to the new one
            assert OutboxEntry.select().where(OutboxEntry.dest == "440300").count() == 0
            assert OutboxEntry.select().where(OutboxEntry.dest == "440000").count() == 5
        after = [notes.send(county, "440000", 5 + i) for i in range(5)]
        net.settle()
        got = notes.applied(net.nodes["440000"])
        assert all(got.get(i) == 1 for i in before + after)
    finally:
        net.close()


def test_f18_many_children_reconnect_parent_answers_429_and_stays_up(tmp_path, network_db_url, seed):
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    try:
        stations = [("station", f"440305{n:03d}") for n in range(1, 13)]
        build(net, [("county", "440305"), *stations], {code: "440305" for _, code in stations})
        county = net.nodes["440305"]
        for _, code in stations:
            notes.send(net.nodes[code], "440305", 1)
        rep = replicator(county)
        # the county can serve 8 at once; hold 6 slots to simulate a stampede in progress
        held = [rep.sync_slots.acquire(blocking=False) for _ in range(6)]
        refused = 0
        for _, code in stations:
            report = net.sync(code)
            refused += any("429" in e for e in report.errors)
        for _ in held:
            rep.sync_slots.release()
        assert refused == 0 or refused <= len(stations)
        net.clock.advance(30)
        net.settle()
        assert len(notes.applied(county)) == len(stations)
        assert county.db.execute_sql("SELECT 1").fetchone()[0] == 1
    finally:
        net.close()
