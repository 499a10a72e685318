"""Case documents on the ``cases`` channel: their kinds, the wire form of a case and its
history, the lean reads and writes a copy needs, and sending (R1.5, R2.6; CONTRACT §5
"Routing"; ``docs/routing.md`` §9, ``docs/replication.md``).

* ``case.transfer`` — custody moves: the case (every column and its whole history) travels
  from the node that gives it up to its new handling node, hop by hop through the tree (up
  to the lowest common ancestor and down again). Every node it passes keeps a read copy;
  the destination becomes the handling node, with the same ``id``.
* ``case.update`` — every change at the handling node flows to every node that holds a
  copy, one document per branch of the tree, applied by every node it passes. A copy
  applies only a higher ``version``: duplicates and reorders are harmless.
* ``case.proposal`` — a node holding a copy proposes an action to the handling node
  (``node.routing.proposals``).

What the documents do on arrival is ``node.routing.arrivals``; what queues them is
``node.routing.hooks``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from node.cases import SHANGHAI, Case, CaseEvent
from node.db import is_sqlite
from node.network import replicator
from node.runtime import Node
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError

CHANNEL = "cases"
DOC_TRANSFER = "case.transfer"
DOC_UPDATE = "case.update"
DOC_PROPOSAL = "case.proposal"

_DT_FIELDS = ("received_at", "created_at", "updated_at")
_DATE_FIELDS = ("received_date", "next_due", "occurred_on")
# local to each node: the row id, the search text (rebuilt on arrival), and whether this
# node handles the case or holds a copy
# complainant_phone_hash: keyed with this node's data key, meaningless (and a linkable
# identifier) anywhere else; the receiver computes its own (issue 13 item 1)
_WIRE_SKIP = ("pk", "search_text", "held_as", "complainant_phone_hash")


# -- small conversions shared by the package ---------------------------------------------------
def show_time(dt: datetime | None) -> str | None:
    """An aware time as shown to people and in lists: Asia/Shanghai ISO 8601 (naive = UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(SHANGHAI).isoformat()


def db_time(dt: datetime) -> datetime:
    """An aware time as stored: naive UTC."""
    return dt.astimezone(UTC).replace(tzinfo=None)


def from_json(text: Any, default: Any) -> Any:
    """A JSON column's value (``default`` when empty); tolerates a value already decoded."""
    if text is None or text == "":
        return default
    return json.loads(text) if isinstance(text, str) else text


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def lock_case(node: Node, case_id: str) -> None:
    """PostgreSQL: serialise the handlers that touch one case (documents from the parent
    and from a child can be applied at once on two threads); SQLite's write lock already does."""
    if not is_sqlite(node.db):
        node.db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (case_id,))


# -- lean reads and writes (hot path: every hop applies every document; peewee's query
# builder costs ~1.5 ms for a 40-column row, so the SQL text is built once per shape) -----------
_SQL: dict[tuple[Any, ...], str] = {}


def _columns(model: Any) -> list[tuple[str, Any]]:
    return list(model._meta.fields.items())


def _select_by_case(db: Any, model: Any, table: str, tail: str, case_id: str) -> list[dict[str, Any]]:
    """Rows of ``model`` for one case, with the SQL text built once per shape (no query builder)."""
    key = (table, db.param)
    cols = _columns(model)
    sql = _SQL.get(key)
    if sql is None:
        sql = (f'SELECT {", ".join(chr(34) + f.column_name + chr(34) for _, f in cols)} FROM "{table}" '
               f'WHERE "case_id" = {db.param}{tail}')
        _SQL[key] = sql
    return [{name: (None if v is None else f.python_value(v)) for (name, f), v in zip(cols, r, strict=True)}
            for r in db.execute_sql(sql, [case_id]).fetchall()]


def fetch_row(db: Any, case_id: str) -> dict[str, Any] | None:
    """``Case.row(case_id)`` without the query builder (same values)."""
    rows = _select_by_case(db, Case, "case", "", case_id)
    return rows[0] if rows else None


def fetch_events(db: Any, case_id: str) -> list[dict[str, Any]]:
    """The case's current history in chain order (issue 13 item 4: the order each event was
    appended here, which is the order it travels in and the order a copy chains it in)."""
    return _select_by_case(db, CaseEvent, "case_event", ' AND "superseded" IS NULL ORDER BY "id"', case_id)


def update_row(db: Any, case_id: str, version: int, values: Mapping[str, Any]) -> int:
    """Overwrite columns of the case row still at ``version``; the number of rows changed."""
    names = tuple(values)
    key = ("update", names, db.param)
    sql = _SQL.get(key)
    fields = [Case._meta.fields[n] for n in names]
    if sql is None:
        sets = ", ".join(f'"{f.column_name}" = {db.param}' for f in fields)
        sql = f'UPDATE "case" SET {sets} WHERE "case_id" = {db.param} AND "version" = {db.param}'
        _SQL[key] = sql
    params = [f.db_value(values[n]) for f, n in zip(fields, names, strict=True)] + [case_id, version]
    return int(db.execute_sql(sql, params).rowcount)


# -- wire form of a case ----------------------------------------------------------------------
def row_to_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in _WIRE_SKIP:
            continue
        if isinstance(value, datetime):
            value = db_time(value).isoformat() if value.tzinfo else value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def wire_to_row(wire: Mapping[str, Any]) -> dict[str, Any]:
    fields = Case._meta.fields
    row: dict[str, Any] = {}
    for key, value in wire.items():
        if key not in fields or key in _WIRE_SKIP:
            continue   # a column a newer node added: ignored here (rolling upgrades)
        if key in _DT_FIELDS and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif key in _DATE_FIELDS and isinstance(value, str):
            value = date.fromisoformat(value)
        row[key] = value
    for key in ("case_id", "kind", "status", "version", "accepting_node", "handling_node"):
        if key not in row:
            raise ApplyError(f"案件文档缺少 {key} / case document lacks {key}")
    return row


def events_to_wire(events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        at = e["at"]
        out.append({"at": at.isoformat() if isinstance(at, datetime) else str(at), "node": e["node"],
                    "actor": e["actor"], "action": e["action"], "from_status": e["from_status"],
                    "to_status": e["to_status"], "note": e["note"] or "", "data": e.get("data") or "{}"})
    return out


def history_wire(case_id: str) -> list[dict[str, Any]]:
    """The whole history of a case as it travels (every document carries all of it)."""
    return events_to_wire(fetch_events(CaseEvent._meta.database, case_id))


def search_text(row: Mapping[str, Any]) -> str:
    return "\n".join(t for t in (row.get("summary") or "", row.get("description") or "",
                                 row.get("respondent_name") or "") if t)


# -- sending ----------------------------------------------------------------------------------
def send(node: Node, kind: str, dest: str, body: dict[str, Any], *, hop: str | None = None) -> bool:
    """Queue a document for ``dest`` (caller holds the transaction); False if no link leads there.
    ``hop``: the next hop, when the caller already looked it up in this transaction."""
    rep = replicator(node)
    if hop is None:
        hop = topology.next_hop(rep, dest)
    if hop is None:
        return False
    doc = documents.create(kind, channel=CHANNEL, origin=node.code, dest=dest, body=body,
                           keypair=node.keypair, now=node.now())
    outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], node.now())
    return True


def arrived(d: Delivery) -> bool:
    """The document is for this node (otherwise it is passing through)."""
    return d.dest == d.rep.code
