"""Open311 GeoReport v2 (issue 12 item 5; CONTRACT §10) — skeleton."""
from node.open311.models import MODELS, create_tables


def migrate_tables(db) -> None:
    create_tables(db)


__all__ = ["MODELS", "migrate_tables"]
