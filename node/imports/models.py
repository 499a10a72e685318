"""The import ledger (issue 15 item 3, P5; CONTRACT §12): which legacy id became which case.

A separate table rather than a column on ``case``: the case table stays the national data
standard's shape (every node, every copy), while only the node that imported a legacy export
needs to remember the legacy system's numbers. The unique index on ``legacy_id`` is what
makes a re-run import nothing twice, and it is written in the same transaction as the case
rows of its batch, so a crash leaves either both or neither (a re-run then finishes the job).
"""
from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField

from federation.storage import BaseModel


class ImportRecord(BaseModel):
    """One imported row: its legacy id (unique), the case id it was given, where it came from."""
    legacy_id = CharField(unique=True)
    case_id = CharField(index=True)
    source = CharField(default="")           # the file's name (not its path: homes move)
    line = IntegerField(default=0)           # the row's line in that file
    imported_at = DateTimeField()

    class Meta:
        table_name = "import_record"

    @classmethod
    def known(cls, legacy_ids: list[str]):
        """The legacy ids of this list already imported (one query per batch)."""
        return (cls.select(cls.legacy_id)
                .where(cls.legacy_id.in_(legacy_ids))
                .tuples())


MODELS: list[type[BaseModel]] = [ImportRecord]


def create_tables(db) -> None:
    """Create this domain's table (safe when it exists); migration 12 calls it."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
