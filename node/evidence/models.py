"""Tables of case attachments (issue 11 item 5; docs/evidence.md).

* ``Evidence`` — one attachment of one case as this node knows it: the case, the SHA-256 of
  its bytes (the blob's name), size, media type, the sanitised original file name, who
  uploaded it, when and at which node. The bytes live outside the database, content-addressed
  under the node's home (``node.evidence.store``); a row may exist before its bytes have
  arrived (records and chunks travel separately), which the list shows.
* ``EvidenceHolder`` — the nodes known to hold the record of an attachment (this node sent
  it to them, or the record said so): a holder that already has it is not sent it again.
* ``BlobLink`` — the peers (linked nodes) known to hold a blob: the bytes cross each link
  once (``sent``: we queued it to them; ``received``: they sent it to us).
* ``BlobChunk`` — chunks of a blob on their way in from one peer, until the last one
  arrives and the blob is assembled, checked and written.

Nothing here is tied to a database at import time (``federation.storage.BaseModel``).
"""
from __future__ import annotations

from peewee import AutoField, BigIntegerField, BlobField, CharField, DateTimeField, IntegerField

from federation.storage import BaseModel
from node.privacy import EncryptedTextField


class Evidence(BaseModel):
    id = AutoField()
    case_id = CharField(max_length=40)
    sha256 = CharField(max_length=64)
    size = BigIntegerField()
    media_type = CharField(max_length=64)
    file_name = EncryptedTextField()         # a name may name a person: encrypted at rest (issue 13 item 1)
    uploaded_by = CharField(max_length=64)
    uploaded_at = DateTimeField()            # naive UTC, as every stored time
    node = CharField(max_length=16)          # where it was uploaded
    received_at = DateTimeField()            # when this node got the record

    class Meta:
        table_name = "evidence"
        indexes = ((("case_id", "sha256"), True),)


class EvidenceHolder(BaseModel):
    case_id = CharField(max_length=40)
    sha256 = CharField(max_length=64)
    node = CharField(max_length=16)

    class Meta:
        table_name = "evidence_holder"
        primary_key = False
        indexes = ((("case_id", "sha256", "node"), True),)


class BlobLink(BaseModel):
    peer = CharField(max_length=16)
    sha256 = CharField(max_length=64)
    how = CharField(max_length=8)            # sent | received
    at = DateTimeField()

    class Meta:
        table_name = "evidence_blob_link"
        primary_key = False
        indexes = ((("peer", "sha256"), True),)


class BlobChunk(BaseModel):
    peer = CharField(max_length=16)
    sha256 = CharField(max_length=64)
    part = IntegerField()                    # 0 … total - 1
    total = IntegerField()
    size = BigIntegerField()                 # of the whole blob
    data = BlobField()
    received_at = DateTimeField()

    class Meta:
        table_name = "evidence_chunk"
        primary_key = False
        indexes = ((("peer", "sha256", "part"), True),)


MODELS: list[type[BaseModel]] = [Evidence, EvidenceHolder, BlobLink, BlobChunk]
