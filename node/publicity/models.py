"""The publicity table (issue 12 item 6; docs/publicity.md): one row per published complaint.

A row holds only what 《市场监督管理投诉信息公示暂行规则》 (2023) lets a bureau publish —
never a complainant's name, phone, address, e-mail or ID. The business name (and, for an
individual business, the USCC) is stored as published, already masked; the full USCC is kept
only to answer an exact search by code (it is printed on the licence the shop displays).
"""
from __future__ import annotations

from peewee import AutoField, CharField, DateField, DateTimeField, TextField

from federation.storage import BaseModel


class Disclosure(BaseModel):
    """One concluded complaint as the public sees it; kept by ``service.after_change``."""
    id = AutoField()
    case_id = CharField(unique=True)
    complainant_type = CharField(default="individual")     # individual | organisation
    business_name = CharField(default="")                   # as published (masked for 92…)
    business_uscc = CharField(null=True, index=True)       # full, upper case: exact search only
    business_uscc_shown = CharField(null=True)             # as published (masked for 92…)
    category = CharField()                                 # code; its label is read at output
    submitted_on = DateField()
    dispute_on = DateField(null=True)
    problem = TextField(default="")
    demand = TextField(default="")
    handled_on = DateField(index=True)
    result = CharField()                                   # OUTCOMES code
    region_code = CharField(null=True, index=True)
    handling_node = CharField()
    published_at = DateTimeField(index=True)               # naive UTC, kept on re-publication
    search_text = TextField(default="")                    # published name + problem

    class Meta:
        table_name = "disclosure"

    @classmethod
    def matching(cls, q: str | None, uscc: str | None):
        """Entries whose published name or problem holds ``q`` and whose USCC is ``uscc``."""
        query = cls.select()
        if q:
            query = query.where(cls.search_text.contains(q))
        if uscc:
            query = query.where(cls.business_uscc == uscc)
        return query

    @classmethod
    def newest_first(cls, query):
        return (query
                .order_by(cls.handled_on.desc(), cls.id.desc()))


MODELS: list[type[BaseModel]] = [Disclosure]


def create_tables(db) -> None:
    """Create this domain's tables (safe when they exist); migrations call it."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
