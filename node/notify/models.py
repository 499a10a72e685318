"""Tables of the notify domain (issue 12 item 4; R2.7; docs/notifications.md).

* ``Notification`` — one message to one person on one channel: the outbox and its state
  (``pending`` → ``sent`` | ``failed``), the next time it may be tried and the last error.
  The table name and the first columns are those routing's notice outbox had (a node already
  running has that table; migration 7 adds the new columns).
* ``DeliveryAttempt`` — the delivery log: one row per try (when, by which sender, how long,
  whether it went, and why not).

Times are stored naive UTC, as every stored time; nothing here travels to other nodes.
"""
from __future__ import annotations

from datetime import datetime

from peewee import AutoField, BooleanField, CharField, DateTimeField, IntegerField, TextField

from federation.storage import BaseModel
from node.privacy import EncryptedTextField


class Notification(BaseModel):
    id = AutoField()
    key = CharField(unique=True)             # idempotency: the same cause queues one message
    case_id = CharField(index=True)          # "" for messages about no case (one-time codes)
    version = IntegerField()
    status = CharField()                     # the case status told of ("" when none)
    # the person's name, their phone or e-mail, and the text (which names them): encrypted at
    # rest (issue 13 item 1); the address is masked in every listing
    recipient = EncryptedTextField(default="")
    address = EncryptedTextField(default="")
    message = EncryptedTextField()
    state = CharField(default="pending", index=True)   # pending | sent | failed
    sender = CharField(default="")
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)
    channel = CharField(default="sms")       # sms | email
    event = CharField(default="")            # received, accepted, …, code (node.notify.templates)
    subject = CharField(default="")          # e-mail subject
    next_attempt_at = DateTimeField(null=True)   # None: due at once

    class Meta:
        table_name = "notification"
        indexes = ((("state", "next_attempt_at"), False),)

    @classmethod
    def due(cls, now: datetime, limit: int):
        """Pending messages whose time has come, oldest first."""
        return (cls.select()
                .where((cls.state == "pending")
                       & (cls.next_attempt_at.is_null() | (cls.next_attempt_at <= now)))
                .order_by(cls.id)
                .limit(limit))

    @classmethod
    def by_key_or_id(cls, key_or_id: str | int):
        if isinstance(key_or_id, int):
            return cls.get_or_none(cls.id == key_or_id)
        return cls.get_or_none(cls.key == key_or_id)


class DeliveryAttempt(BaseModel):
    id = AutoField()
    notification_id = IntegerField(index=True)
    at = DateTimeField()
    channel = CharField()
    sender = CharField()                     # e.g. "sms-http", "smtp"
    ok = BooleanField()
    error = TextField(default="")            # never holds the recipient's address in clear
    ms = IntegerField()                      # how long the try took

    class Meta:
        table_name = "notification_attempt"

    @classmethod
    def for_notifications(cls, ids: list[int]):
        return (cls.select()
                .where(cls.notification_id.in_(ids))
                .order_by(cls.notification_id, cls.id))


MODELS: list[type[BaseModel]] = [Notification, DeliveryAttempt]

# columns routing's outbox did not have, with the DDL that adds them to a running node's table
_NEW_COLUMNS = (("channel", "VARCHAR(255) NOT NULL DEFAULT 'sms'"),
                ("event", "VARCHAR(255) NOT NULL DEFAULT ''"),
                ("subject", "VARCHAR(255) NOT NULL DEFAULT ''"),
                ("next_attempt_at", "TIMESTAMP"))


def create_tables(db) -> None:
    """Create this domain's tables (safe when they exist)."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)


def migrate_tables(db) -> None:
    """Migration 7: a node that ran routing's outbox has ``notification`` without the new
    columns (its old rows were all SMS; their event is the status they told of); a store made
    by this code at migration 1 already has them. Then the delivery log."""
    if db.table_exists("notification"):
        have = {c.name for c in db.get_columns("notification")}
        added = False
        for column, ddl in _NEW_COLUMNS:
            if column not in have:
                db.execute_sql(f"ALTER TABLE notification ADD COLUMN {column} {ddl}")
                added = True
        if added:
            db.execute_sql("UPDATE notification SET event = status WHERE event = ''")
        db.execute_sql("CREATE INDEX IF NOT EXISTS notification_state_next_attempt_at "
                       "ON notification (state, next_attempt_at)")
    create_tables(db)
