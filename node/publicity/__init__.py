"""Complaint publicity (投诉公示; issue 12 item 6; 《市场监督管理投诉信息公示暂行规则》 2023;
docs/publicity.md): concluded complaints published with the fields the rules name, never with
a complainant's identity (CONTRACT §10), an individual business's name masked.

Inside the package:

* ``models.py`` — ``Disclosure``, one row per published complaint;
* ``service.py`` — the rule (what is published, the masking), the lifecycle hook that keeps
  the table inside each change's transaction, the backfill, the reads;
* ``feeds.py`` — the CSV export (BOM, Chinese headers, formula-safe) and the Atom feed;
* ``api.py`` — ``/public/v1/disclosures`` (JSON, ``.csv``, ``.atom``, one entry) and the page
  ``/public/disclosures``; ``openapi.py`` — their description.

It extends the case lifecycle through ``node.cases.install_extension`` (``after_change``);
neither cases nor routing import it.
"""
from __future__ import annotations

from peewee import Database

from node.cases import Case, CaseEvent, install_extension
from node.publicity import service
from node.publicity.models import MODELS, Disclosure, create_tables
from node.publicity.service import sync_case


def install_case_hooks() -> None:
    """Publish a complaint when it is concluded, withdraw it when reopened, here and at every
    node holding a copy (idempotent; ``node.domains`` calls it)."""
    install_extension(after_change=service.after_change, after_copy=sync_case)


def recent_disclosures(node, limit: int = 5) -> list[dict]:
    """The newest published complaints as the JSON shows them (the portal's front page,
    issue 12 item 7); call with the node's database bound."""
    rows, _ = service.search(service.Filters(per_page=max(1, min(limit, service.MAX_PER_PAGE))))
    return service.to_public_all(node, rows)


def migrate_tables(db: Database) -> None:
    """Migration 10: the table, and the concluded complaints already stored published."""
    from datetime import UTC, datetime
    create_tables(db)
    with db.bind_ctx([Case, CaseEvent, *MODELS]):
        # the publication time of a backfilled entry is when this node started publishing
        service.backfill(datetime.now(UTC))


__all__ = ["MODELS", "Disclosure", "install_case_hooks", "migrate_tables", "recent_disclosures",
           "sync_case"]
