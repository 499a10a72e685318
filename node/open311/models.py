"""Tables of the Open311 domain (issue 12 item 5; CONTRACT §10; docs/open311.md).

* ``ApiKey`` — one key per partner system (a city app, a civic bot) that may POST service
  requests: its name, the SHA-256 of the key (the key itself is printed once by
  ``n12315 open311 key add`` and never stored), when it was made and, once revoked, when.

Nothing here is tied to a database at import time (``federation.storage.BaseModel``).
"""
from __future__ import annotations

from peewee import CharField, DateTimeField

from federation.storage import BaseModel


class ApiKey(BaseModel):
    name = CharField(max_length=64, unique=True)
    key_hash = CharField(max_length=64, unique=True)   # SHA-256 hex of the key
    created_at = DateTimeField()                       # naive UTC, as every stored time
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "open311_key"

    @classmethod
    def by_hash(cls, key_hash: str) -> ApiKey | None:
        return (cls.select()
                .where(cls.key_hash == key_hash)
                .first())

    @classmethod
    def by_name(cls, name: str) -> ApiKey | None:
        return (cls.select()
                .where(cls.name == name)
                .first())


MODELS: list[type[BaseModel]] = [ApiKey]


def create_tables(db) -> None:
    """Create this domain's tables (safe when they exist); migrations call it."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
