"""Equality look-ups on encrypted personal data through a keyed hash (issue 13 item 1; docs/privacy.md).

The same phone is found without reading or storing it in clear: ``case.complainant_phone_hash``
holds HMAC-SHA256 of the normalised phone under the look-up subkey of the data key current when
the row was written (``node.privacy.keys``). A look-up hashes the asked-for phone under every key
the keyring holds — one while no rotation runs, two during one — and asks ``IN (…)`` of the
indexed column. The look-up key rotates with the data key: ``rotate-data`` recomputes the hash
of each row it re-encrypts.

Phones are normalised first: NFKC (full-width digits become ASCII), everything but digits
dropped, then a ``+86`` / ``0086`` / ``86`` country prefix in front of an 11-digit mobile removed
— ``+86 139-1234-5678``, ``１３９１２３４５６７８`` and ``13912345678`` hash alike.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from node.privacy.keys import DataKey, Keyring


def normalise_phone(phone: Any) -> str:
    """Digits only, ASCII, without a +86 prefix; "" for a masked phone (``139****0000``)."""
    if "*" in str(phone or ""):
        return ""   # a copy's masked view: hashing its digits would match strangers
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", str(phone or "")) if "0" <= ch <= "9")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 and digits[len(prefix)] == "1":
            return digits[len(prefix):]
    return digits


def _digest(key: DataKey, kind: str, value: str) -> str:
    return hmac.new(key.mac_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def phone_hash(keyring: Keyring, phone: Any, key: DataKey | None = None) -> str | None:
    """The stored hash of ``phone`` (under the current key, or ``key``); None for no phone."""
    norm = normalise_phone(phone)
    if len(norm) < 5:
        return None
    return _digest(key or keyring.current, "phone", norm)


def phone_hashes(keyring: Keyring, phone: Any) -> list[str]:
    """Every hash ``phone`` may be stored under (one per key held): the ``IN`` list of a look-up."""
    norm = normalise_phone(phone)
    if len(norm) < 5:
        return []
    return [_digest(k, "phone", norm) for k in keyring.all()]


def complainant_hashes(keyring: Keyring, complainant: Any, key: DataKey | None = None) -> dict[str, str | None]:
    """The hash columns of a case for its complainant (a dict or the stored JSON text)."""
    if isinstance(complainant, str):
        try:
            complainant = json.loads(complainant or "null")
        except ValueError:
            complainant = None
    phone = complainant.get("phone") if isinstance(complainant, Mapping) else None
    return {"complainant_phone_hash": phone_hash(keyring, phone, key) if phone else None}
