"""The node's firm table (issue 12 item 1): businesses named with a USCC in cases this node
registered, so the public form can find a respondent by name or USCC and fill in its region.

Kept by a case hook at intake (``after_change`` for a new case); a bureau with the business
register's extract can load more with ``load_firms`` (CSV: uscc, name, region_code, address).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from peewee import fn

from node.public.models import Firm
from node.runtime import Node

_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def after_change(node: Node, changes: Iterable[Any]) -> None:
    """A case registered here with a named respondent and a USCC teaches the firm table."""
    for c in changes:
        if c.previous_version is not None:
            continue
        row = c.row
        uscc, name = row.get("respondent_uscc"), row.get("respondent_name")
        if not uscc or not name:
            continue
        remember(node, uscc, name, row.get("respondent_region"))


_FIRM_FIELDS = tuple(Firm._meta.fields[n] for n in ("uscc", "name", "region_code", "address", "seen", "updated_at"))
_UPSERT_SQL: dict[str, str] = {}


def _upsert_sql(db: Any) -> str:
    """The upsert ``remember`` runs, as peewee's ``on_conflict`` builds it, built once per
    placeholder style: peewee's builder cost a tenth of an intake's CPU (issue 15 item 1; the
    pattern of ``node.cases.lifecycle.insert_rows``). ``ON CONFLICT … DO UPDATE`` is the same
    text on SQLite and PostgreSQL."""
    sql = _UPSERT_SQL.get(db.param)
    if sql is None:
        table = Firm._meta.table_name
        cols = ", ".join(f'"{f.column_name}"' for f in _FIRM_FIELDS)
        marks = ", ".join([db.param] * len(_FIRM_FIELDS))
        p = db.param
        sql = (f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) ON CONFLICT ("uscc") DO UPDATE SET '
               f'"name" = {p}, "region_code" = {p}, "seen" = ("{table}"."seen" + 1), "updated_at" = {p}')
        _UPSERT_SQL[db.param] = sql
    return sql


def remember(node: Node, uscc: str, name: str, region_code: str | None, address: str = "") -> None:
    now = node.now().astimezone(UTC).replace(tzinfo=None)
    uscc_f, name_f, region_f, address_f, seen_f, updated_f = _FIRM_FIELDS
    name_v, region_v, now_v = name_f.db_value(name[:200]), region_f.db_value(region_code), updated_f.db_value(now)
    node.db.execute_sql(_upsert_sql(node.db), [uscc_f.db_value(uscc), name_v, region_v,
                                               address_f.db_value(address[:500]), seen_f.db_value(1), now_v,
                                               name_v, region_v, now_v])


def find_firms(node: Node, q: Any, limit: int = 8) -> list[dict[str, Any]]:
    """Firms whose USCC is ``q`` (any case) or whose name contains it; most-seen first."""
    text = q.strip() if isinstance(q, str) else ""
    if len(text) < 2:
        return []
    text = text[:100]
    if _USCC.match(text.upper()):
        rows = Firm.select().where(Firm.uscc == text.upper())
    else:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = (Firm.select()
                .where(fn.LOWER(Firm.name).contains(escaped.lower()))
                .order_by(Firm.seen.desc(), Firm.name)
                .limit(max(1, min(limit, 20))))
    return [{"uscc": f.uscc, "name": f.name, "region_code": f.region_code} for f in rows]


def load_firms(node: Node, rows: Iterable[Mapping[str, str]]) -> int:
    """Load firms from a register extract (each row: uscc, name, region_code, address)."""
    n = 0
    for r in rows:
        uscc = (r.get("uscc") or "").strip().upper()
        name = (r.get("name") or "").strip()
        if _USCC.match(uscc) and name:
            remember(node, uscc, name, (r.get("region_code") or "").strip() or None, (r.get("address") or "").strip())
            n += 1
    return n
