"""Tables of the public domain (skeleton: filled in by its issue-12 work)."""
from __future__ import annotations

from federation.storage import BaseModel

MODELS: list[type[BaseModel]] = []


def create_tables(db) -> None:
    """Create this domain's tables (safe when they exist); migrations call it."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
