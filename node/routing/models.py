"""Tables of case routing that are local to one node (R2.6-R2.7).

* ``CaseProposal`` — what this node proposed to the handling node of a case it holds a
  copy of (urge, comment, take over, follow-up call, reopen), and what became of it
  (``sent`` → ``applied`` / ``rejected`` with the handler's reason, or ``undeliverable``).

The notices to named complainants (R2.7) live in ``node.notify`` (its ``Notification``
outbox keeps the table routing once had); ``notifications.py`` decides what to tell.

The case itself, its history and its custody trail live in ``node.cases.models`` and travel
with the case (``node/routing/documents.py``); nothing here travels.
"""
from __future__ import annotations

from peewee import AutoField, CharField, DateTimeField, TextField

from federation.storage import BaseModel


class CaseProposal(BaseModel):
    id = AutoField()
    proposal_id = CharField(unique=True)
    case_id = CharField(index=True)
    action = CharField()
    payload = TextField(default="{}")        # JSON
    actor = CharField()
    to_node = CharField()                    # the handler as this node knew it
    state = CharField(default="sent")        # sent | applied | rejected | undeliverable
    reason = TextField(default="")
    created_at = DateTimeField()
    resolved_at = DateTimeField(null=True)

    @classmethod
    def pending_for(cls, case_id: str):
        return (cls.select()
                .where((cls.case_id == case_id) & (cls.state == "sent"))
                .order_by(cls.id))


MODELS: list[type[BaseModel]] = [CaseProposal]
