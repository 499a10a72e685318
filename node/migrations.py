"""The node's numbered schema migrations (STYLE.md "Database"), in order.

Composition level, like ``node.domains``: a migration may touch any domain's tables, so this
module may name them; ``node.db.migrate`` runs the list and records each number in
``schema_version``. Never renumber or edit a released migration; add the next one.
"""
from __future__ import annotations

from peewee import Database

from node import db as dbmod
from node.cases import create_search_index


def _m0001_initial(db: Database) -> None:
    with db.bind_ctx(dbmod.all_models()):
        db.create_tables(dbmod.all_models(), safe=True)
    create_search_index(db)


def _m0002_ping_arrival(db: Database) -> None:
    """``ping_log.arrival``: the order pings were applied in, so ``pings`` can show that a
    link delivered them in the order sent (F4). A store created at version 1 by this code
    already has the column (0001 creates today's tables)."""
    if "arrival" not in {c.name for c in db.get_columns("ping_log")}:
        db.execute_sql("ALTER TABLE ping_log ADD COLUMN arrival BIGINT")
        db.execute_sql("CREATE INDEX IF NOT EXISTS ping_log_arrival ON ping_log (arrival)")


def _m0003_desk_sign_in(db: Database) -> None:
    """Desk passwords, lockout and sign-in records (issue 11). A store created by this code
    at 0001 already has them (0001 creates today's tables)."""
    from node.accounts import LoginEvent
    have = {c.name for c in db.get_columns("user")}
    for column, ddl in (("password_hash", "VARCHAR(255)"), ("failed_logins", "INTEGER NOT NULL DEFAULT 0"),
                        ("locked_until", "TIMESTAMP"), ("session_epoch", "INTEGER NOT NULL DEFAULT 0")):
        if column not in have:
            db.execute_sql(f'ALTER TABLE "user" ADD COLUMN {column} {ddl}')
    with db.bind_ctx([LoginEvent]):
        db.create_tables([LoginEvent], safe=True)


def _m0004_evidence(db: Database) -> None:
    """Case attachments (issue 11 item 5): records, who holds them, which peers hold which
    blob, chunks on their way. A store created by this code at 0001 already has them."""
    from node.evidence import models as evidence_models
    with db.bind_ctx(evidence_models.MODELS):
        db.create_tables(evidence_models.MODELS, safe=True)


def _m0005_attention_index(db: Database) -> None:
    """Cases flagged for a person are few; the home page counts them on every visit. A partial
    index holds only those rows (without it the count scans every case: issue 11 item 10)."""
    db.execute_sql('CREATE INDEX IF NOT EXISTS case_attention ON "case" (pk) WHERE attention IS NOT NULL')


def _m0006_case_fields(db: Database) -> None:
    """``case.demand`` and ``case.occurred_on`` (issue 12: what a complaint asks for and when
    the dispute arose, as Order 20 Art. 9 and the publicity rules name them)."""
    have = {c.name for c in db.get_columns("case")}
    if "demand" not in have:
        db.execute_sql('ALTER TABLE "case" ADD COLUMN demand TEXT NOT NULL DEFAULT \'\'')
    if "occurred_on" not in have:
        db.execute_sql('ALTER TABLE "case" ADD COLUMN occurred_on DATE')


def _m0007_notify(db: Database) -> None:
    """Notifications that reach people: senders, retries, the delivery log (issue 12 item 4)."""
    from node import notify
    notify.migrate_tables(db)


def _m0008_public(db: Database) -> None:
    """The public portal: query codes, one-time phone codes, surveys (issue 12 items 1-3)."""
    from node import public
    public.migrate_tables(db)


def _m0009_open311(db: Database) -> None:
    """Open311 API keys (issue 12 item 5)."""
    from node import open311
    open311.migrate_tables(db)


def _m0010_publicity(db: Database) -> None:
    """Complaint publicity entries (issue 12 item 6)."""
    from node import publicity
    publicity.migrate_tables(db)


def _m0011_audit_log(db: Database) -> None:
    """The tamper-evident audit log and API tokens that expire (issue 13 items 4-5): every
    existing login's current token gets a row, valid for the default 90 days from here."""
    from node import audit
    from node.accounts import migrate_tokens
    audit.migrate_tables(db)
    migrate_tokens(db)


def _m0012_import_records(db: Database) -> None:
    """Bulk import (issue 15 item 3): ``import_record``, legacy id → case id, unique on the
    legacy id so a re-run of the same export imports nothing twice."""
    from node import imports
    imports.migrate_tables(db)


def _m0013_personal_data_encrypted(db: Database) -> None:
    """Personal data encrypted at rest (issue 13 item 1; docs/privacy.md): the keyed-hash column
    behind same-phone look-ups, TEXT for the encrypted columns PostgreSQL held as VARCHAR(255),
    then every value written before this migration encrypted in place, batch by batch, under
    the data key ``open_node`` bound to ``db`` (made on the first open of an older home)."""
    from node.privacy import encrypted_columns
    from node.privacy.rotate import encrypt_plain_rows
    have = {c.name for c in db.get_columns("case")}
    if "complainant_phone_hash" not in have:
        db.execute_sql('ALTER TABLE "case" ADD COLUMN complainant_phone_hash VARCHAR(255)')
    db.execute_sql('CREATE INDEX IF NOT EXISTS case_complainant_phone_hash ON "case" (complainant_phone_hash)')
    models = dbmod.all_models()
    if not dbmod.is_sqlite(db):
        for model, field in encrypted_columns(models):
            table = model._meta.table_name
            types = {c.name: c.data_type.lower() for c in db.get_columns(table)}
            if types.get(field.column_name, "text") != "text":
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{field.column_name}" TYPE TEXT')
    with db.bind_ctx(models):
        encrypt_plain_rows(db, models)


def _m0014_trigram_index(db: Database) -> None:
    """The PostgreSQL substring-search index again, now with the ``pg_trgm`` extension in
    ``public`` and its operator class named with that schema (issue 15 item 2): under the
    node's own ``search_path`` the unqualified ``gin_trgm_ops`` was not found, the index was
    never made and every search scanned the table. A no-op on SQLite (its FTS table exists)."""
    create_search_index(db)


def _m0015_case_history_chain(db: Database) -> None:
    """Case history hash-chained (issue 13 item 4; docs/audit.md "Case history"): the chain
    columns and the copy's superseded mark, then every event written before chained, case by
    case in the order of ``id``."""
    from node.cases import chain_existing
    have = {c.name for c in db.get_columns("case_event")}
    for name, sql_type in (("prev_hash", "VARCHAR(64)"), ("hash", "VARCHAR(64)"), ("superseded", "VARCHAR(255)")):
        if name not in have:
            db.execute_sql(f'ALTER TABLE "case_event" ADD COLUMN "{name}" {sql_type}')
    chain_existing(db)


def _m0016_case_heads_sealed(db: Database) -> None:
    """Case history heads sealed with the audit head (issue 13 item 4; docs/audit.md "Sealed
    case heads"): the marks and the sealed heads, then every case with events marked, so the next
    seal covers the histories written before this migration (one statement)."""
    from node.cases.models import CaseHeadMark, CaseHeadSeal
    with db.bind_ctx([CaseHeadMark, CaseHeadSeal]):
        db.create_tables([CaseHeadMark, CaseHeadSeal], safe=True)
    db.execute_sql('INSERT INTO "case_head_mark" ("case_id") SELECT DISTINCT "case_id" FROM "case_event" '
                   'WHERE "superseded" IS NULL')


MIGRATIONS: list[dbmod.Migration] = [
    (1, "initial schema", _m0001_initial),
    (2, "ping arrival order", _m0002_ping_arrival),
    (3, "desk sign-in", _m0003_desk_sign_in),
    (4, "evidence attachments", _m0004_evidence),
    (5, "index of cases flagged for a person", _m0005_attention_index),
    (6, "complaint demand and dispute date", _m0006_case_fields),
    (7, "notification senders and delivery log", _m0007_notify),
    (8, "public portal", _m0008_public),
    (9, "open311 keys", _m0009_open311),
    (10, "complaint publicity", _m0010_publicity),
    (11, "audit log", _m0011_audit_log),
    (12, "bulk import: legacy ids", _m0012_import_records),
    (13, "personal data encrypted at rest", _m0013_personal_data_encrypted),
    (14, "substring search index with a schema-qualified operator class", _m0014_trigram_index),
    (15, "case history hash-chained", _m0015_case_history_chain),
    (16, "case history heads sealed with the audit head", _m0016_case_heads_sealed),
]


def migrate(db: Database) -> int:
    """Bring ``db`` to the latest schema; return the version now in force."""
    return dbmod.migrate(db, MIGRATIONS)
