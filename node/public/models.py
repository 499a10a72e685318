"""Tables of the public portal (issue 12 items 1-3): query codes, one-time phone codes, the
firm table behind the respondent look-up, and what consumers asked for after conclusion.

No code is stored in the clear: a query code or one-time code is kept as a salted keyed (HMAC) 
hash, and a phone only as a keyed hash (``codes.phone_key``), so the table tells nobody which
phone asked for a code.
"""
from __future__ import annotations

from peewee import AutoField, CharField, DateTimeField, IntegerField, TextField

from federation.storage import BaseModel
from node.privacy import EncryptedTextField


class QueryCode(BaseModel):
    """查询码: what lets the person who filed a case follow it without an account."""
    case_id = CharField(primary_key=True)
    code_hash = CharField()
    created_at = DateTimeField()


class PhoneCode(BaseModel):
    """A one-time code sent by SMS to confirm a phone (filing, or following by phone)."""
    id = AutoField()
    phone_key = CharField(index=True)
    purpose = CharField()                 # submit | track
    code_hash = CharField()
    created_at = DateTimeField()
    expires_at = DateTimeField()
    tries = IntegerField(default=0)
    used_at = DateTimeField(null=True)


class Firm(BaseModel):
    """A business the node has seen named with its USCC: the look-up that fills the respondent
    (name, USCC, region) on the public form."""
    uscc = CharField(primary_key=True)
    name = CharField(index=True)
    region_code = CharField(null=True)
    address = TextField(default="")
    seen = IntegerField(default=1)
    updated_at = DateTimeField()


class PublicRequest(BaseModel):
    """A follow-up a consumer sent from the progress page: a satisfaction answer or a request
    to handle the case again (kept here as well as in the case's history)."""
    id = AutoField()
    case_id = CharField(index=True)
    kind = CharField()                    # feedback | reopen
    satisfaction = CharField(default="")
    text = EncryptedTextField(default="")   # the consumer's own words: encrypted at rest (issue 13 item 1)
    created_at = DateTimeField()


MODELS: list[type[BaseModel]] = [QueryCode, PhoneCode, Firm, PublicRequest]


def create_tables(db) -> None:
    """Create this domain's tables (safe when they exist); migration 8 calls it."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
