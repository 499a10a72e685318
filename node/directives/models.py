"""Tables of emergency command and dispatch and of public consumer information.

Serves R3.1-R3.4 (directives down the tree, acknowledgement, situation reports, progress
tracking, overdue reminders), R4.4 and R6.4 (consumer warnings and tips on the public
feed) and CONTRACT §6. The domain logic is in the other modules of
``node/directives/`` (``service``, ``progress``, ``warnings`` …); these are only the rows.

- ``Directive``: one directive as this node holds it — as its issuer, as a target, or as a
  relay on the way to targets below. The node's *own* acknowledgement state lives on the
  row (``delivered_at``, ``acknowledged_at``…): a node acknowledges once per directive.
- ``DirectiveMessage``: every signed message of a directive (``Alert``, ``Update``,
  ``Cancel`` — CAP ``msgType``), version 1, 2, …, kept for CAP rendering and audit.
- ``DirectiveRelay``: the children this node handed the directive to (its subtree scope).
- ``DirectiveProgress``: progress snapshots keyed by (directive, node) with a version
  (RELIABILITY rule 18): the latest snapshot of each child's subtree, replaced only by a
  higher version, and this node's own emitted snapshot (``node`` = own code) with the
  outbox position of the last one sent, so duplicates and late arrivals never count twice.
- ``DirectiveReport``: situation reports (处置反馈) of this node and of its subtree.
- ``DirectiveReminder``: escalating reminders raised here about a late node (itself or a child).
- ``PublicWarning``: consumer warnings and tips (消费警示 / 消费提示) published here or above.

Datetimes are stored naive in UTC (identical on SQLite and PostgreSQL) and shown at +08:00.
"""
from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    IntegerField,
    TextField,
)

from federation.storage import BaseModel


class Directive(BaseModel):
    pk = AutoField()
    directive_id = CharField(unique=True)
    issuer = CharField(index=True)
    issuer_name = CharField(default="")
    issued_by = CharField(default="")
    role = CharField()                          # issuer | target | relay (at this node)
    is_target = BooleanField(default=False)
    title = TextField()
    body = TextField()
    severity = CharField()
    urgency = CharField()
    certainty = CharField(default="observed")
    category = CharField()
    targets = TextField()                       # JSON list of target specs ("*", CODE, CODE/*)
    ack_within_minutes = IntegerField()
    report_within_minutes = IntegerField(null=True)
    issued_at = DateTimeField()
    ack_due_at = DateTimeField(index=True)
    report_due_at = DateTimeField(null=True)
    plan = TextField(null=True)                 # JSON: plan id, version, steps, duties
    case_id = CharField(null=True, index=True)
    exercise = BooleanField(default=False)
    status = CharField(default="active", index=True)   # active | cancelled
    version = IntegerField(default=1)
    updated_at = DateTimeField()
    cancelled_at = DateTimeField(null=True)
    cancel_reason = TextField(null=True)
    received_at = DateTimeField(null=True)
    received_from = CharField(null=True)        # the parent that handed it to us
    # this node's own state as a target (automatic receipt, human acknowledgement 签收)
    delivered_at = DateTimeField(null=True)
    acknowledged_at = DateTimeField(null=True)
    acknowledged_by = CharField(null=True)      # the named person who signed for it
    acknowledged_login = CharField(null=True)
    ack_note = TextField(null=True)
    report_count = IntegerField(default=0)
    last_report_at = DateTimeField(null=True)
    report_totals = TextField(default="{}")     # JSON {count key: int} of own reports

    @classmethod
    def by_id(cls, directive_id: str) -> Directive | None:
        return cls.get_or_none(cls.directive_id == directive_id)


class DirectiveMessage(BaseModel):
    id = AutoField()
    directive_id = CharField()
    version = IntegerField()
    msg_type = CharField()                      # Alert | Update | Cancel
    sent_at = DateTimeField()
    doc_id = CharField()
    doc = TextField()                           # the issuer-signed document, canonical JSON
    note = TextField(default="")

    class Meta:
        indexes = ((("directive_id", "version"), True),)

    @classmethod
    def for_directive(cls, directive_id: str):
        return (cls.select()
                .where(cls.directive_id == directive_id)
                .order_by(cls.version))


class DirectiveRelay(BaseModel):
    id = AutoField()
    directive_id = CharField()
    child = CharField()
    child_level = CharField(default="")
    child_name = CharField(default="")
    relayed_at = DateTimeField()

    class Meta:
        indexes = ((("directive_id", "child"), True),)

    @classmethod
    def children_of(cls, directive_id: str):
        return (cls.select()
                .where(cls.directive_id == directive_id)
                .order_by(cls.child))


class DirectiveProgress(BaseModel):
    id = AutoField()
    directive_id = CharField()
    node = CharField()                          # a child (its subtree snapshot) or this node
    version = BigIntegerField(default=0)
    payload = TextField(default="{}")
    updated_at = DateTimeField()
    # own row only: is a newer snapshot owed, and where the last one sits in the outbox
    dirty = BooleanField(default=False, index=True)
    sent_epoch = CharField(null=True)
    sent_seq = BigIntegerField(null=True)
    sent_to = CharField(null=True)

    class Meta:
        indexes = ((("directive_id", "node"), True),)


class DirectiveReport(BaseModel):
    id = AutoField()
    report_id = CharField(unique=True)
    directive_id = CharField(index=True)
    node = CharField()
    node_name = CharField(default="")
    text = TextField()
    counts = TextField(default="{}")
    attachments = TextField(default="[]")
    reported_by = CharField(default="")
    reported_at = DateTimeField()
    received_at = DateTimeField()

    @classmethod
    def for_directive(cls, directive_id: str):
        return (cls.select()
                .where(cls.directive_id == directive_id)
                .order_by(cls.reported_at, cls.id))


class DirectiveReminder(BaseModel):
    id = AutoField()
    directive_id = CharField()
    late_node = CharField()
    level = IntegerField()                      # 1 提醒, 2 催办, 3 通报
    raised_at = DateTimeField()
    about = CharField()                         # self | child
    message = TextField()

    class Meta:
        indexes = ((("directive_id", "late_node", "level"), True),)

    @classmethod
    def for_directive(cls, directive_id: str):
        return (cls.select()
                .where(cls.directive_id == directive_id)
                .order_by(cls.raised_at, cls.id))


class PublicWarning(BaseModel):
    pk = AutoField()
    warning_id = CharField(unique=True)
    issuer = CharField(index=True)
    issuer_name = CharField(default="")
    kind = CharField()                          # warning | tip | typical_case | hotspot | notice
    title = TextField()
    body = TextField()
    category = CharField(default="other")
    severity = CharField(default="minor")
    region = CharField()                        # the publishing node's code: its whole subtree
    published_at = DateTimeField(index=True)
    expires_at = DateTimeField(null=True)
    status = CharField(default="published", index=True)   # published | withdrawn
    withdrawn_at = DateTimeField(null=True)
    withdraw_reason = TextField(null=True)
    received_from = CharField(null=True)
    doc = TextField()                           # the publisher-signed document
    withdraw_doc = TextField(null=True)

    @classmethod
    def by_id(cls, warning_id: str) -> PublicWarning | None:
        return cls.get_or_none(cls.warning_id == warning_id)


MODELS: list[type[BaseModel]] = [Directive, DirectiveMessage, DirectiveRelay, DirectiveProgress,
                                 DirectiveReport, DirectiveReminder, PublicWarning]
