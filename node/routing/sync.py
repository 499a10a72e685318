"""Cases between nodes: distribution, custody, read copies, feedback, proposals and
supervision (R1.5, R2.1-R2.7; CONTRACT §5 "Routing"; rules in ``docs/routing.md``).

``routing.py`` says where a case belongs; this module makes it so, through signed
replication on the ``cases`` channel (``docs/replication.md``):

* ``case.transfer`` — custody moves: the case (every column and its whole history) travels
  from the node that gives it up to its new handling node, hop by hop through the tree (up
  to the lowest common ancestor and down again). Every node it passes keeps a read copy;
  the destination becomes the handling node, with the same ``id``. When no linked node
  below covers the destination, the node where it stops keeps it and flags it for a person.
* ``case.update`` — every change at the handling node flows to every node that holds a
  copy (the accepting node, the nodes on the route, the supervising ancestors): one
  document per branch of the tree, applied by every node it passes. A copy applies only
  a higher ``version``: duplicates and reorders are harmless.
* ``case.proposal`` — a node holding a copy proposes (``urge``, ``comment``, ``take_over``,
  ``feedback``, ``reopen``) to the handling node, which applies it — or records why not —
  as an event of the case; the result comes back with the next update.

Ownership: only the node whose row says ``held_as = "handler"`` changes a case (the case
service refuses every other action with 403 naming the handler), and custody leaves a node
in the same transaction as the transfer document that carries it, so at any moment at most
one node is the handler and a case never forks.

Hooks (``node.cases.service``): ``PREPARE_HOOKS`` decides custody at intake and widens the
set of holders; ``CHANGE_HOOKS`` queues the documents in the same transaction as the
change (RELIABILITY rule 1); ``ACTION_HANDLERS`` implements ``route``, ``escalate``,
``return``, ``take_over``, ``urge``, ``comment`` and ``reopen``; ``PROPOSAL_HOOK`` sends
proposals; ``REFERRAL_DIRECTORY`` resolves ``refer`` bodies (R2.5).
"""
from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from federation.models import Link
from node import jobs
from node.db import is_sqlite, write_tx
from node.divisions import load_divisions
from node.errors import NodeError, conflict, forbidden, invalid
from node.cases.models import Case, CaseEvent
from node.routing.models import CaseProposal, Notification
from node.runtime import Node
from node.cases import service as cases
from node.routing import rules as routing
from node.cases import standard
from node.network.transport import replicator
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError, Registry

log = logging.getLogger(__name__)

CHANNEL = "cases"
DOC_TRANSFER = "case.transfer"
DOC_UPDATE = "case.update"
DOC_PROPOSAL = "case.proposal"
TRANSFER_ACTIONS = ("route", "escalate", "return", "take_over")
NOTIFY_STATUSES = ("transferred", "accepted", "declined", "referred", "concluded", "filed", "not_filed",
                   "answered")
SYSTEM = cases.Actor("system", "admin")
STAGE_ORDER = {"running": 0, "due_soon": 1, "overdue": 2, "escalated": 3}

_DT_FIELDS = ("received_at", "created_at", "updated_at")
_DATE_FIELDS = ("received_date", "next_due")
_WIRE_SKIP = ("pk", "search_text", "held_as")

# The proposal being applied at the handler (its id and proposer), for the hooks below.
_PROPOSAL: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("proposal", default=None)


@dataclass(frozen=True)
class RemoteActor:
    """A user of another node, acting through a proposal (recorded as ``node/login``)."""
    login: str
    role: str
    node: str


# -- per-node reference data ----------------------------------------------------------------
def tables(node: Node) -> routing.Tables:
    """The jurisdiction tables: shipped ``configs/jurisdiction``, overridden file by file by
    ``<home>/jurisdiction/``. Parsed once per node (a bad table fails loudly, naming the key)."""
    t = node.cache.get("jurisdiction")
    if t is None:
        t = routing.load_tables(load_divisions(), [routing.DEFAULT_DIR, Path(node.config.home) / "jurisdiction"])
        node.cache["jurisdiction"] = t
    return t


def _div() -> Any:
    return load_divisions()


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(standard.SHANGHAI).isoformat()


def _db(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _loads(text: Any, default: Any) -> Any:
    if text is None or text == "":
        return default
    return json.loads(text) if isinstance(text, str) else text


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _name(code: str) -> str:
    div = _div()
    full = div.full_name(code) if div.is_current(code) else None
    if code == "000000":
        return "国家市场监督管理总局"
    if full:
        return f"{full}市场监督管理局"
    if div.level_of(code) == "station":
        county = div.full_name(code[:6]) or code[:6]
        return f"{county}市场监管所（{code}）"
    return code


def _lock_case(node: Node, case_id: str) -> None:
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
    """``CaseEvent.for_case(case_id).dicts()`` without the query builder."""
    return _select_by_case(db, CaseEvent, "case_event", ' ORDER BY "at", "id"', case_id)


def _update_row(db: Any, case_id: str, version: int, values: Mapping[str, Any]) -> int:
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
            value = _db(value).isoformat() if value.tzinfo else value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def _wire_to_row(wire: Mapping[str, Any]) -> dict[str, Any]:
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


def _history_wire(case_id: str) -> list[dict[str, Any]]:
    return events_to_wire(fetch_events(CaseEvent._meta.database, case_id))


def _search_text(row: Mapping[str, Any]) -> str:
    return "\n".join(t for t in (row.get("summary") or "", row.get("description") or "",
                                 row.get("respondent_name") or "") if t)


# -- who holds a copy -----------------------------------------------------------------------
def _holders(row: Mapping[str, Any]) -> list[str]:
    return list(_loads(row.get("holders"), []))


def _custody(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(e) for e in _loads(row.get("route"), [])]


def _chain_up(code: str) -> list[tuple[str, str]]:
    div = _div()
    try:
        return [(c, div.level_of(c) or "") for c in div.ancestors(code)]
    except KeyError:
        return []


def stage_of(node: Node, row: Mapping[str, Any]) -> str:
    """How close the case's earliest running clock is to its due date (supervision)."""
    sup = tables(node).supervision
    due = row.get("next_due")
    if isinstance(due, str):
        due = date.fromisoformat(due)
    if due is None or row.get("status") in cases.DONE_STATUSES:
        return "running"
    cal = cases.intake_context(node).calendar
    today = node.now().astimezone(standard.SHANGHAI).date()
    if row.get("overdue"):
        return routing.supervision_stage(True, None, cal.working_days_between(due, today), sup)
    return routing.supervision_stage(False, cal.working_days_between(today, due), None, sup)


def _supervisors(node: Node, handler: str, row: Mapping[str, Any]) -> list[str]:
    return routing.supervisors(_chain_up(handler), stage_of(node, row), tables(node).supervision)


def _accused(node: Node, row: Mapping[str, Any]) -> str | None:
    if row.get("kind") != "report" or row.get("report_target") != "staff":
        return None
    return routing.decide(routing.CaseFacts.from_row(row), row["accepting_node"], _div(), tables(node)).accused


def _redact(row: dict[str, Any]) -> dict[str, Any]:
    """What the unit accused by a report against its staff may hold (R2.3): that there is
    one, where it is handled — not what it says, nor who reported it."""
    resp = _loads(row.get("respondent"), {}) or {}
    return {**row, "summary": "针对执法人员的举报（内容保密，由上级纪检监察机构办理）/ report against staff "
                             "(confidential; handled by the discipline unit above)",
            "description": "", "complainant": _dumps({"anonymous": True}),
            "respondent": _dumps({"name": "（保密 / confidential）", "region_code": resp.get("region_code")}),
            "respondent_name": "", "respondent_uscc": None, "amount": None, "extensions": "{}"}


# -- sending ----------------------------------------------------------------------------------
def _send(node: Node, kind: str, dest: str, body: dict[str, Any]) -> bool:
    """Queue a document for ``dest`` (caller holds the transaction); False if no link leads there."""
    rep = replicator(node)
    hop = topology.next_hop(rep, dest)
    if hop is None:
        return False
    doc = documents.create(kind, channel=CHANNEL, origin=node.code, dest=dest, body=body,
                           keypair=node.keypair, now=node.now())
    outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], node.now())
    return True


def _send_updates(node: Node, row: Mapping[str, Any], events: list[dict[str, Any]],
                  skip_path_to: str | None = None) -> int:
    """One ``case.update`` per branch: to the fewest holders whose paths pass all others."""
    div = _div()
    targets = [t for t in _holders(row) if t != node.code]
    if skip_path_to:
        targets = [t for t in targets if not routing.on_path(t, node.code, skip_path_to, div)]
    dests = routing.cover(node.code, targets, div)
    if not dests:
        return 0
    body = {"case": row_to_wire(row), "events": events}
    return sum(1 for dest in dests if _send(node, DOC_UPDATE, dest, body))


def _has_links() -> bool:
    return Link.select().where((Link.state == "active") & Link.role.in_(("parent", "child"))).exists()


# -- the hooks: intake decides custody; every change widens holders and sends documents ---------
def _prepare(node: Node, changes: list[cases.CaseChange]) -> None:
    proposal = _PROPOSAL.get()
    for c in changes:
        if c.previous_version is None:
            _prepare_intake(node, c)
        if proposal is not None and c.events:
            data = _loads(c.events[0].get("data"), {})
            data["proposal_id"] = proposal["proposal_id"]
            c.events[0]["data"] = _dumps(data)
        _widen(node, c, extra=[proposal["proposer"]] if proposal else [])


def _widen(node: Node, c: cases.CaseChange, extra: list[str]) -> None:
    row = c.row
    holders = _holders(row)
    want = list(holders)
    if node.code not in want:
        want.append(node.code)
    if row.get("held_as") == "handler":
        if row.get("kind") != "consultation":   # answered where taken; no clock to supervise
            want += _supervisors(node, node.code, row)
    else:   # custody is leaving with this change: the destination will hold it
        want.append(row["handling_node"])
    want = list(dict.fromkeys(want + extra))
    if want != holders:
        row["holders"] = _dumps(want)
        if c.previous_version is not None:
            c.changed["holders"] = row["holders"]


def _prepare_intake(node: Node, c: cases.CaseChange) -> None:
    row = c.row
    reg = c.events[0]
    at = reg["at"]
    now = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    actor = reg["actor"]
    custody = [{"node": node.code, "since": _iso(now), "until": None, "from": None, "by": actor,
                "action": "register", "reason": "受理登记 / taken in", "via": []}]
    row["route"] = _dumps(custody)
    row["holders"] = _dumps([node.code])
    facts = routing.CaseFacts.from_row(row)
    decision = routing.decide(facts, node.code, _div(), tables(node))
    if row["department"] != "discipline":
        row["department"] = decision.department
    attention = decision.attention
    target = decision.target
    if target != node.code:
        hop = topology.next_hop(replicator(node), target)
        if decision.basis == "station_area" and hop != target:
            target = node.code   # the station is not linked here: the county keeps the case
        elif hop is None:
            attention = (f"无链路可达有管辖权的单位 {target}，由本节点暂存，需人工分流 / no linked route to {target}, "
                         f"the unit with jurisdiction: kept here for a person")
            target = node.code
    if target == node.code:
        row["attention"] = attention
        return
    full = dict(row)
    note = f"自动分流至 {_name(target)}：{decision.note}"
    custody[0]["until"] = _iso(now)
    custody.append({"node": target, "since": None, "until": None, "from": node.code, "by": actor,
                    "action": "route", "auto": True, "reason": decision.note, "sent_at": _iso(now), "via": []})
    changed = {"status": "transferred", "handling_node": target, "held_as": "copy", "version": row["version"] + 1,
               "route": _dumps(custody), "attention": None}
    row.update(changed)
    full.update(changed)
    c.events.append(cases._event(row["case_id"], node, cases.Actor(actor, "system"), "route", "registered",
                                 "transferred", note, at, {"to": target, "basis": decision.basis, "auto": True}))
    c.payload["_transfer_to"] = target
    if routing.is_accused_unit(node.code, decision.accused, _div()):
        c.payload["_full_row"] = full           # the document carries the report; we keep a stub
        redacted = _redact(row)
        row.update(redacted)
        row["search_text"] = ""


def _after(node: Node, changes: list[cases.CaseChange]) -> None:
    for c in changes:
        row = c.row
        if c.previous_version is None:
            events = events_to_wire(c.events)
        else:
            events = _history_wire(row["case_id"])
        transfer_to = c.payload.get("_transfer_to") or (
            row["handling_node"] if c.action in TRANSFER_ACTIONS and row.get("held_as") == "copy" else None)
        if transfer_to:
            full = c.payload.get("_full_row") or row
            body = {"case": row_to_wire(full), "events": events}
            if not _send(node, DOC_TRANSFER, transfer_to, body):
                raise NodeError(409, "no_route", f"没有通往 {transfer_to} 的链路 / no linked route to {transfer_to}")
            _send_updates(node, row, events, skip_path_to=transfer_to)
        elif row.get("held_as") == "handler":
            _send_updates(node, row, events)
        if row["accepting_node"] == node.code or (row.get("held_as") == "handler" and routing.is_accused_unit(
                row["accepting_node"], _accused(node, row), _div())):
            _notify(node, row, c.events)


# -- applying documents -----------------------------------------------------------------------
def store_copy(node: Node, wire: Mapping[str, Any], events: list[Mapping[str, Any]]) -> str:
    """Keep the case as a read copy here if the document's version is newer than ours:
    ``created`` / ``updated`` / ``stale`` / ``handler`` (we handle it: never overwritten)."""
    incoming = _wire_to_row(wire)
    cid = incoming["case_id"]
    _lock_case(node, cid)
    local = fetch_row(node.db, cid)
    if local is not None and int(local["version"]) >= int(incoming["version"]):
        return "stale"
    if local is not None and local["held_as"] == "handler":
        log.error("case %s: a copy at version %s arrived where this node handles version %s; kept ours",
                  cid, incoming["version"], local["version"])
        return "handler"
    row = {**incoming, "held_as": "copy"}
    if routing.is_accused_unit(node.code, _accused(node, row), _div()):
        row = _redact(row)
    row["search_text"] = _search_text(row) if row.get("summary") else ""
    columns = [f for f in Case._meta.fields if f != "pk"]
    if local is None:
        full = {k: row.get(k, Case._meta.fields[k].default) for k in columns}
        full = {k: (v() if callable(v) else v) for k, v in full.items()}
        cases._insert(node.db, Case, [full])
        if is_sqlite(node.db) and full["search_text"]:
            p = node.db.param
            node.db.execute_sql(f"INSERT INTO case_search (case_id, body) VALUES ({p}, {p})",
                                [cid, full["search_text"]])
        old_events: list[dict[str, Any]] = []
    else:
        update = {k: v for k, v in row.items() if k in columns and k != "case_id"}
        _update_row(node.db, cid, int(local["version"]), update)
        old_events = fetch_events(node.db, cid)
    new_events = _sync_events(cid, old_events, events)
    _after_copy(node, cid, row, local, new_events)
    return "created" if local is None else "updated"


def _sync_events(case_id: str, old: list[Mapping[str, Any]], incoming: list[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Make our history equal the handler's; append when ours is a prefix. Returns the events
    new to us."""
    def key(e: Mapping[str, Any]) -> tuple[str, str, str]:
        at = e["at"]
        at = at.isoformat() if isinstance(at, datetime) else str(at)
        return at, str(e["node"]), str(e["action"])

    n = len(old)
    rows = [{"case_id": case_id, "at": datetime.fromisoformat(e["at"]) if isinstance(e["at"], str) else e["at"],
             "node": e["node"], "actor": e["actor"], "action": e["action"], "from_status": e["from_status"],
             "to_status": e["to_status"], "note": e.get("note") or "", "data": e.get("data") or "{}"}
            for e in incoming]
    if n <= len(rows) and (n == 0 or key(old[-1]) == key(rows[n - 1])):
        fresh = rows[n:]
    else:
        CaseEvent.delete().where(CaseEvent.case_id == case_id).execute()
        fresh = rows
        n = 0
    if fresh:
        cases._insert(CaseEvent._meta.database, CaseEvent, fresh)
    return rows[n:]


def _after_copy(node: Node, case_id: str, row: Mapping[str, Any], local: Mapping[str, Any] | None,
                new_events: list[dict[str, Any]]) -> None:
    """Resolve this node's proposals and record notifications for the accepting node."""
    pending = ({p.proposal_id: p for p in CaseProposal.pending_for(case_id)}
               if any(_loads(e.get("data"), {}).get("proposal_id") for e in new_events) else {})
    if pending:
        for e in new_events:
            data = _loads(e.get("data"), {})
            p = pending.get(data.get("proposal_id"))
            if p is None:
                continue
            state = "rejected" if e["action"] == "proposal_rejected" else "applied"
            (CaseProposal.update(state=state, reason=e["note"] if state == "rejected" else "",
                                 resolved_at=node.now())
                .where(CaseProposal.id == p.id)
                .execute())
    if row["accepting_node"] == node.code:
        _notify(node, row, new_events)


def _arrived(d: Delivery) -> bool:
    return d.dest == d.rep.code


def _apply_transfer(node: Node, d: Delivery) -> None:
    body = d.body
    wire, events = body.get("case"), body.get("events")
    if not isinstance(wire, dict) or not isinstance(events, list):
        raise ApplyError("案件转办文档格式错误 / malformed case transfer")
    store_copy(node, wire, events)
    if not _arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
            return
        _take_custody(node, wire["case_id"], d, int(wire["version"]), hold=True)
        return
    _take_custody(node, wire["case_id"], d, int(wire["version"]), hold=False)


def _take_custody(node: Node, case_id: str, d: Delivery, version: int, *, hold: bool) -> None:
    """This node becomes the handling node: at the destination, or (``hold``) where the
    transfer stopped because no linked node below covers the destination (R1.5)."""
    row = fetch_row(node.db, case_id)
    if row is None or row["held_as"] == "handler" or int(row["version"]) != version:
        return   # already ours, or the case has moved on since this document was sent
    now = d.now
    custody = _custody(row)
    last = custody[-1] if custody else {}
    how = last.get("action", "route")
    via = [c for c in d.route[1:] if c != node.code]
    attention: str | None = None
    if hold:
        if last:
            last.update({"until": _iso(now), "undelivered": True})
        reason = (f"无下级节点覆盖 {d.dest}（{_name(d.dest)}），由本节点暂存，需人工分流 / no linked node below "
                  f"covers {d.dest}: kept here for a person")
        custody.append({"node": node.code, "since": _iso(now), "until": None, "from": d.origin,
                        "by": "system", "action": "hold", "reason": reason, "via": via})
        attention = reason
        action, note = "hold", reason
    else:
        if last.get("node") == node.code and last.get("since") is None:
            last.update({"since": _iso(now), "via": via})
        else:
            custody.append({"node": node.code, "since": _iso(now), "until": None, "from": d.origin,
                            "by": "system", "action": how, "reason": "", "via": via})
        action = "receive"
        reason = last.get("reason") or ""
        note = f"收到 {_name(d.origin)} 转来的案件（{cases.ACTION_NAMES_ZH.get(how, how)}）" + (
            f"：{reason}" if reason else "") + f" / received from {d.origin} ({how})"
        if how == "escalate":
            attention = (f"下级 {d.origin} 报请上级决定（《市场监督管理投诉举报处理暂行办法》第十二条第三款）：{reason}"
                         f" — 请决定自行办理或重新分流 / {d.origin} asks this level to decide (Order 20 Art. 12(3))")
    if not node.config.capabilities.handles_cases and attention is None:
        attention = "本级不直接办理案件，需人工转办 / this level does not handle cases: a person must pass it on"
    holders = list(dict.fromkeys(_holders(row) + list(d.route) + [node.code]))
    deadlines = _loads(row.get("deadlines"), {})
    today = now.astimezone(standard.SHANGHAI).date()
    changed = {"held_as": "handler", "handling_node": node.code, "status": "registered", "route": _dumps(custody),
               "holders": _dumps(holders), "attention": attention, "version": int(row["version"]) + 1,
               "updated_at": _db(now), "next_due": cases._next_due(deadlines, "registered"),
               "overdue": bool(deadlines) and bool(cases.dl.overdue_clocks(deadlines, "registered", today))}
    new = {**row, **changed}
    event = cases._event(case_id, node, SYSTEM, action, row["status"], "registered", note, _db(now),
                         {"from": d.origin, "via": via, "how": how})
    cases._commit_change(node, [cases.CaseChange(row=new, events=[event], previous_version=int(row["version"]),
                                                 changed=changed, action=action)])
    if not hold:
        _route_on(node, new, how)


def _route_on(node: Node, row: Mapping[str, Any], how: str) -> None:
    """After arriving: a county passes a case on to the station whose area covers it; a
    node that got a case back (``return``) routes it to the next competent unit, or flags
    it for a person."""
    if how not in ("route", "return"):
        return
    returned = _returned_by(row)
    decision = routing.decide(routing.CaseFacts.from_row(row), node.code, _div(), tables(node), exclude=returned)
    rep = replicator(node)
    target = decision.target
    hop = topology.next_hop(rep, target) if target != node.code else None
    onward = (decision.basis == "station_area" and hop == target) or (
        how == "return" and target != node.code and hop is not None and decision.basis != "station_area")
    if onward:
        cases.act(node, row["case_id"], {"action": "route", "to": target,
                                         "note": f"自动分流 / automatic distribution: {decision.note}"}, SYSTEM)
        return
    if how == "return":
        by = "、".join(returned) or "?"
        reason = (f"被 {by} 退回，{decision.attention or '需人工重新分流'} / returned by {by}: a person must route it "
                  f"again")
        fresh = Case.row(row["case_id"])
        assert fresh is not None
        changed = {"attention": reason, "version": int(fresh["version"]) + 1, "updated_at": _db(node.now())}
        event = cases._event(row["case_id"], node, SYSTEM, "flag", fresh["status"], fresh["status"], reason,
                             _db(node.now()), {"returned_by": returned})
        cases._commit_change(node, [cases.CaseChange(row={**fresh, **changed}, events=[event],
                                                     previous_version=int(fresh["version"]), changed=changed,
                                                     action="flag")])


def _returned_by(row: Mapping[str, Any]) -> list[str]:
    return [e["node"] for e in _custody(row) if e.get("returned")]


def _apply_update(node: Node, d: Delivery) -> None:
    wire, events = d.body.get("case"), d.body.get("events")
    if not isinstance(wire, dict) or not isinstance(events, list):
        raise ApplyError("案件更新文档格式错误 / malformed case update")
    store_copy(node, wire, events)
    if not _arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
        # else: the holder it was for is not reachable from here; the copies on the way are current


def _apply_proposal(node: Node, d: Delivery) -> None:
    body = d.body
    case_id, proposal_id = body.get("case_id"), body.get("proposal_id")
    if not isinstance(case_id, str) or not isinstance(proposal_id, str) or body.get("action") not in cases.ACTIONS:
        raise ApplyError("提议文档格式错误 / malformed proposal")
    if not _arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
        else:
            _record_undeliverable(node, body, d.origin, f"没有通往 {d.dest} 的链路 / no linked route to {d.dest}")
        return
    _lock_case(node, case_id)
    row = Case.row(case_id)
    if row is None:
        _record_undeliverable(node, body, d.origin, f"本节点没有案件 {case_id} / case not held here")
        return
    if row["held_as"] != "handler":
        # custody moved on since the proposer's copy was made: pass it to the handler we know
        if row["handling_node"] != node.code and _send(node, DOC_PROPOSAL, row["handling_node"], dict(body)):
            return
        _record_undeliverable(node, body, d.origin, f"案件当前由 {row['handling_node']} 承办，无法转达 / cannot reach "
                                                    f"the handler {row['handling_node']}")
        return
    _apply_at_handler(node, row, body)


def _apply_at_handler(node: Node, row: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    proposer = str(body.get("proposer") or "?")
    payload = {"action": body["action"], **{k: v for k, v in (body.get("payload") or {}).items() if k != "action"}}
    role = "discipline" if row["department"] == cases.DISCIPLINE else "admin"
    actor = RemoteActor(f"{proposer}/{body.get('actor') or '?'}", role, proposer)
    token = _PROPOSAL.set({"proposal_id": body["proposal_id"], "proposer": proposer})
    try:
        for attempt in range(2):
            try:
                with node.db.atomic():     # a savepoint: a refusal leaves nothing behind
                    cases.act(node, row["case_id"], payload, actor)
                return
            except NodeError as exc:
                if exc.code == "concurrent_change" and attempt == 0:
                    continue
                _reject(node, row["case_id"], body, exc.message)
                return
    finally:
        _PROPOSAL.reset(token)


def _reject(node: Node, case_id: str, body: Mapping[str, Any], reason: str) -> None:
    """The handler cannot apply a proposal: it records why, and the update carries the
    reason back to the proposer (no fork: the handler's version wins)."""
    fresh = Case.row(case_id)
    assert fresh is not None
    action = str(body["action"])
    proposer = str(body.get("proposer") or "?")
    note = (f"未采纳 {_name(proposer)} 的{cases.ACTION_NAMES_ZH.get(action, action)}提议：{reason} / proposal "
            f"{action} from {proposer} not applied")
    changed = {"version": int(fresh["version"]) + 1, "updated_at": _db(node.now())}
    event = cases._event(case_id, node, cases.Actor(f"{proposer}/{body.get('actor') or '?'}", "remote"),
                         "proposal_rejected", fresh["status"], fresh["status"], note, _db(node.now()),
                         {"proposal_id": body["proposal_id"], "action": action})
    token = _PROPOSAL.set({"proposal_id": body["proposal_id"], "proposer": proposer})
    try:
        cases._commit_change(node, [cases.CaseChange(row={**fresh, **changed}, events=[event],
                                                     previous_version=int(fresh["version"]), changed=changed,
                                                     action="proposal_rejected")])
    finally:
        _PROPOSAL.reset(token)


def _record_undeliverable(node: Node, body: Mapping[str, Any], origin: str, reason: str) -> None:
    log.warning("proposal %s for case %s from %s not deliverable: %s", body.get("proposal_id"),
                body.get("case_id"), origin, reason)
    CaseProposal.insert(proposal_id=f"{body.get('proposal_id')}@{node.code}", case_id=str(body.get("case_id")),
                        action=str(body.get("action")), payload=_dumps(body.get("payload") or {}),
                        actor=f"{origin}/{body.get('actor')}", to_node=node.code, state="undeliverable",
                        reason=reason, created_at=node.now(), resolved_at=node.now()
                        ).on_conflict_ignore().execute()


# -- actions (registered in cases.ACTION_HANDLERS) ----------------------------------------------
def _require_links(action: str) -> None:
    if not _has_links():
        raise cases._no_link(action)


def _leave(node: Node, row: Mapping[str, Any], target: str, actor: Any, action: str, reason: str, now: datetime,
           **extra: Any) -> dict[str, Any]:
    """The columns that give custody away to ``target`` (the transfer is sent by ``_after``)."""
    if topology.next_hop(replicator(node), target) is None:
        raise conflict(f"没有通往 {target} 的链路：该节点不在本节点所在的网络中 / no linked route to {target}: "
                       f"it is outside this node's tree", code="not_in_tree", field="to")
    custody = _custody(row)
    for e in custody:
        if e.get("node") == node.code and e.get("until") is None:
            e["until"] = _iso(now)
            e.update({k: v for k, v in extra.items() if k == "returned"})
    custody.append({"node": target, "since": None, "until": None, "from": node.code,
                    "by": getattr(actor, "login", str(actor)), "action": action, "reason": reason,
                    "sent_at": _iso(now), "via": [], **{k: v for k, v in extra.items() if k != "returned"}})
    return {"handling_node": target, "held_as": "copy", "route": _dumps(custody), "attention": None}


def _check_target(node: Node, row: Mapping[str, Any], to: Any) -> str:
    div = _div()
    if not isinstance(to, str) or not to:
        raise invalid("to", "to 为必填项：节点代码或 \"auto\" / to is required: a node code or \"auto\"")
    if div.level_of(to) is None:
        raise NodeError(422, "unknown_node", f"未知的节点代码 {to[:20]}：不是总局、现行行政区划或基层所代码 / unknown "
                                             f"node code {to[:20]}", "to")
    if to == node.code:
        raise conflict(f"不能分流给本节点 {to} / cannot route a case to this node itself", code="route_to_self",
                       field="to")
    accused = _accused(node, row)
    if routing.is_accused_unit(to, accused, div):
        raise conflict(f"针对执法人员的举报不得交被举报单位 {accused} 办理（R2.3）/ a report against staff may not "
                       f"go to the unit accused ({accused})", code="accused_unit", field="to")
    return to


def _act_route(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("route")
    if row["status"] not in cases.TRANSITIONS["route"].get(row["kind"], {}):
        raise cases._illegal(row, "route")
    to = payload.get("to")
    note = cases._opt_text(payload, "note")
    if to == "auto":
        decision = routing.decide(routing.CaseFacts.from_row(row), node.code, _div(), tables(node),
                                  exclude=_returned_by(row))
        if decision.target == node.code:
            raise conflict(f"按管辖规则本节点即为承办单位，无需分流：{decision.note} / by the jurisdiction rules this "
                           f"node is the handler already", code="already_competent", field="to")
        target = _check_target(node, row, decision.target)
        reason = note or decision.note
        auto = True
    else:
        target = _check_target(node, row, to)
        reason = note or "人工分流 / routed by hand"
        auto = False
    changed = _leave(node, row, target, actor, "route", reason, now, auto=auto)
    return "transferred", changed, f"分流至 {_name(target)}：{reason}", []


def _act_escalate(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("escalate")
    parent = topology.parent_code()
    if parent is None:
        raise cases._no_link("escalate")
    reason = cases._req_text(payload, "reason")
    changed = _leave(node, row, parent, actor, "escalate", reason, now)
    return "transferred", changed, (f"报请上级 {_name(parent)} 决定（第十二条第三款，R2.4）：{reason} / escalated to "
                                    f"{parent} (R2.4)"), []


def _act_return(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    _require_links("return")
    reason = cases._req_text(payload, "reason")
    mine = [e for e in _custody(row) if e.get("node") == node.code and e.get("until") is None]
    sender = mine[-1].get("from") if mine else None
    if not sender:
        raise conflict("本单位是受理单位，没有可退回的单位；请分流（route）/ this unit took the case in: there is "
                       "nobody to return it to (use route)", code="nothing_to_return", field="action")
    if routing.is_accused_unit(sender, _accused(node, row), _div()):
        raise conflict("针对执法人员的举报不得退回被举报单位（R2.3）/ a report against staff may not go back to the "
                       "unit accused", code="accused_unit", field="action")
    changed = _leave(node, row, sender, actor, "return", reason, now, returned=True)
    return "transferred", changed, f"退回 {_name(sender)}：{reason}（本单位无管辖权）/ returned to {sender}", []


def _act_take_over(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    requester = getattr(actor, "node", None)
    if requester is None or requester == node.code:
        raise conflict("提级办理由上级单位提出 / take_over is asked for by a superior unit", code="not_superior",
                       field="action")
    if not _div().is_within(node.code, requester):
        raise forbidden(f"{requester} 不是本单位的上级，不能提级办理 / {requester} is not a superior of {node.code}")
    reason = cases._opt_text(payload, "reason") or "上级提级办理 / taken over by the superior"
    changed = _leave(node, row, requester, actor, "take_over", reason, now)
    return "transferred", changed, (f"上级 {_name(requester)} 提级办理（第十二条第三款）：{reason} / taken over by "
                                    f"{requester} (Order 20 Art. 12(3))"), []


def _act_urge(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    who = getattr(actor, "node", None) or node.code
    note = cases._opt_text(payload, "note")
    due = row.get("next_due")
    return row["status"], {}, (f"督办（{_name(who)}）：{note or '请按时办结'}" + (f"；最近期限 {due}" if due else "")
                               + f" / urged by {who}"), []


def _act_comment(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    who = getattr(actor, "node", None) or node.code
    return row["status"], {}, f"意见（{_name(who)}）：{cases._req_text(payload, 'note')}", []


def _act_reopen(node: Node, row: dict[str, Any], payload: Mapping[str, Any], actor: Any, now: datetime):
    reason = cases._req_text(payload, "reason")
    concluded = [e for e in CaseEvent.for_case(row["case_id"]).dicts() if e["action"] == "conclude"]
    limit = tables(node).supervision.reopen_within_days
    if concluded:
        at = concluded[-1]["at"].replace(tzinfo=UTC)
        if now - at > timedelta(days=limit):
            raise conflict(f"办结已超过 {limit} 日，不能重新办理；可另行投诉 / concluded more than {limit} days ago: "
                           f"it can no longer be reopened (file a new complaint)", code="reopen_expired",
                           field="action")
    return "accepted", {"attention": f"重新办理：{reason}"}, f"重新办理（回访不满意）：{reason} / reopened", []


# -- proposals at a node holding a copy ------------------------------------------------------------
def _propose(node: Node, row: Mapping[str, Any], payload: dict[str, Any], actor: Any, now: datetime) -> dict[str, Any]:
    action = payload["action"]
    handler = row["handling_node"]
    div = _div()
    if action == "take_over" and not (div.is_within(handler, node.code) and handler != node.code):
        raise forbidden(f"只有承办单位 {handler} 的上级可以提级办理 / only a superior of the handler {handler} may take "
                        f"the case over")
    if action in ("feedback", "reopen") and row["accepting_node"] != node.code:
        raise forbidden(f"回访和重新办理由受理单位 {row['accepting_node']} 提出 / follow-up calls and reopening are "
                        f"asked by the accepting node {row['accepting_node']}")
    if action == "feedback":
        cases._req_code(payload, "satisfaction", standard.SATISFACTION)
    if action in ("comment",):
        cases._req_text(payload, "note")
    if action == "reopen":
        cases._req_text(payload, "reason")
    if row["status"] != "transferred" and row["status"] not in cases.TRANSITIONS[action].get(row["kind"], {}):
        raise cases._illegal(row, action)
    proposal_id = uuid.uuid4().hex
    body = {"case_id": row["case_id"], "proposal_id": proposal_id, "action": action,
            "payload": {k: v for k, v in payload.items() if k != "action"},
            "actor": getattr(actor, "login", "?"), "role": getattr(actor, "role", "?"), "proposer": node.code,
            "at": _iso(now)}
    if not _send(node, DOC_PROPOSAL, handler, body):
        raise conflict(f"没有通往承办单位 {handler} 的链路，提议无法送达 / no linked route to the handler {handler}",
                       code="no_route", field="action")
    CaseProposal.insert(proposal_id=proposal_id, case_id=row["case_id"], action=action,
                        payload=_dumps(body["payload"]), actor=body["actor"], to_node=handler, state="sent",
                        created_at=now).execute()
    case = cases.to_api(row, list(CaseEvent.for_case(row["case_id"]).dicts()))
    case["proposal"] = {"id": proposal_id, "action": action, "to": handler, "state": "sent",
                        "message": f"已送承办单位 {_name(handler)} / sent to the handler {handler}"}
    return case


def proposals(node: Node, case_id: str | None = None) -> list[dict[str, Any]]:
    q = CaseProposal.select().order_by(CaseProposal.id)
    if case_id:
        q = q.where(CaseProposal.case_id == case_id)
    return [{"id": p.proposal_id, "case_id": p.case_id, "action": p.action, "actor": p.actor, "to": p.to_node,
             "state": p.state, "reason": p.reason, "created_at": _iso(p.created_at),
             "resolved_at": _iso(p.resolved_at)} for p in q]


# -- notifications to named complainants (R2.7) -------------------------------------------------
STATUS_TELL = {
    "transferred": "已转至{handler}办理",
    "accepted": "已由{handler}受理",
    "declined": "{handler}决定不予受理",
    "referred": "不属于市场监管部门职责，已移送或告知主管部门",
    "concluded": "已由{handler}办结",
    "filed": "{handler}已立案调查",
    "not_filed": "{handler}决定不予立案",
    "answered": "已答复",
}
KIND_ZH = {"complaint": "投诉", "report": "举报", "consultation": "咨询"}


def _notify(node: Node, row: Mapping[str, Any], events: list[Mapping[str, Any]]) -> int:
    """Queue one notice per status change a named complainant must hear of (R2.7)."""
    complainant = _loads(row.get("complainant"), {}) or {}
    if complainant.get("anonymous") or not complainant.get("phone") or not complainant.get("name"):
        return 0
    made = 0
    outcome = _loads(row.get("outcome"), {}) or {}
    for e in events:
        to, frm = e.get("to_status"), e.get("from_status")
        if to not in NOTIFY_STATUSES or to == frm:
            continue
        handler = _name(str(_loads(e.get("data"), {}).get("to") or e["node"])) if to == "transferred" else _name(
            str(e["node"]))
        received = row.get("received_at")
        day = received[:10] if isinstance(received, str) else (received.date().isoformat() if received else "")
        text = (f"【12315】{complainant['name']}您好：您于{day}反映的{KIND_ZH.get(row['kind'], '诉求')}"
                f"（编号 {row['case_id']}）{STATUS_TELL[to].format(handler=handler)}。")
        if to == "referred" and outcome.get("tell"):
            text += outcome["tell"]
        elif to == "declined" and outcome.get("reason") in standard.DECLINE_GROUNDS:
            text += f"理由：{standard.DECLINE_GROUNDS[outcome['reason']][0]}。"
        elif to == "concluded" and outcome.get("outcome") in standard.OUTCOMES:
            text += f"结果：{standard.OUTCOMES[outcome['outcome']][0]}。"
        at = e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"])
        key = f"{row['case_id']}|{to}|{at}"
        made += Notification.insert(key=key[:250], case_id=row["case_id"], version=int(row["version"]), status=to,
                                    recipient=complainant["name"], address=complainant["phone"], message=text,
                                    created_at=node.now()).on_conflict_ignore().execute() and 1 or 0
    return made


def _log_sender(node: Node, n: Notification) -> None:
    log.info("notification for %s (case %s): %s", n.recipient, n.case_id, n.message)


# name -> fn(node, notification); raise to leave it pending (retried next round)
SENDERS: dict[str, Callable[[Node, Notification], None]] = {"log": _log_sender}
DEFAULT_SENDER = "log"


def flush_notifications(node: Node, sender: str | None = None, limit: int = 200) -> int:
    """Send pending notices through the configured sender; returns how many went."""
    name = sender or DEFAULT_SENDER
    fn = SENDERS[name]
    sent = 0
    for n in list(Notification.due(limit)):
        try:
            fn(node, n)
        except Exception as exc:   # a failing gateway: keep it pending, say why
            with write_tx(node.db):
                (Notification.update(attempts=Notification.attempts + 1, last_error=str(exc)[:500],
                                     state="failed" if n.attempts >= 9 else "pending")
                    .where(Notification.id == n.id).execute())
            continue
        with write_tx(node.db):
            (Notification.update(state="sent", sender=name, sent_at=node.now(), attempts=Notification.attempts + 1)
                .where(Notification.id == n.id).execute())
        sent += 1
    return sent


def notifications(node: Node, case_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = Notification.select().order_by(Notification.id.desc()).limit(limit)
    if case_id:
        q = q.where(Notification.case_id == case_id)
    return [{"case_id": n.case_id, "status": n.status, "recipient": n.recipient, "message": n.message,
             "state": n.state, "sender": n.sender, "created_at": _iso(n.created_at), "sent_at": _iso(n.sent_at)}
            for n in q]


# -- supervision: escalating reminders (R2.6) --------------------------------------------------
def remind(node: Node) -> int:
    """Reminders before and after a deadline, at the handling node: ``due_soon`` (the level
    above then sees the case), ``escalated`` (overdue for ``escalate_after_working_days``:
    up to HQ). Overdue itself is flagged by ``cases.mark_overdue``. One event per stage and
    due date; each widens who holds a copy (``supervision.toml``)."""
    cases.mark_overdue(node)
    sup = tables(node).supervision
    cal = cases.intake_context(node).calendar
    today = node.now().astimezone(standard.SHANGHAI).date()
    horizon = cal.add_working_days(today, sup.soon_due_working_days)
    made = 0
    ids = [r for (r,) in (Case.select(Case.case_id)
                          .where((Case.held_as == "handler") & Case.next_due.is_null(False)
                                 & (Case.next_due <= horizon) & Case.status.not_in(tuple(cases.DONE_STATUSES)))
                          .tuples())]
    for case_id in ids:
        with write_tx(node.db):
            row = Case.row(case_id)
            if row is None or row["held_as"] != "handler":
                continue
            stage = stage_of(node, row)
            if stage not in ("due_soon", "escalated"):
                continue
            due = row["next_due"].isoformat() if isinstance(row["next_due"], date) else str(row["next_due"])
            done = any(_loads(e["data"], {}).get("stage") == stage and _loads(e["data"], {}).get("due") == due
                       for e in CaseEvent.for_case(case_id).dicts() if e["action"] == "remind")
            if done:
                continue
            if stage == "due_soon":
                left = cal.working_days_between(today, row["next_due"])
                note = f"即将到期：最近期限 {due}（剩 {left} 个工作日）/ due soon: {due} ({left} working days left)"
            else:
                late = cal.working_days_between(row["next_due"], today)
                note = (f"已超期 {late} 个工作日（期限 {due}），提请上级督办 / overdue by {late} working days "
                        f"(due {due}): escalated to the levels above")
            changed = {"version": int(row["version"]) + 1, "updated_at": _db(node.now())}
            event = cases._event(case_id, node, SYSTEM, "remind", row["status"], row["status"], note,
                                 _db(node.now()), {"stage": stage, "due": due})
            cases._commit_change(node, [cases.CaseChange(row={**row, **changed}, events=[event],
                                                         previous_version=int(row["version"]), changed=changed,
                                                         action="remind")])
            made += 1
    return made


# -- referral directory (R2.5) -------------------------------------------------------------------
def _referral(node: Node, body: str) -> Mapping[str, Any] | None:
    b = routing.body(body, tables(node))
    return b.to_dict() if b else None


def referral_bodies(node: Node, category: str | None = None) -> list[dict[str, Any]]:
    t = tables(node)
    if category:
        return [b.to_dict() for b in routing.suggest_bodies(category, t)]
    return [b.to_dict() for b in t.bodies.values()]


# -- registration ---------------------------------------------------------------------------------
def register_handlers(node: Node, registry: Registry) -> None:
    """The case documents this node applies (``node.domains`` installs it)."""
    registry.register(DOC_TRANSFER, lambda d: _apply_transfer(node, d))
    registry.register(DOC_UPDATE, lambda d: _apply_update(node, d))
    registry.register(DOC_PROPOSAL, lambda d: _apply_proposal(node, d))


def install_case_hooks() -> None:
    """Extend the case lifecycle with routing (idempotent; ``node.domains`` calls it): custody
    at intake, documents in the same transaction as every change, the routing actions,
    proposals from copy holders, the referral directory and the configured departments."""
    cases.install_extension(prepare=_prepare, after_change=_after, propose=_propose, referral=_referral,
                            actions={"route": _act_route, "escalate": _act_escalate, "return": _act_return,
                                     "take_over": _act_take_over, "urge": _act_urge, "comment": _act_comment,
                                     "reopen": _act_reopen},
                            departments={code: dept.name for code, dept in
                                         routing.load_tables(load_divisions()).departments.items()})


def job_specs(node: Node) -> list[jobs.JobSpec]:
    return [("routing.remind", lambda n: float(n.config.deadlines.overdue_check_interval_s), remind),
            ("routing.notifications", lambda n: 30.0, flush_notifications)]
