"""The staff account table (CONTRACT §4)."""
from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField

from federation.storage import BaseModel


class User(BaseModel):
    """A staff account. Only the SHA-256 of the API token is stored (CONTRACT §4)."""
    login = CharField(primary_key=True)
    role = CharField()
    token_hash = CharField(unique=True)
    display_name = CharField(default="")
    created_at = DateTimeField()
    disabled = BooleanField(default=False)


MODELS: list[type[BaseModel]] = [User]
