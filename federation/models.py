"""Tables of identity and trust: own state, peers' keys, links, invites, records, nonces.

R7.1 (vertically connected network), CONTRACT §3, RELIABILITY rules 14-15, 19.
Public keys are kept forever with their validity window so archived documents verify
(rule 14); a revoked key keeps its row with ``revoked_at`` set.
"""
from __future__ import annotations

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, FloatField, IntegerField, TextField

from federation.storage import BaseModel, KeyValueMixin


class LocalState(KeyValueMixin, BaseModel):
    """Small key/value facts about this store: epoch, own key id, revocation version."""
    key = CharField(primary_key=True)
    value = TextField()


class KnownKey(BaseModel):
    """A public key of some node (own ones included), by key id, kept forever."""
    key_id = CharField(primary_key=True)
    node_code = CharField(index=True)
    public_key = CharField()
    valid_from = DateTimeField()
    valid_until = DateTimeField(null=True)   # set when rotated out: old documents still verify
    revoked_at = DateTimeField(null=True)    # revoked keys verify nothing any more
    statement = TextField(null=True)         # signed key-rotation statement that introduced it


class NodeRecord(BaseModel):
    """A signed node record (who, which key, which region it may speak for, signed by
    its parent). ``body`` is the canonical JSON of the signed record."""
    code = CharField(primary_key=True)
    key_id = CharField()
    issuer = CharField(null=True)
    body = TextField()
    updated_at = DateTimeField()


class Link(BaseModel):
    """A parent or child of this node, and the health of the link (rule 19)."""
    code = CharField(primary_key=True)
    level = CharField()
    role = CharField()                        # parent | child | peer
    name = CharField(default="")
    url = CharField()
    state = CharField(default="active")       # active | revoked | stopped
    state_reason = TextField(null=True)
    created_at = DateTimeField()
    last_ok_push_at = DateTimeField(null=True)   # our push accepted by the peer
    last_ok_pull_at = DateTimeField(null=True)   # our pull answered by the peer
    last_seen_at = DateTimeField(null=True)      # any signed request from the peer
    last_error = TextField(null=True)
    last_error_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    next_try_at = DateTimeField(null=True)
    clock_skew_s = FloatField(null=True)
    pull_only = BooleanField(default=False)   # the peer cannot take inbound connections


class Invite(BaseModel):
    token_hash = CharField(primary_key=True)
    child_code = CharField()
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class RevocationEntry(BaseModel):
    """Codes and keys revoked by a signed, versioned revocation list (rule 15, F12)."""
    subject = CharField(primary_key=True)     # a node code or a key id
    list_issuer = CharField()
    list_version = BigIntegerField()
    revoked_at = DateTimeField()
    reason = TextField(default="")


class SeenNonce(BaseModel):
    """RFC 9421 nonces seen inside the freshness window (F23)."""
    key_id = CharField()
    nonce = CharField()
    expires_at = DateTimeField(index=True)

    class Meta:
        primary_key = False
        indexes = ((("key_id", "nonce"), True),)


MODELS = [LocalState, KnownKey, NodeRecord, Link, Invite, RevocationEntry, SeenNonce]
