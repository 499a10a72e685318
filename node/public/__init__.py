"""The public portal (issue 12 items 1-3, 7; CONTRACT §10) — skeleton."""
from node.public.models import MODELS, create_tables


def migrate_tables(db) -> None:
    create_tables(db)


__all__ = ["MODELS", "migrate_tables"]
