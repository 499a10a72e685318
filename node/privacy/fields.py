"""Personal fields encrypted at rest, field by field (issue 13 item 1 "At rest"; docs/privacy.md).

``EncryptedTextField`` is a peewee ``TextField`` whose stored form is
``enc:v1:<kid>:<base64(nonce ‖ ciphertext ‖ tag)>``: AES-256-GCM (``cryptography``'s AESGCM,
a random 96-bit nonce per value) under the current data key of the node's keyring, with the
table and column (``case.complainant``) as associated data, so a value copied into another
column does not open. Rows written and read through the models — ``insert``, ``update``,
``.dicts()``, and the lean SQL paths that call ``db_value``/``python_value`` themselves
(``node.cases.lifecycle.insert_rows``, ``node.routing.documents``) — are encrypted and
decrypted without the caller knowing. ``None`` and ``""`` are stored as they are (they say
nothing). A value without the prefix is read as it is: a row from before migration 13.

A value that does not open (wrong key, changed bytes, moved between columns) raises
``DataKeyError`` — one clear line naming the column and the key id, never the value.
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from peewee import TextField

from node.privacy.keys import DataKeyError, Keyring, keyring_of

PREFIX = "enc:v1:"
NONCE_BYTES = 12


def aad_for(table: str, column: str) -> bytes:
    return f"n12315:{table}.{column}".encode()


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def kid_of(stored: str) -> str:
    return stored[len(PREFIX):].split(":", 1)[0]


def encrypt(keyring: Keyring, plain: str, aad: bytes) -> str:
    key = keyring.current
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aead.encrypt(nonce, plain.encode("utf-8"), aad)
    return f"{PREFIX}{key.kid}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def decrypt(keyring: Keyring, stored: str, aad: bytes) -> str:
    where = aad.decode(errors="replace").removeprefix("n12315:")
    try:
        kid, b64 = stored[len(PREFIX):].split(":", 1)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise DataKeyError(f"{where} 的密文格式损坏 / the encrypted value in {where} is malformed",
                           "data_corrupt") from None
    return open_under(keyring, kid, raw, aad, f"{where} 的值", f"a value in {where}").decode("utf-8")


def open_under(keyring: Keyring, kid: str, raw: bytes, aad: bytes, what_zh: str, what_en: str) -> bytes:
    """``nonce ‖ ciphertext`` opened with data key ``kid`` — the one reader for field values and
    attachments: an unknown key or bytes that do not open raise ``DataKeyError`` naming ``what``."""
    key = keyring.get(kid)
    if key is None:
        raise DataKeyError(f"{what_zh}由数据密钥 {kid} 加密，本节点没有该密钥：请放回原密钥（keys/data.key 或 "
                           f"N12315_DATA_KEY）/ {what_en} is sealed under data key {kid}, which this node "
                           "does not hold: put the old key back", "data_key_unknown")
    try:
        return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise DataKeyError(f"{what_zh}无法用数据密钥 {kid} 解开：密钥不对，或内容被改动或挪动 / {what_en} "
                           f"does not open with data key {kid}: wrong key, or the stored bytes were changed or "
                           "moved", "data_corrupt") from None


class EncryptedTextField(TextField):
    """A text column stored encrypted (AES-256-GCM, table+column bound as associated data)."""

    def _aad(self) -> bytes:
        aad = self.__dict__.get("_n12315_aad")
        if aad is None:
            aad = self.__dict__["_n12315_aad"] = aad_for(self.model._meta.table_name, self.column_name)
        return aad

    def db_value(self, value: Any) -> Any:
        value = super().db_value(value)
        if value is None or value == "":
            return value
        return encrypt(keyring_of(self.model._meta.database), value, self._aad())

    def python_value(self, value: Any) -> Any:
        if not is_encrypted(value):
            return value
        return decrypt(keyring_of(self.model._meta.database), value, self._aad())


def encrypted_columns(models: list[Any]) -> list[tuple[Any, EncryptedTextField]]:
    """Every encrypted column of ``models``: ``(model, field)``."""
    return [(m, f) for m in models for f in m._meta.sorted_fields if isinstance(f, EncryptedTextField)]
