"""Bulk import of a bureau's legacy cases (issue 15 item 3, P5; CONTRACT §12; docs/import.md).

``n12315 import cases FILE`` reads the 12315 legacy export a bureau brings when it joins the
network — CSV (UTF-8 or GB18030), XLSX or JSON Lines — validates every row with intake's own
validator, and writes the valid ones as cases of this node in batches, one transaction each,
keeping their receipt time, status and outcome. The legacy id makes it idempotent.

Inside the package:

* ``readers.py`` — one reader per format: rows as §5 documents with the import keys, line
  numbers for the report, encoding detection, the header check;
* ``service.py`` — ``import_rows``: skip what was imported, validate, number, write;
  ``case_row`` is the one place an imported case row is built;
* ``models.py`` — ``ImportRecord`` (``import_record``: legacy id → case id), migration 12.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peewee import Database

from node.imports.models import MODELS, ImportRecord, create_tables
from node.imports.readers import FORMATS, IMPORT_KEYS, SourceRow, detect_format, estimate_rows, read_rows
from node.imports.service import BATCH_ROWS, IMPORT_STATUSES, ImportResult, case_row, import_rows
from node.runtime import Node


def import_file(node: Node, path: Path | str, fmt: str | None = None, *, progress: Any = None,
                batch_rows: int = BATCH_ROWS) -> ImportResult:
    """Import one file (CONTRACT §12): the format from ``fmt`` or the file name; raises
    ``NodeError`` (``unreadable_file``) when the file cannot be read as a table at all."""
    path = Path(path)
    kind = detect_format(path, fmt)
    rows = read_rows(path, kind)
    with node.activate():
        return import_rows(node, rows, source=path.name, progress=progress, batch_rows=batch_rows,
                           workers=workers_for(estimate_rows(path, kind), batch_rows))


def workers_for(rows: int | None, batch_rows: int = BATCH_ROWS) -> int:
    """One validating process beside this one on a multi-core machine, for a file of several
    batches (a fork costs more than validating a small file)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1 if cpus > 1 and (rows or 0) >= 4 * batch_rows else 0


def migrate_tables(db: Database) -> None:
    """Migration 12: the ``import_record`` table."""
    create_tables(db)


__all__ = ["BATCH_ROWS", "FORMATS", "IMPORT_KEYS", "IMPORT_STATUSES", "MODELS", "ImportRecord", "ImportResult",
           "SourceRow", "case_row", "detect_format", "estimate_rows", "import_file", "import_rows",
           "migrate_tables", "read_rows", "workers_for"]
