"""Invites and joining, end to end in one process (CONTRACT §3; R7.1).

Two or more nodes made with ``init_home``; the parent's Flask app reaches the child
through a ``requests.Session`` with ``tests.harness_adapter.FlaskAdapter``.
"""
from __future__ import annotations

import pytest

from federation import keys, links, trust
from federation.canonical import canonical_bytes
from federation.httpsig import RequestSigner
from federation.models import Invite, KnownKey, Link, NodeRecord
from federation.records import verify_chain
from node.divisions import load_divisions
from tests.federation.linking import IS_WITHIN, Net

LEVELS = {"000000": "hq", "440000": "province", "440300": "prefecture", "440305": "county",
          "440306": "county", "440305001": "station", "330106": "county", "420000": "province",
          "429004": "county"}


@pytest.fixture
def net(tmp_path, make_node):
    n = Net()
    n.make = lambda code: n.add(make_node(tmp_path, LEVELS[code], code))  # type: ignore[attr-defined]
    return n


def rows(node) -> tuple[int, int, int, int]:
    with node.activate():
        return (Link.select().count(), KnownKey.select().count(), NodeRecord.select().count(),
                Invite.select().where(Invite.used_at.is_null(False)).count())


def test_node_endpoint_is_public(net):
    parent = net.make("440300")
    resp = net.session.get("http://440300.test/federation/v1/node")
    assert resp.status_code == 200
    doc = resp.json()
    assert {k: doc[k] for k in ("code", "level", "name", "url", "public_key")} == {
        "code": "440300", "level": "prefecture", "name": parent.config.name,
        "url": "http://440300.test", "public_key": parent.keypair.public_b64}
    assert len(keys.public_from_b64(doc["public_key"]).public_bytes_raw()) == 32


def test_invite_join_and_both_sides_list_each_other(net):
    parent, child = net.make("440300"), net.make("440305")
    token = net.invite(parent, "440305")
    assert token.startswith("n12315i_") and len(token) > 40
    with parent.activate():
        stored = Invite.get()
        assert stored.token_hash == links.token_sha256(token) and token not in stored.token_hash
    result = net.join(parent, child, token)
    assert result["parent"]["code"] == "440300"
    assert result["record"]["issuer"] == "440300" and result["record"]["key_id"] == "440305#1"
    with parent.activate():
        assert [(r["code"], r["role"], r["state"]) for r in links.list_links()] == [
            ("440305", "child", "active")]
        assert trust.resolve_key("440305#1") == child.keypair.public_b64
    with child.activate():
        listed = links.list_links()
        assert [(r["code"], r["role"], r["level"], r["url"]) for r in listed] == [
            ("440300", "parent", "prefecture", "http://440300.test")]
        assert trust.resolve_key("440300#1") == parent.keypair.public_b64
        chain = trust.own_chain()
    assert [(r["code"], r["issuer"]) for r in chain] == [("440305", "440300"), ("440300", None)]
    assert verify_chain(chain, {parent.keypair.key_id: parent.keypair.public_b64}, IS_WITHIN,
                        child.now())


def test_used_token_refused(net):
    parent, child = net.make("440300"), net.make("440305")
    token = net.invite(parent, "440305")
    net.join(parent, child, token)
    before = rows(parent)
    with pytest.raises(links.LinkError) as err:
        net.join(parent, child, token)
    assert (err.value.status, err.value.code) == (409, "token_used")
    assert err.value.message.startswith("邀请令牌已被使用")
    assert rows(parent) == before


def test_expired_token_refused(net, clock):
    parent, child = net.make("440300"), net.make("440305")
    token = net.invite(parent, "440305", ttl_hours=1)
    clock.advance(hours=1, seconds=1)
    before = rows(parent)
    with pytest.raises(links.LinkError) as err:
        net.join(parent, child, token)
    assert err.value.code == "token_expired" and "过期" in err.value.message
    assert rows(parent) == before
    with child.activate():
        assert links.list_links() == []


def test_token_for_another_code_refused(net):
    parent, child = net.make("440300"), net.make("440305")
    token = net.invite(parent, "440306")
    with pytest.raises(links.LinkError) as err:
        net.join(parent, child, token)
    assert err.value.code == "token_other_code"
    assert "440306" in err.value.message and "440305" in err.value.message


def test_unknown_token_refused(net):
    parent, child = net.make("440300"), net.make("440305")
    with pytest.raises(links.LinkError) as err:
        net.join(parent, child, "n12315i_not-a-real-token")
    assert (err.value.status, err.value.code) == (403, "invalid_token")


def test_child_outside_region_refused(net):
    parent, stranger = net.make("440300"), net.make("330106")
    with parent.activate():
        with pytest.raises(links.LinkError) as err:
            links.create_invite("330106", "440300", 24, parent.now(), IS_WITHIN)
        assert err.value.code == "outside_region" and err.value.message.startswith("330106 不是")
        with pytest.raises(links.LinkError):
            links.create_invite("440300", "440300", 24, parent.now(), IS_WITHIN)
    token = net.invite(parent, "440305")
    # The child refuses before sending anything ...
    with pytest.raises(links.LinkError) as err:
        net.join(parent, stranger, token)
    assert err.value.code == "outside_region"
    # ... and the parent refuses on its own, too.
    info = links.child_info(links.identity_of(stranger), stranger.keypair)
    with parent.activate():
        with pytest.raises(links.LinkError) as err:
            links.accept_join(token, info, links.join_proof(token, info, stranger.keypair),
                              parent.keypair, [], parent.now(), IS_WITHIN,
                              load_divisions().check_node_code)
        assert err.value.code == "outside_region"
        assert Invite.get().used_at is None


def test_directly_administered_county_joins_its_province(net):
    """429004 仙桃市 sits straight under 420000 湖北省: the division table decides."""
    province, county = net.make("420000"), net.make("429004")
    net.link(province, county)
    with county.activate():
        assert [r["code"] for r in trust.own_chain()] == ["429004", "420000"]


def test_join_request_must_be_signed_and_prove_the_key(net):
    parent, child = net.make("440300"), net.make("440305")
    token = net.invite(parent, "440305")
    info = links.child_info(links.identity_of(child), child.keypair)
    good = {"token": token, "child": info, "proof": links.join_proof(token, info, child.keypair)}
    url = "http://440300.test/federation/v1/join"
    unsigned = net.session.post(url, data=canonical_bytes(good),
                                headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "unsigned"
    # Signed by another key than the one in the body.
    other = keys.generate_keypair("440305#1")
    resp = net.session.post(url, data=canonical_bytes(good), headers={"Content-Type": "application/json"},
                            auth=RequestSigner(other, clock=lambda: child.now().timestamp()))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "bad_signature"
    # Proof made for another token.
    bad = dict(good, proof=links.join_proof(token + "x", info, child.keypair))
    resp = net.session.post(url, data=canonical_bytes(bad), headers={"Content-Type": "application/json"},
                            auth=RequestSigner(child.keypair, clock=lambda: child.now().timestamp()))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "bad_proof"
    assert rows(parent)[0] == 0
    # The same request, done right, works; the token is then spent.
    net.join(parent, child, token)
    assert rows(parent)[0] == 1


def test_province_joined_by_hq_later_chains_its_subtree_to_hq(net, clock):
    """A province linked before HQ exists later joins HQ; its whole subtree then chains to HQ."""
    prov, pref, county = net.make("440000"), net.make("440300"), net.make("440305")
    net.link(prov, pref)
    net.link(pref, county)
    with county.activate():
        assert [r["code"] for r in trust.own_chain()] == ["440305", "440300", "440000"]
    clock.advance(hours=2)
    hq = net.make("000000")
    net.link(hq, prov)
    with prov.activate():
        chain = trust.own_chain()
        assert [(r["code"], r["issuer"]) for r in chain] == [("440000", "000000"), ("000000", None)]
        outgoing = links.records_changed_docs()
    assert [code for code, _ in outgoing] == ["440300"]
    with pref.activate():
        forward = links.apply_records_update(outgoing[0][1], "440000", IS_WITHIN, pref.now())
        assert [r["code"] for r in trust.own_chain() if r["type"] == "node-record"] == [
            "440300", "440000", "000000"]
    assert [code for code, _ in forward] == ["440305"]
    with county.activate():
        assert links.apply_records_update(forward[0][1], "440300", IS_WITHIN, county.now()) == []
        chain = trust.own_chain()
    assert [r["code"] for r in chain] == ["440305", "440300", "440000", "000000"]
    # The county's chain now verifies with HQ's key as the only anchor ...
    hq_anchor = {hq.keypair.key_id: hq.keypair.public_b64}
    assert set(verify_chain(chain, hq_anchor, IS_WITHIN, county.now())) == {
        "440305", "440300", "440000", "000000"}
    # ... and HQ learns the county's key from the chain it is sent.
    with county.activate():
        batch = trust.records_for(["440305"])
    with hq.activate():
        assert trust.resolve_key("440305#1") is None
        trust.learn_records(batch, IS_WITHIN, hq.now(), vouched_by="440000")
        assert trust.resolve_key("440305#1") == county.keypair.public_b64
    # Replaying the old update (the self-signed province root) changes nothing.
    with pref.activate():
        assert links.apply_records_update(
            links.records_update_doc(trust.own_chain()), "440000", IS_WITHIN, pref.now()) == []


def test_rejoin_moves_a_county_to_a_new_parent(net, clock):
    old, new, county = net.make("440300"), net.make("440000"), net.make("440305")
    net.link(old, county)
    clock.advance(minutes=10)
    net.link(new, county)
    with county.activate():
        states = {r["code"]: r["state"] for r in links.list_links()}
        assert states == {"440300": "stopped", "440000": "active"}
        assert trust.own_chain()[0]["issuer"] == "440000"


def test_child_reinstalled_with_same_key_id_is_refused(net, tmp_path, make_node):
    parent, child = net.make("440300"), net.make("440305")
    net.link(parent, child)
    twin = net.add(make_node(tmp_path, "county", "440305", url="http://440305-b.test"))
    token = net.invite(parent, "440305")
    with pytest.raises(links.LinkError) as err:
        net.join(parent, twin, token)
    assert err.value.status == 409 and "440305#1" in err.value.message
    with parent.activate():
        assert Invite.get(Invite.token_hash == links.token_sha256(token)).used_at is None


def test_join_after_the_parent_rotated_its_key(net, clock):
    """F11: the parent's record still names its first key; the rotation statement in its
    chain carries trust to the key that signs the new child's record."""
    from node.home import rotate_key

    prov, pref, county = net.make("440000"), net.make("440300"), net.make("440305")
    net.link(prov, pref)
    clock.advance(hours=1)
    old = pref.keypair
    rotate_key(pref)
    with pref.activate():
        trust.record_rotation(old, pref.keypair, pref.now())
    result = net.link(pref, county)
    assert result["record"]["sig"]["key_id"] == "440300#2"
    with county.activate():
        assert trust.resolve_key("440300#2") == pref.keypair.public_b64
        assert trust.resolve_key("440300#1") == old.public_b64
    # The province learns the rotation from its child's chain.
    with pref.activate():
        batch = trust.records_for(["440305"])
    with prov.activate():
        trust.learn_records(batch, IS_WITHIN, prov.now(), vouched_by="440300")
        assert trust.resolve_key("440300#2") == pref.keypair.public_b64
        assert trust.resolve_key("440305#1") == county.keypair.public_b64
