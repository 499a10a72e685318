"""Canonical JSON (RELIABILITY rule 12): stable bytes, floats and odd keys refused with a path."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal
from typing import Any

import pytest

from federation.canonical import canonical_bytes, digest_b64


def test_sorted_compact_utf8() -> None:
    doc = {"b": [1, True, None], "a": {"z": "投诉", "m": 'x"y'}, "c": -7}
    assert canonical_bytes(doc) == (
        '{"a":{"m":"x\\"y","z":"投诉"},"b":[1,true,null],"c":-7}'.encode()
    )


def test_key_order_and_tuples_do_not_change_the_bytes() -> None:
    assert canonical_bytes({"a": 1, "b": (2, 3)}) == canonical_bytes({"b": [2, 3], "a": 1})


def test_digest_is_base64_sha256_of_canonical_bytes() -> None:
    expected = base64.b64encode(hashlib.sha256(b'{"amount":"12.50"}').digest()).decode()
    assert digest_b64({"amount": "12.50"}) == expected


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (1.5, "float 1.5 at $ "),
        ({"amount": 12.5}, "float 12.5 at $.amount "),
        ({"a": [1, {"b": 2.0}]}, "float 2.0 at $.a[1].b "),
        ({"x": float("nan")}, "float nan at $.x "),
        ([[[0.1]]], "float 0.1 at $[0][0][0] "),
    ],
)
def test_float_refused_with_its_path(obj: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        canonical_bytes(obj)
    assert "refuses " + message in str(info.value)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({1: "x"}, "string keys: int key 1 at $"),
        ({"a": {None: 1}}, "string keys: NoneType key None at $.a"),
        ({"a": Decimal("1.0")}, "cannot encode Decimal at $.a"),
        ({"a": {1, 2}}, "cannot encode set at $.a"),
    ],
)
def test_other_unencodable_values_refused_with_path(obj: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        canonical_bytes(obj)
    assert message in str(info.value)


def test_lone_surrogate_refused() -> None:
    with pytest.raises(ValueError, match="not valid Unicode"):
        canonical_bytes({"a": "\ud800"})
