"""Query codes (查询码) and one-time phone codes (issue 12 items 1-3).

A query code is eight characters from an alphabet without look-alikes (31^8 ≈ 8.5 × 10^11 codes),
shown once on the receipt and kept only as a salted HMAC-SHA256 under a key derived from the
node's secret file (outside the database). A one-time code is six digits,
sent by SMS, valid ``public.code_ttl_minutes``, spent after ``public.code_max_tries`` wrong
tries or one right one. Checking a code for a case that does not exist costs the same hash as
a real one, so timing tells nobody which case numbers exist.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from node.db import write_tx
from node.privacy import normalise_phone
from node.public.models import PhoneCode, QueryCode
from node.runtime import Node
from node.web.session import load_secret

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"   # no 0/O, 1/I/L: nothing to misread
QUERY_CODE_LENGTH = 8
# a hash of a code nobody holds: unknown case numbers are checked against it (same work)
_DUMMY = "hmac$00000000000000000000000000000000$" + "0" * 64


def _pepper(node: Node) -> bytes:
    """The key the code hashes are made with, derived from the node's secret file (kept in
    ``keys/``, outside the database), read once per process."""
    key = node.cache.get("public.pepper")
    if key is None:
        key = node.cache["public.pepper"] = hmac.new(load_secret(node.config.home_path), b"n12315 public codes",
                                                     hashlib.sha256).digest()
    return key


def _hash(node: Node, code: str, salt: bytes) -> str:
    # A keyed hash, not a slow one: a slow hash (scrypt at 50-160 ms) made every filing wait and
    # capped the portal at ~15 cases/s on two cores, while a copy of the database alone still
    # cannot be searched for codes without the key file. Guessing online meets the rate limits.
    digest = hmac.new(_pepper(node), salt + code.encode(), hashlib.sha256).hexdigest()
    return f"hmac${salt.hex()}${digest}"


def _matches(node: Node, code: str, stored: str) -> bool:
    try:
        _, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(_hash(node, code, salt).split("$")[2], digest_hex)


def normalise_query_code(text: str) -> str:
    """What a person types: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in str(text or "").upper() if ch not in " -")


def prepare_query_code(node: Node) -> tuple[str, str]:
    """A new query code and its hash (made before the write transaction)."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(QUERY_CODE_LENGTH))
    return code, _hash(node, code, secrets.token_bytes(16))


def store_query_code(node: Node, case_id: str, code_hash: str) -> None:
    """Keep a prepared code's hash for a case (in the caller's transaction)."""
    (QueryCode.insert(case_id=case_id, code_hash=code_hash, created_at=_now(node))
        .on_conflict(conflict_target=[QueryCode.case_id],
                     update={QueryCode.code_hash: code_hash, QueryCode.created_at: _now(node)})
        .execute())


def new_query_code(node: Node, case_id: str) -> str:
    """Make and store the query code of a case; return it (shown once)."""
    code, code_hash = prepare_query_code(node)
    store_query_code(node, case_id, code_hash)
    return code


def query_code_matches(node: Node, case_id: str, typed: str) -> bool:
    row = QueryCode.get_or_none(QueryCode.case_id == case_id) if case_id else None
    code = normalise_query_code(typed)
    ok = _matches(node, code, row.code_hash if row is not None else _DUMMY)
    return ok and row is not None and len(code) == QUERY_CODE_LENGTH


def phone_key(node: Node, phone: str) -> str:
    """A keyed hash of a phone (normalised as the case look-up does: full-width digits, spaces and
    ``+86`` fold together): rate limits and codes never hold the number."""
    digits = normalise_phone(phone)
    return hmac.new(_pepper(node), b"phone:" + digits.encode(), hashlib.sha256).hexdigest()


def new_phone_code(node: Node, phone: str, purpose: str) -> str:
    """Make a one-time code for ``phone``; earlier unused codes of the same purpose are spent."""
    code = f"{secrets.randbelow(10 ** 6):06d}"
    now = _now(node)
    key = phone_key(node, phone)
    with write_tx(node.db):
        (PhoneCode.update(used_at=now)
            .where((PhoneCode.phone_key == key) & (PhoneCode.purpose == purpose) & PhoneCode.used_at.is_null())
            .execute())
        PhoneCode.create(phone_key=key, purpose=purpose, code_hash=_hash(node, code, secrets.token_bytes(16)),
                         created_at=now, expires_at=now + timedelta(minutes=node.config.public.code_ttl_minutes))
    return code


def use_phone_code(node: Node, phone: str, purpose: str, typed: str) -> bool:
    """True once for the right code within its time; a wrong try counts against the code."""
    now = _now(node)
    key = phone_key(node, phone)
    typed = "".join(ch for ch in str(typed or "") if ch.isdigit())
    with write_tx(node.db):
        row = (PhoneCode.select()
               .where((PhoneCode.phone_key == key) & (PhoneCode.purpose == purpose) & PhoneCode.used_at.is_null())
               .order_by(PhoneCode.id.desc())
               .first())
        if row is None or row.expires_at < now:
            return False
        if len(typed) == 6 and _matches(node, typed, row.code_hash):
            PhoneCode.update(used_at=now).where(PhoneCode.id == row.id).execute()
            return True
        spent = row.tries + 1 >= node.config.public.code_max_tries
        PhoneCode.update(tries=PhoneCode.tries + 1, used_at=now if spent else None).where(PhoneCode.id == row.id).execute()
        return False


def _now(node: Node) -> datetime:
    """Stored times are naive UTC, as everywhere in the node's tables."""
    return node.now().astimezone(UTC).replace(tzinfo=None)
