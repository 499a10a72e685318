"""The staff account tables (CONTRACT §4, §9): users and the record of sign-in attempts."""
from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, DateTimeField, IntegerField

from federation.storage import BaseModel


class User(BaseModel):
    """A staff account. Only the SHA-256 of the API token is stored (CONTRACT §4); the desk
    password only as an argon2id hash (CONTRACT §9)."""
    login = CharField(primary_key=True)
    role = CharField()
    token_hash = CharField(unique=True)
    display_name = CharField(default="")
    created_at = DateTimeField()
    disabled = BooleanField(default=False)
    password_hash = CharField(null=True)          # argon2id encoded hash; null: no desk sign-in
    failed_logins = IntegerField(default=0)       # consecutive failures since the last success
    locked_until = DateTimeField(null=True)       # sign-in refused until then (UTC)
    session_epoch = IntegerField(default=0)       # bumped on password change and on disable: every session ends


class LoginEvent(BaseModel):
    """One desk sign-in attempt, kept with time and address (issue 11: lockout is recorded)."""
    id = AutoField()
    login = CharField(index=True)
    at = DateTimeField()
    address = CharField(default="")
    outcome = CharField()                          # ok | bad_password | unknown_login | locked | no_password | disabled


class ApiToken(BaseModel):
    """One API token of a login (issue 13 item 5): kept as its SHA-256 with the first characters
    shown to tell tokens apart, when it was made, when it expires, when it was last used (to the
    hour) and when it was revoked. ``User.token_hash`` names the newest; this table decides."""
    id = AutoField()
    login = CharField(index=True)
    token_hash = CharField(unique=True)
    prefix = CharField()                           # "n12315_AbCd": enough to recognise, useless to use
    created_at = DateTimeField()                   # UTC, naive
    expires_at = DateTimeField()
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "api_token"


MODELS: list[type[BaseModel]] = [User, LoginEvent, ApiToken]
