"""Signed node records and chain verification (RELIABILITY rule 15, F11, F14; R7.1)."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from federation import keys
from federation.records import (
    TrustError,
    make_record,
    make_rotation,
    record_digest,
    sign_record,
    verify_chain,
)
from node.divisions import load_divisions

NOW = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)
IS_WITHIN = load_divisions().is_within
LEVEL = {"000000": "hq", "440000": "province", "440300": "prefecture", "440305": "county",
         "440305001": "station", "330000": "province", "330100": "prefecture",
         "330106": "county", "420000": "province", "429004": "county"}


def pair(code: str, n: int = 1) -> keys.KeyPair:
    return keys.generate_keypair(keys.make_key_id(code, n))


def record(code: str, kp: keys.KeyPair, issuer: str | None, issuer_kp: keys.KeyPair,
           at: datetime = NOW, **over: object) -> dict:
    body = make_record(code=code, level=LEVEL[code], name=f"局 {code}", url=f"http://{code}.test",
                       key_id=kp.key_id, public_key=kp.public_b64, issuer=issuer, issued_at=at)
    body.update(over)
    return sign_record(body, issuer_kp)


@pytest.fixture
def tree() -> dict:
    """HQ → 440000 → 440300 → 440305 → 440305001, each record signed by its parent."""
    kps = {code: pair(code) for code in ("000000", "440000", "440300", "440305", "440305001")}
    chain = [("000000", None), ("440000", "000000"), ("440300", "440000"),
             ("440305", "440300"), ("440305001", "440305")]
    recs = {code: record(code, kps[code], issuer, kps[issuer or code]) for code, issuer in chain}
    return {"keys": kps, "records": recs}


def anchor(kp: keys.KeyPair) -> dict[str, str]:
    return {kp.key_id: kp.public_b64}


def test_record_format(tree):
    rec = tree["records"]["440305"]
    assert set(rec) == {"type", "v", "code", "level", "name", "url", "key_id", "public_key",
                        "scope", "issuer", "issued_at", "sig"}
    assert rec["type"] == "node-record" and rec["v"] == 1
    assert rec["scope"] == "440305" and rec["issuer"] == "440300"
    assert rec["issued_at"] == "2026-09-29T02:00:00+00:00"
    assert rec["sig"]["key_id"] == "440300#1" and rec["sig"]["alg"] == "ed25519"


def test_good_chain_in_any_order(tree):
    recs = list(tree["records"].values())
    random.Random(7).shuffle(recs)
    out = verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert set(out) == {"000000", "440000", "440300", "440305", "440305001"}


def test_chain_anchored_below_the_root(tree):
    # A node that trusts 440300's key needs nothing above it.
    recs = [tree["records"]["440305"], tree["records"]["440305001"]]
    out = verify_chain(recs, anchor(tree["keys"]["440300"]), IS_WITHIN, NOW)
    assert set(out) == {"440305", "440305001"}


def test_forged_signature_refused(tree):
    forged = dict(tree["records"]["440300"], name="冒名局")
    recs = [tree["records"]["000000"], tree["records"]["440000"], forged]
    with pytest.raises(TrustError) as err:
        verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "bad_signature"


def test_signed_by_a_stranger_claiming_the_issuer_code(tree):
    impostor = pair("440000")  # same key id as the real province key, other key
    rec = record("440300", tree["keys"]["440300"], "440000", impostor)
    recs = [tree["records"]["000000"], tree["records"]["440000"], rec]
    with pytest.raises(TrustError) as err:
        verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "bad_signature"


def test_record_outside_issuer_region_refused(tree):
    hz = pair("330100")
    rec = record("330100", hz, "440000", tree["keys"]["440000"])
    with pytest.raises(TrustError) as err:
        verify_chain([tree["records"]["000000"], tree["records"]["440000"], rec],
                     anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "outside_region"
    assert "330100" in err.value.message and "440000" in err.value.message


def test_record_issued_by_itself_refused(tree):
    rec = record("440300", tree["keys"]["440300"], "440300", tree["keys"]["440300"])
    with pytest.raises(TrustError) as err:
        verify_chain([rec], anchor(tree["keys"]["440300"]), IS_WITHIN, NOW)
    assert err.value.code == "outside_region"


def test_cycle_refused():
    a, b = pair("440000"), pair("440300")
    ra = record("440000", a, "440300", b)
    rb = record("440300", b, "440000", a)
    with pytest.raises(TrustError) as err:
        # A permissive region test, so only the cycle check stands in the way.
        verify_chain([ra, rb], {}, lambda code, parent: True, NOW)
    assert err.value.code == "cycle"


def test_unknown_anchor_refused(tree):
    with pytest.raises(TrustError) as err:
        verify_chain(list(tree["records"].values()), anchor(pair("000000")), IS_WITHIN, NOW)
    assert err.value.code in ("unknown_anchor", "bad_signature")
    with pytest.raises(TrustError) as err:
        verify_chain(list(tree["records"].values()), {}, IS_WITHIN, NOW)
    assert err.value.code == "unknown_anchor"


def test_missing_link_in_chain_refused(tree):
    recs = [tree["records"][c] for c in ("000000", "440300", "440305")]  # no 440000
    with pytest.raises(TrustError) as err:
        verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "unknown_anchor"


def test_root_must_match_its_anchor(tree):
    other = pair("000000")
    rogue_root = record("000000", other, None, other)
    with pytest.raises(TrustError) as err:
        verify_chain([rogue_root], anchor(tree["keys"]["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "bad_signature"


def test_two_different_records_for_one_code_refused(tree):
    again = record("440300", tree["keys"]["440300"], "440000", tree["keys"]["440000"],
                   at=NOW + timedelta(minutes=1))
    with pytest.raises(TrustError) as err:
        verify_chain([tree["records"]["440300"], again], anchor(tree["keys"]["440000"]),
                     IS_WITHIN, NOW + timedelta(minutes=2))
    assert err.value.code == "conflict"


def test_record_from_the_future_refused(tree):
    rec = record("440305", tree["keys"]["440305"], "440300", tree["keys"]["440300"],
                 at=NOW + timedelta(hours=1))
    with pytest.raises(TrustError) as err:
        verify_chain([rec], anchor(tree["keys"]["440300"]), IS_WITHIN, NOW)
    assert err.value.code == "future"


@pytest.mark.parametrize("change, expected", [
    ({"scope": "440000"}, "scope"),
    ({"level": "city"}, "unknown level"),
    ({"extra": 1}, "unexpected ['extra']"),
    ({"key_id": "440306#1"}, "does not belong"),
])
def test_malformed_records_refused(tree, change, expected):
    kps = tree["keys"]
    body = make_record(code="440305", level="county", name="n", url="http://x.test",
                       key_id=kps["440305"].key_id, public_key=kps["440305"].public_b64,
                       issuer="440300", issued_at=NOW)
    body.update(change)
    rec = sign_record(body, kps["440300"])
    with pytest.raises(TrustError) as err:
        verify_chain([rec], anchor(kps["440300"]), IS_WITHIN, NOW)
    assert err.value.code == "malformed"
    assert expected in err.value.message


def test_sign_record_refuses_a_key_of_another_node(tree):
    body = make_record(code="440305", level="county", name="n", url="http://x.test",
                       key_id="440305#1", public_key=tree["keys"]["440305"].public_b64,
                       issuer="440300", issued_at=NOW)
    with pytest.raises(ValueError, match="must be signed by 440300"):
        sign_record(body, tree["keys"]["440000"])


def test_station_and_directly_administered_county():
    hubei, xiantao = pair("420000"), pair("429004")
    root = record("420000", hubei, None, hubei)
    county = record("429004", xiantao, "420000", hubei)
    assert set(verify_chain([root, county], anchor(hubei), IS_WITHIN, NOW)) == {"420000", "429004"}
    station_kp = pair("440305001")
    county_kp = pair("440305")
    station = record("440305001", station_kp, "440305", county_kp)
    assert verify_chain([station], anchor(county_kp), IS_WITHIN, NOW)
    wrong = record("440305001", station_kp, "330106", pair("330106"))
    with pytest.raises(TrustError):
        verify_chain([wrong], {}, IS_WITHIN, NOW)


def test_issuer_key_rotation_carries_trust(tree):
    """F11: the province rotates; records it signs with the new key verify through the
    rotation statement signed by the old one."""
    kps = tree["keys"]
    new = pair("440000", 2)
    rotation = make_rotation(kps["440000"], new.key_id, new.public_b64, NOW)
    rec = record("440300", kps["440300"], "440000", new)
    base = [tree["records"]["000000"], tree["records"]["440000"], rec]
    with pytest.raises(TrustError) as err:
        verify_chain(base, anchor(kps["000000"]), IS_WITHIN, NOW)
    assert err.value.code == "unknown_anchor"
    out = verify_chain([*base, rotation], anchor(kps["000000"]), IS_WITHIN, NOW)
    assert "440300" in out
    # A rotation statement signed by someone else does not carry trust.
    forged = make_rotation(pair("440000"), new.key_id, new.public_b64, NOW)
    with pytest.raises(TrustError):
        verify_chain([*base, forged], anchor(kps["000000"]), IS_WITHIN, NOW)


def test_rotation_from_an_anchor_key_only(tree):
    kps = tree["keys"]
    new = pair("440300", 2)
    rotation = make_rotation(kps["440300"], new.key_id, new.public_b64, NOW)
    rec = record("440305", kps["440305"], "440300", new)
    assert "440305" in verify_chain([rec, rotation], anchor(kps["440300"]), IS_WITHIN, NOW)


class CountingCache:
    def __init__(self):
        self.items: set[str] = set()

    def seen(self, digest: str) -> bool:
        return digest in self.items

    def add(self, digest: str) -> None:
        self.items.add(digest)


def test_signature_cache_skips_second_check(tree, monkeypatch):
    calls = []
    real = keys.verify
    monkeypatch.setattr(keys, "verify", lambda *a: calls.append(1) or real(*a))
    cache = CountingCache()
    recs = list(tree["records"].values())
    verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW, cache=cache)
    assert len(calls) == 5
    verify_chain(recs, anchor(tree["keys"]["000000"]), IS_WITHIN, NOW, cache=cache)
    assert len(calls) == 5
    # The cache is keyed by record *and* key: a forged copy is checked, and refused.
    forged = dict(tree["records"]["440305"], url="http://evil.test")
    with pytest.raises(TrustError):
        verify_chain([forged], anchor(tree["keys"]["440300"]), IS_WITHIN, NOW, cache=cache)


def test_record_digest_is_stable(tree):
    rec = tree["records"]["440305"]
    assert record_digest(rec) == record_digest(dict(reversed(list(rec.items()))))
