"""The case tables: cases, their history, the per-day id counters.

R4.1 "who accepts, handles and enters" — every case row names its accepting node and its
handling node, every change is a ``CaseEvent`` with actor, node and time. Query helpers are
named class methods, one clause per line (STYLE.md "Database").
"""
from __future__ import annotations

import logging

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    Database,
    DateField,
    DateTimeField,
    IntegerField,
    TextField,
)

from federation.storage import BaseModel
from node.privacy import EncryptedTextField

log = logging.getLogger(__name__)


class DayCounter(BaseModel):
    """Per-node, per-day counter behind readable case ids (``440305-20260929-000001``)."""
    scope = CharField()
    day = CharField()
    value = BigIntegerField(default=0)

    class Meta:
        primary_key = False
        indexes = ((("scope", "day"), True),)


class Case(BaseModel):
    """One case as this node holds it: as its handler, or as a copy on the route."""
    pk = AutoField()
    case_id = CharField(unique=True)
    kind = CharField()
    report_target = CharField(null=True)
    channel = CharField()
    urgency = CharField(index=True)
    status = CharField(index=True)
    category = CharField()
    summary = TextField()
    description = TextField(default="")
    demand = TextField(default="")            # what the complainant asks for (issue 12, publicity)
    occurred_on = DateField(null=True)        # when the dispute arose (issue 12, publicity)
    complainant = EncryptedTextField(default="{}")   # JSON, encrypted at rest (issue 13 item 1)
    complainant_phone_hash = CharField(null=True, index=True)   # keyed hash: same-phone look-ups
    respondent = TextField(default="{}")      # JSON
    respondent_name = CharField(default="")
    respondent_region = CharField(null=True, index=True)
    respondent_uscc = CharField(null=True)
    amount = CharField(null=True)             # decimal string, never a float
    amount_recovered = CharField(null=True)
    extensions = TextField(default="{}")
    received_at = DateTimeField()
    received_date = DateField(index=True)     # Asia/Shanghai calendar date
    accepting_node = CharField(index=True)
    handling_node = CharField(index=True)
    department = CharField(default="consumer_protection")
    rule_set = CharField()
    deadlines = TextField(default="{}")
    next_due = DateField(null=True, index=True)  # earliest open deadline: overdue queries
    overdue = BooleanField(default=False, index=True)
    outcome = TextField(null=True)            # JSON
    linked_case = CharField(null=True)
    route = TextField(default="[]")          # custody trail: one entry per hop (docs/routing.md)
    held_as = CharField(default="handler")   # handler | copy
    holders = TextField(default="[]")        # nodes known to hold a copy (updates go to them)
    attention = TextField(null=True)         # why a person must look at it (routing), else null
    version = IntegerField(default=1)        # bumped by every change at the handling node
    search_text = TextField(default="")
    created_at = DateTimeField()
    updated_at = DateTimeField(index=True)

    @classmethod
    def by_id(cls, case_id: str) -> Case | None:
        return cls.get_or_none(cls.case_id == case_id)

    @classmethod
    def row(cls, case_id: str) -> dict | None:
        """The case as a plain dict of column values (cheaper than a model instance)."""
        return (cls.select()
                .where(cls.case_id == case_id)
                .dicts()
                .first())

    @classmethod
    def overdue_candidates(cls, today):
        """Ids of handled cases not yet flagged whose earliest running clock is before ``today``."""
        return (cls.select(cls.case_id)
                .where((cls.overdue == False)  # noqa: E712 - a peewee expression
                       & cls.next_due.is_null(False)
                       & (cls.next_due < today)
                       & (cls.held_as == "handler"))
                .order_by(cls.pk)
                .tuples())

    @classmethod
    def open_urgent(cls, done_statuses, hidden_department: str, limit: int):
        """Open urgent and critical cases, critical first, newest first (leadership board)."""
        return (cls.select()
                .where(cls.urgency.in_(("urgent", "critical"))
                       & cls.status.not_in(tuple(done_statuses))
                       & (cls.department != hidden_department))
                .order_by(Case.urgency != "critical", cls.pk.desc())
                .limit(limit)
                .dicts())


class CaseEvent(BaseModel):
    """One entry of a case's history: who did what, where, when, from which status."""
    id = AutoField()
    case_id = CharField(index=True)
    at = DateTimeField()
    node = CharField()
    actor = CharField()
    action = CharField()
    from_status = CharField(null=True)
    to_status = CharField(null=True)
    note = TextField(default="")
    data = TextField(default="{}")
    # the per-case hash chain (issue 13 item 4; node/cases/chain.py): hash of the event before
    # (the case's genesis for the first) and of this event's content with it
    prev_hash = CharField(max_length=64, null=True)
    hash = CharField(max_length=64, null=True)
    # set at a copy whose held history the handler's contradicted: the old events are kept,
    # out of the case's history and out of its chain (the text says when and why)
    superseded = CharField(null=True)

    @classmethod
    def for_case(cls, case_id: str):
        return (cls.select()
                .where((cls.case_id == case_id) & cls.superseded.is_null())
                .order_by(cls.at, cls.id))

    @classmethod
    def superseded_for(cls, case_id: str):
        """Events a copy held until the handler's history contradicted them (kept, not current)."""
        return (cls.select()
                .where((cls.case_id == case_id) & cls.superseded.is_null(False))
                .order_by(cls.id))

    @classmethod
    def for_cases(cls, case_ids: list[str]):
        return (cls.select()
                .where(cls.case_id.in_(case_ids) & cls.superseded.is_null())
                .order_by(cls.at, cls.id))


class CaseHeadMark(BaseModel):
    """A case whose history grew or changed since the last signed audit head (issue 13 item 4;
    node/cases/chain.py "Sealed heads"): written in the transaction that appends its events,
    taken by the next seal. Writers only insert (no unique key, nothing updated), so a writer
    never waits on the seal nor the seal on a writer."""
    id = AutoField()
    case_id = CharField(index=True)

    class Meta:
        table_name = "case_head_mark"


class CaseHeadSeal(BaseModel):
    """One case's history head as the ``case.heads`` audit entry ``entry_seq`` sealed it: the
    case's first ``events`` current events end in ``hash``. ``pos`` is the row's place in the
    entry's digest."""
    id = AutoField()
    entry_seq = BigIntegerField()
    pos = IntegerField()
    case_id = CharField(index=True)
    events = IntegerField()
    hash = CharField(max_length=64)

    class Meta:
        table_name = "case_head_seal"
        indexes = ((("entry_seq", "pos"), True),)


MODELS: list[type[BaseModel]] = [DayCounter, Case, CaseEvent, CaseHeadMark, CaseHeadSeal]


def create_search_index(db: Database) -> None:
    """Substring search over summary, description and respondent name (CONTRACT §5 ``q``).

    SQLite: an FTS5 table with the trigram tokenizer answers any phrase of three or more
    characters from the index, with Chinese substring semantics and no segmentation;
    shorter phrases fall back to LIKE. PostgreSQL: a pg_trgm GIN index serves LIKE.
    """
    from node.db import is_sqlite
    if is_sqlite(db):
        db.execute_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS case_search USING fts5("
            "case_id UNINDEXED, body, tokenize='trigram')")
    else:
        try:
            # The extension lives in ``public``, not in the node's schema (``search_path`` is the
            # node's own): a node schema dropped with CASCADE would take the extension, and every
            # other node's index, with it. The operator class is named with its schema, so no
            # node needs a wider ``search_path`` (issue 15 item 2).
            with db.atomic():
                db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            row = db.execute_sql("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                 "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'").fetchone()
            opclass = f'"{row[0]}".gin_trgm_ops'
            with db.atomic():
                db.execute_sql("CREATE INDEX IF NOT EXISTS case_search_trgm ON \"case\" "
                               f"USING gin (search_text {opclass})")
        except Exception as exc:  # the server may refuse CREATE EXTENSION to non-superusers
            log.warning("pg_trgm unavailable, substring search scans the table: %s", exc)
