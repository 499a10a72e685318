"""Origin signatures on multi-hop documents (CONTRACT §3, RELIABILITY rules 12 and 14, F11)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from federation import keys
from federation.docsign import DocumentSignatureError, sign_document, verify_document

ORIGIN = keys.generate_keypair("440305#1")
OTHER = keys.generate_keypair("440306#1")
KNOWN = {pair.key_id: pair.public_b64 for pair in (ORIGIN, OTHER)}


def _doc() -> dict[str, Any]:
    return {
        "kind": "case",
        "origin": "440305",
        "id": "C-2025-000001",
        "amount": "1299.00",
        "parties": [{"name": "张三", "phone": "13800000000"}],
        "route": ["440305", "440300"],
    }


def test_sign_and_verify() -> None:
    doc = _doc()
    signed = sign_document(doc, ORIGIN)
    assert doc == _doc()  # the input is not changed
    assert signed["sig"]["key_id"] == "440305#1"
    assert signed["sig"]["alg"] == "ed25519"
    assert verify_document(signed, KNOWN.get) == "440305#1"


def test_relayed_copy_still_verifies() -> None:
    signed = sign_document(_doc(), ORIGIN)
    # A relay parses and re-serializes with another key order and whitespace.
    relayed = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=2))
    assert verify_document(relayed, KNOWN.get) == "440305#1"


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_set(["amount"], "1299.01"), "bad_signature"),
        (_set(["parties", 0, "phone"], "13800000001"), "bad_signature"),
        (_set(["route"], ["440305", "440300", "440000"]), "bad_signature"),
        (_set(["extra"], "x"), "bad_signature"),
        (lambda doc: doc.pop("origin"), "bad_signature"),
        (_set(["sig", "key_id"], "440306#1"), "bad_signature"),
        (_set(["sig", "key_id"], "440305#9"), "unknown_key"),
        (_set(["sig", "alg"], "rsa"), "malformed"),
        (_set(["sig", "value"], "AAAA"), "bad_signature"),
        (_set(["sig", "note"], "relayed by 440300"), "malformed"),
        (_set(["sig"], "abc"), "malformed"),
        (_set(["amount"], 1299.0), "malformed"),
        (lambda doc: doc.pop("sig"), "unsigned"),
    ],
)
def test_any_change_fails(change: Callable[[dict[str, Any]], Any], code: str) -> None:
    signed = sign_document(_doc(), ORIGIN)
    tampered = copy.deepcopy(signed)
    change(tampered)
    with pytest.raises(DocumentSignatureError) as info:
        verify_document(tampered, KNOWN.get)
    assert info.value.code == code


def test_unknown_or_revoked_key() -> None:
    signed = sign_document(_doc(), ORIGIN)
    with pytest.raises(DocumentSignatureError, match="unknown or revoked key '440305#1'") as info:
        verify_document(signed, lambda key_id: None)
    assert info.value.code == "unknown_key"


def test_refuses_to_re_sign() -> None:
    with pytest.raises(ValueError, match="already signed"):
        sign_document(sign_document(_doc(), ORIGIN), OTHER)


def test_f11_rotated_key_documents_still_verify() -> None:
    old = keys.generate_keypair("440305#1")
    queued = [sign_document({**_doc(), "id": f"C-{n}"}, old) for n in range(3)]
    new = keys.generate_keypair("440305#2")  # rotation while those wait in the outbox
    fresh = sign_document(_doc(), new)
    # Rule 14: the old public key is kept after rotation, so it still resolves by id.
    kept = {old.key_id: old.public_b64, new.key_id: new.public_b64}
    assert [verify_document(doc, kept.get) for doc in queued] == ["440305#1"] * 3
    assert verify_document(fresh, kept.get) == "440305#2"
    # An old-key document cannot be passed off under the new key id.
    relabelled = copy.deepcopy(queued[0])
    relabelled["sig"]["key_id"] = new.key_id
    with pytest.raises(DocumentSignatureError) as info:
        verify_document(relabelled, kept.get)
    assert info.value.code == "bad_signature"
