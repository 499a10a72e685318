"""Operational tables: end-to-end pings through the tree (R7.1 "fast electronic channels";
an operator's way to prove a path works, and the real-process tests' probe)."""
from __future__ import annotations

from peewee import BigIntegerField, CharField, DateTimeField, IntegerField

from federation.storage import BaseModel


class PingLog(BaseModel):
    doc_id = CharField(primary_key=True)   # the ping document's id
    direction = CharField()                 # out (we sent it) | in (we answered it)
    peer = CharField()                      # the other end
    seq = IntegerField(default=0)           # the operator's running number, to check order
    sent_at = DateTimeField()
    answered_at = DateTimeField(null=True)  # out: when the pong came back
    received = IntegerField(default=0)      # in: how many times it was applied (must stay 1)
    arrival = BigIntegerField(null=True, index=True)   # in: 1, 2, 3 … in the order applied here


MODELS = [PingLog]
