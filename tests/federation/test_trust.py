"""The trust store: learning records, key resolution, revocation lists, the policy check.

RELIABILITY rules 14-16, F11 (rotated key still resolves), F12 (revoked node refused; stale
list refused), F14 (child speaking outside its subtree), F15 (loop). Nodes are made with
``init_home`` and linked through invite/join (``tests/federation/linking.py``).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from federation import docsign, keys, links, trust
from federation.models import KnownKey, Link, NodeRecord, RevocationEntry
from federation.records import TrustError, make_record, sign_record
from node.home import rotate_key
from tests.federation.linking import IS_WITHIN, Net

LEVELS = {"000000": "hq", "440000": "province", "440300": "prefecture", "440305": "county",
          "440306": "county", "440305001": "station", "330000": "province", "330106": "county"}


@pytest.fixture
def net(tmp_path, make_node):
    n = Net()

    def add(code: str):
        return n.add(make_node(tmp_path, LEVELS[code], code))

    n.make = add  # type: ignore[attr-defined]
    return n


def signed_doc(node, body: dict) -> dict:
    return docsign.sign_document(body, node.keypair)


# -- policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sender, role, origin, dest, route, me, code", [
    # F14: a child may speak only for its own subtree.
    ("440305", "child", "440306", "440300", ["440306", "440305"], "440300", "outside_subtree"),
    ("440305", "child", "330106", "000000", ["440305"], "440300", "outside_subtree"),
    # From the parent: only documents addressed into my subtree.
    ("440000", "parent", "000000", "440306", ["000000", "440000"], "440305", "not_for_me"),
    ("440000", "parent", "000000", "330106", ["000000", "440000"], "440300", "not_for_me"),
    # F15: a route that already lists me is a loop.
    ("440000", "parent", "000000", "440305", ["000000", "440300", "440000"], "440300", "loop"),
    ("440305", "child", "440305001", "440300", ["440305001", "440300", "440305"], "440300", "loop"),
    ("440305", "cousin", "440305", "440300", ["440305"], "440300", "not_allowed"),
])
def test_policy_refusals(sender, role, origin, dest, route, me, code):
    with pytest.raises(TrustError) as err:
        trust.policy_check(sender, role, origin, dest, route, me, IS_WITHIN)
    assert err.value.code == code
    assert " / " in err.value.message  # Chinese first, then English


@pytest.mark.parametrize("sender, role, origin, dest, route, me", [
    ("440305", "child", "440305", "440300", ["440305"], "440300"),
    ("440305", "child", "440305001", "000000", ["440305001", "440305"], "440300"),
    ("440000", "parent", "000000", "440305", ["000000", "440000"], "440300"),
    ("440000", "parent", "330106", "440300", ["330106", "330000", "000000", "440000"], "440300"),
])
def test_policy_allows(sender, role, origin, dest, route, me):
    trust.policy_check(sender, role, origin, dest, route, me, IS_WITHIN)


# -- own record and learning ----------------------------------------------------------------

def test_ensure_own_record_self_signs_once(net):
    node = net.make("440300")
    with node.activate():
        first = trust.ensure_own_record(node.keypair, level="prefecture", name="深圳",
                                        url=node.config.url, now=node.now())
        again = trust.ensure_own_record(node.keypair, level="prefecture", name="深圳",
                                        url=node.config.url, now=node.now() + timedelta(hours=1))
        assert first == again
        assert first["issuer"] is None and first["sig"]["key_id"] == "440300#1"
        assert trust.own_chain() == [first]


def test_learn_records_and_repeat_batch_costs_no_signature(net, monkeypatch):
    parent, child, station = net.make("440300"), net.make("440305"), net.make("440305001")
    net.link(parent, child)
    net.link(child, station)
    with station.activate():
        batch = trust.records_for(["440305001"])
    assert [r["code"] for r in batch] == ["440305001", "440305", "440300"]
    # The parent learns its grandchild through the child's chain.
    calls = []
    real = keys.verify
    monkeypatch.setattr(keys, "verify", lambda *a: calls.append(1) or real(*a))
    trust.SIGNATURE_CACHE.clear()
    with parent.activate():
        changed = trust.learn_records(batch, IS_WITHIN, parent.now(), vouched_by="440305")
        assert changed == {"440305001"}
        assert trust.resolve_key("440305001#1") == station.keypair.public_b64
        first = len(calls)
        assert first >= 1
        # The same chain again: nothing to verify, nothing to write.
        assert trust.learn_records(batch, IS_WITHIN, parent.now(), vouched_by="440305") == set()
        # Even when the store has to look (a new entry rides along), known signatures are cached.
        assert len(calls) == first


def test_learn_refuses_unknown_issuer_and_stores_nothing(net):
    parent = net.make("440300")
    stranger = keys.generate_keypair("440000#1")
    rogue = sign_record(make_record(
        code="440306", level="county", name="x", url="http://x.test", key_id="440306#1",
        public_key=keys.generate_keypair("440306#1").public_b64, issuer="440000",
        issued_at=parent.now()), stranger)
    with parent.activate():
        trust.ensure_own_record(parent.keypair, level="prefecture", name="p",
                                url=parent.config.url, now=parent.now())
        before = (NodeRecord.select().count(), KnownKey.select().count())
        with pytest.raises(TrustError) as err:
            trust.learn_records([rogue], IS_WITHIN, parent.now())
        assert err.value.code == "unknown_anchor"
        assert (NodeRecord.select().count(), KnownKey.select().count()) == before


def test_child_cannot_rewrite_my_chain(net):
    """Records about this node and its ancestors count only when its parent sends them."""
    hq, prov, pref = net.make("000000"), net.make("440000"), net.make("440300")
    net.link(prov, pref)
    with pref.activate():
        chain_before = trust.own_chain()
    other = keys.generate_keypair("440000#1")
    fake_prov = sign_record(make_record(
        code="440000", level="province", name="假省局", url="http://evil.test",
        key_id=other.key_id, public_key=other.public_b64, issuer=None,
        issued_at=pref.now() + timedelta(minutes=1)), other)
    with pref.activate():
        # From a child (or anyone not the parent): ignored.
        assert trust.learn_records([fake_prov], IS_WITHIN, pref.now() + timedelta(minutes=2),
                                   vouched_by="440305") == set()
        assert trust.own_chain() == chain_before
        # From the parent, a different root with an unknown key does not verify either.
        with pytest.raises(TrustError):
            trust.learn_records([fake_prov], IS_WITHIN, pref.now() + timedelta(minutes=2),
                                vouched_by="440000")
    assert hq.code == "000000"


def test_records_for_unknown_origin_adds_only_own_chain(net):
    parent, child = net.make("440300"), net.make("440305")
    net.link(parent, child)
    with parent.activate():
        assert [r["code"] for r in trust.records_for(["330106"])] == ["440300"]
        assert [r["code"] for r in trust.records_for(["440305"])] == ["440300", "440305"]


# -- keys -----------------------------------------------------------------------------------

def test_rotated_key_still_resolves_and_peers_learn_the_new_one(net, clock):
    """F11: a document signed before the rotation still verifies at the parent, and the
    new key becomes known through the rotation statement signed by the old key."""
    parent, child = net.make("440300"), net.make("440305")
    net.link(parent, child)
    queued = signed_doc(child, {"kind": "case", "id": "440305-20260929-000001"})
    old = child.keypair
    clock.advance(hours=1)
    rotate_key(child)
    with child.activate():
        statement = trust.record_rotation(old, child.keypair, child.now())
        assert statement["sig"]["key_id"] == "440305#1"
        assert trust.resolve_key("440305#1") == old.public_b64  # rotated out, still resolves
        assert trust.resolve_key("440305#2") == child.keypair.public_b64
        chain = trust.records_for(["440305"])
    assert chain[-1]["type"] == "key-rotation"
    fresh = signed_doc(child, {"kind": "case", "id": "440305-20260929-000002"})
    with parent.activate():
        with pytest.raises(docsign.DocumentSignatureError):
            docsign.verify_document(fresh, trust.resolve_key)
        trust.learn_records(chain, IS_WITHIN, parent.now(), vouched_by="440305")
        assert docsign.verify_document(queued, trust.resolve_key) == "440305#1"
        assert docsign.verify_document(fresh, trust.resolve_key) == "440305#2"
        row = KnownKey.get(KnownKey.key_id == "440305#1")
        assert row.valid_until is not None and row.revoked_at is None


# -- revocation (F12) -------------------------------------------------------------------------

@pytest.fixture
def prov_tree(net):
    """440000 (a self-signed root) → 440300 → 440305 and 440306."""
    prov, pref = net.make("440000"), net.make("440300")
    c1, c2 = net.make("440305"), net.make("440306")
    net.link(prov, pref)
    net.link(pref, c1)
    net.link(pref, c2)
    return prov, pref, c1, c2


def test_revoked_node_no_longer_resolves(prov_tree, clock):
    _prov, pref, c1, _ = prov_tree
    doc = signed_doc(c1, {"kind": "case", "id": "x"})
    with pref.activate():
        assert docsign.verify_document(doc, trust.resolve_key) == "440305#1"
        revocation = links.revoke_link("440305", "密钥泄露 / key leaked", pref.keypair,
                                       pref.now(), IS_WITHIN)
        assert revocation is not None and revocation["version"] == 1
        assert trust.resolve_key("440305#1") is None
        assert trust.is_revoked("440305") and trust.is_revoked("440305#1")
        assert Link.get(Link.code == "440305").state == "revoked"
        with pytest.raises(docsign.DocumentSignatureError) as err:
            docsign.verify_document(doc, trust.resolve_key)
        assert err.value.code == "unknown_key"
        # New records of the revoked node, or signed by its key, are refused too.
        clock.advance(minutes=1)
        reissued = sign_record(make_record(
            code="440305", level="county", name="x", url="http://x.test", key_id="440305#1",
            public_key=c1.keypair.public_b64, issuer="440300", issued_at=pref.now()),
            pref.keypair)
        with pytest.raises(TrustError) as terr:
            trust.learn_records([reissued], IS_WITHIN, pref.now(), vouched_by="440305")
        assert terr.value.code == "revoked"
        station = keys.generate_keypair("440305001#1")
        below = sign_record(make_record(
            code="440305001", level="station", name="s", url="http://s.test",
            key_id=station.key_id, public_key=station.public_b64, issuer="440305",
            issued_at=pref.now()), c1.keypair)
        with pytest.raises(TrustError) as terr:
            trust.learn_records([below], IS_WITHIN, pref.now(), vouched_by="440305")
        assert terr.value.code == "unknown_anchor"
        # A new invite for a revoked code is refused.
        with pytest.raises(links.LinkError) as lerr:
            links.create_invite("440305", "440300", 24, pref.now(), IS_WITHIN)
        assert lerr.value.code == "revoked"


def test_revocation_list_travels_and_old_lists_are_refused(prov_tree, clock):
    prov, pref, _c1, _c2 = prov_tree
    with prov.activate():
        v1 = trust.issue_revocation("440305", "撤销", prov.keypair, prov.now())
        clock.advance(minutes=5)
        v2 = trust.issue_revocation("440306", "撤销", prov.keypair, prov.now())
    assert (v1["version"], v2["version"]) == (1, 2)
    assert [e["subject"] for e in v2["entries"]] == ["440305", "440306"]  # cumulative
    assert v2["expires_at"] == (clock.now + timedelta(days=30)).isoformat(timespec="seconds")
    with pref.activate():
        assert trust.resolve_key("440305#1") is not None
        assert trust.apply_revocation_list(v1, IS_WITHIN, pref.now()) == ["440305"]
        assert trust.resolve_key("440305#1") is None
        assert trust.apply_revocation_list(v2, IS_WITHIN, pref.now()) == ["440306"]
        for stale in (v1, v2):  # F12: a replayed list is refused
            with pytest.raises(TrustError) as err:
                trust.apply_revocation_list(stale, IS_WITHIN, pref.now())
            assert err.value.code == "stale_list"
        assert [d["version"] for d in trust.revocation_lists()] == [2]
        assert RevocationEntry.select().count() == 2


def test_expired_revocation_list_refused(prov_tree, clock):
    prov, pref, *_ = prov_tree
    with prov.activate():
        doc = trust.issue_revocation("440305", "撤销", prov.keypair, prov.now())
    clock.advance(days=31)
    with pref.activate():
        with pytest.raises(TrustError) as err:
            trust.apply_revocation_list(doc, IS_WITHIN, pref.now())
        assert err.value.code == "expired_list"
        assert trust.resolve_key("440305#1") is not None
    # The issuer renews its list before it lapses (no freeze).
    with prov.activate():
        renewed = trust.refresh_revocation_list(prov.keypair, prov.now())
        assert renewed is not None and renewed["version"] == 2
        assert trust.refresh_revocation_list(prov.keypair, prov.now()) is None
    with pref.activate():
        assert trust.apply_revocation_list(renewed, IS_WITHIN, pref.now()) == ["440305"]


def test_issuer_may_not_revoke_outside_its_subtree(prov_tree):
    prov, pref, c1, _ = prov_tree
    with c1.activate():
        doc = trust.issue_revocation("440306", "越权", c1.keypair, c1.now())  # a sibling
    with pref.activate():
        with pytest.raises(TrustError) as err:
            trust.apply_revocation_list(doc, IS_WITHIN, pref.now())
        assert err.value.code == "outside_subtree"
        assert not trust.is_revoked("440306")
    with prov.activate():
        with pytest.raises(links.LinkError) as lerr:
            links.revoke_link("330106", "", prov.keypair, prov.now(), IS_WITHIN)
        assert lerr.value.code == "not_found"


def test_tampered_or_foreign_revocation_list_refused(prov_tree):
    prov, pref, *_ = prov_tree
    with prov.activate():
        doc = trust.issue_revocation("440305", "撤销", prov.keypair, prov.now())
    tampered = dict(doc, entries=[dict(doc["entries"][0], subject="440306")])
    stranger = keys.generate_keypair("440000#7")
    body = {k: v for k, v in doc.items() if k != "sig"}
    foreign = docsign.sign_document(body, stranger)
    with pref.activate():
        for bad, code in ((tampered, "bad_signature"), (foreign, "unknown_anchor")):
            with pytest.raises(TrustError) as err:
                trust.apply_revocation_list(bad, IS_WITHIN, pref.now())
            assert err.value.code == code
        assert not trust.is_revoked("440305")


def test_revoking_the_parent_is_local_only(prov_tree):
    _prov, pref, *_ = prov_tree
    with pref.activate():
        assert links.revoke_link("440000", "上级失陷", pref.keypair, pref.now(), IS_WITHIN) is None
        assert trust.resolve_key("440000#1") is None
        assert Link.get(Link.code == "440000").state == "revoked"
        assert trust.revocation_lists() == []
