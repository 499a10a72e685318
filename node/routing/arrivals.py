"""Arriving case documents (R1.5, R2.6; docs/routing.md §2, §9): ``case.transfer`` and
``case.update`` at every node they pass and at their destination.

Every node a document passes keeps (or refreshes) a read copy — only a higher ``version``
replaces what it holds, so duplicates and reorders are harmless — then forwards it. The
destination of a transfer becomes the handling node; when no linked node below covers the
destination, the node where it stops keeps it and flags it for a person (R1.5).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from node.audit import record
from node.cases import (
    ACTION_NAMES_ZH,
    COPY_HOOKS,
    SHANGHAI,
    Case,
    CaseChange,
    CaseEvent,
    act,
    chain_onto,
    commit_change,
    event_hash,
    insert_rows,
    mark_heads,
    new_event,
    next_due,
)
from node.db import is_sqlite
from node.deadlines import overdue_clocks
from node.divisions import load_divisions
from node.network import replicator
from node.privacy import SealError, complainant_hashes, keyring_of
from node.routing import proposals, rules, sealed, tables
from node.routing.custody import SYSTEM, accused, custody_trail, holders, redact, returned_by, unit_name
from node.routing.documents import (
    arrived,
    db_time,
    fetch_events,
    fetch_row,
    from_json,
    lock_case,
    search_text,
    show_time,
    to_json,
    update_row,
    wire_to_row,
)
from node.routing.notifications import notify
from node.runtime import Node
from replication import topology
from replication.engine import Delivery
from replication.registry import ApplyError

log = logging.getLogger(__name__)

HISTORY_DIVERGED = "案件历史与办理单位发来的不一致"


# -- keeping a copy --------------------------------------------------------------------------------
def store_copy(node: Node, wire: Mapping[str, Any], events: list[Mapping[str, Any]]) -> str:
    """Keep the case as a read copy here if the document's version is newer than ours:
    ``created`` / ``updated`` / ``stale`` / ``handler`` (we handle it: never overwritten)."""
    incoming = wire_to_row(wire)
    cid = incoming["case_id"]
    lock_case(node, cid)
    local = fetch_row(node.db, cid)
    if local is not None and int(local["version"]) >= int(incoming["version"]):
        return "stale"
    if local is not None and local["held_as"] == "handler":
        log.error("case %s: a copy at version %s arrived where this node handles version %s; kept ours",
                  cid, incoming["version"], local["version"])
        return "handler"
    row = {**incoming, "held_as": "copy"}
    try:
        row = sealed.receive(node, wire, row, local)
    except SealError as exc:
        raise ApplyError(f"案件 {cid} 的密封个人信息无法开启 / case {cid}: sealed personal data refused: "
                         f"{exc.message}") from None
    if local is not None and (local.get("attention") or "").startswith(HISTORY_DIVERGED) and not row.get("attention"):
        row["attention"] = local["attention"]   # the alarm stays until a person clears it
    if rules.is_accused_unit(node.code, accused(node, row), load_divisions()):
        row = redact(row)
    row["search_text"] = search_text(row) if row.get("summary") else ""
    # this node's own keyed hash for same-phone look-ups, never the sender's (issue 13 item 1)
    row.update(complainant_hashes(keyring_of(node.db), row.get("complainant")))
    columns = [f for f in Case._meta.fields if f != "pk"]
    if local is None:
        full = {k: row.get(k, Case._meta.fields[k].default) for k in columns}
        full = {k: (v() if callable(v) else v) for k, v in full.items()}
        insert_rows(node.db, Case, [full])
        if is_sqlite(node.db) and full["search_text"]:
            p = node.db.param
            node.db.execute_sql(f"INSERT INTO case_search (case_id, body) VALUES ({p}, {p})",
                                [cid, full["search_text"]])
        old_events: list[dict[str, Any]] = []
    else:
        update = {k: v for k, v in row.items() if k in columns and k != "case_id"}
        update_row(node.db, cid, int(local["version"]), update)
        old_events = fetch_events(node.db, cid)
    new_events = _sync_events(node, cid, old_events, events)
    stored = full if local is None else {**local, **update}
    for hook in COPY_HOOKS:
        hook(node, stored, local)
    proposals.resolve(node, cid, new_events)
    if row["accepting_node"] == node.code:
        notify(node, row, new_events)
        sealed.reseal_if_needed(node, stored, wire)
    return "created" if local is None else "updated"


def _sync_events(node: Node, case_id: str, old: list[Mapping[str, Any]], incoming: list[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Keep our history equal to the handler's. The arriving events are chained here exactly as
    the handler chained them (issue 13 item 4); when ours is a prefix of them, the rest is
    appended. When it is not — an event we hold was changed or removed on the way or at the
    sender — nothing is replaced silently: our events are kept, marked superseded, the arriving
    history is stored beside them, the case is flagged and ``case.history-diverged`` audited.
    Returns the events new to us."""
    rows = [{"case_id": case_id, "at": datetime.fromisoformat(e["at"]) if isinstance(e["at"], str) else e["at"],
             "node": e["node"], "actor": e["actor"], "action": e["action"], "from_status": e["from_status"],
             "to_status": e["to_status"], "note": e.get("note") or "", "data": e.get("data") or "{}"}
            for e in incoming]
    chain_onto(rows, {})
    common = 0
    while common < min(len(old), len(rows)) and old[common].get("hash") == rows[common]["hash"]:
        common += 1
    if common < len(old):
        _diverged(node, case_id, old, rows, common)
    fresh = rows[common:]
    if fresh:
        insert_rows(CaseEvent._meta.database, CaseEvent, fresh)
    if fresh or common < len(old):
        mark_heads(CaseEvent._meta.database, [case_id])    # the next seal records the new head
    return fresh


def _diverged(node: Node, case_id: str, old: list[Mapping[str, Any]], rows: list[dict[str, Any]],
              common: int) -> None:
    first = old[common]
    at = show_time(node.now())
    # removed: the event after ours is the one that arrived in its place (or nothing arrived)
    gone = common >= len(rows) or (common + 1 < len(old)
                                   and event_hash(old[common + 1], "") == event_hash(rows[common], ""))
    how = "removed" if gone else "changed"
    CaseEvent.update(superseded=f"{at} diverged from {rows[0]['node'] if rows else '?'}").where(
        (CaseEvent.case_id == case_id) & CaseEvent.superseded.is_null() & (CaseEvent.id >= first["id"])).execute()
    reason = (f"{HISTORY_DIVERGED}：本节点所存第 {common + 1} 条记录（{first['action']}）被发来的历史修改或删除，"
              f"两份均已保存，请核查 / the history received differs from the one held here from event "
              f"{common + 1} ({first['action']}) on: both are kept, check it")
    Case.update(attention=reason).where(Case.case_id == case_id).execute()
    log.error("case %s: arriving history differs from the one held here at event %s (%s); both kept",
              case_id, common + 1, how)
    record(node, "system", "case.history-diverged", case_id,
           {"at_event": common + 1, "event_id": first["id"], "action": first["action"], "how": how,
            "held_events": len(old), "received_events": len(rows)})


# -- case.transfer ---------------------------------------------------------------------------------
def apply_transfer(node: Node, d: Delivery) -> None:
    body = d.body
    wire, events = body.get("case"), body.get("events")
    if not isinstance(wire, dict) or not isinstance(events, list):
        raise ApplyError("案件转办文档格式错误 / malformed case transfer")
    sealed.learn(node, d.origin, body)
    store_copy(node, wire, events)
    if not arrived(d):
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
    custody = custody_trail(row)
    last = custody[-1] if custody else {}
    how = last.get("action", "route")
    via = [c for c in d.route[1:] if c != node.code]
    attention: str | None = None
    if hold:
        if last:
            last.update({"until": show_time(now), "undelivered": True})
        reason = (f"无下级节点覆盖 {d.dest}（{unit_name(d.dest)}），由本节点暂存，需人工分流 / no linked node below "
                  f"covers {d.dest}: kept here for a person")
        custody.append({"node": node.code, "since": show_time(now), "until": None, "from": d.origin,
                        "by": "system", "action": "hold", "reason": reason, "via": via})
        attention = reason
        action, note = "hold", reason
    else:
        if last.get("node") == node.code and last.get("since") is None:
            last.update({"since": show_time(now), "via": via})
        else:
            custody.append({"node": node.code, "since": show_time(now), "until": None, "from": d.origin,
                            "by": "system", "action": how, "reason": "", "via": via})
        action = "receive"
        reason = last.get("reason") or ""
        note = f"收到 {unit_name(d.origin)} 转来的案件（{ACTION_NAMES_ZH.get(how, how)}）" + (
            f"：{reason}" if reason else "") + f" / received from {d.origin} ({how})"
        if how == "escalate":
            attention = (f"下级 {d.origin} 报请上级决定（《市场监督管理投诉举报处理暂行办法》第十二条第三款）：{reason}"
                         f" — 请决定自行办理或重新分流 / {d.origin} asks this level to decide (Order 20 Art. 12(3))")
    if attention is None and not sealed.holds_plain(row):
        attention = (f"{sealed.SEALED_ATTENTION}，本节点暂不能开启；受理单位 {row['accepting_node']} 获知本节点加密公钥后将重新密封"
                     f" / the personal part is sealed and this node cannot open it yet; the accepting node "
                     f"{row['accepting_node']} re-seals it once it knows this node's seal key") if not sealed.is_staff(
            row) else ("针对执法人员的举报内容已密封给其他节点，本节点不能开启 / the report against staff is sealed to "
                       "another node and cannot be opened here")
    if not node.config.capabilities.handles_cases and attention is None:
        attention = "本级不直接办理案件，需人工转办 / this level does not handle cases: a person must pass it on"
    kept_by = list(dict.fromkeys(holders(row) + list(d.route) + [node.code]))
    deadlines = from_json(row.get("deadlines"), {})
    today = now.astimezone(SHANGHAI).date()
    changed = {"held_as": "handler", "handling_node": node.code, "status": "registered", "route": to_json(custody),
               "holders": to_json(kept_by), "attention": attention, "version": int(row["version"]) + 1,
               "updated_at": db_time(now), "next_due": next_due(deadlines, "registered"),
               "overdue": bool(deadlines) and bool(overdue_clocks(deadlines, "registered", today))}
    new = {**row, **changed}
    event = new_event(case_id, node, SYSTEM, action, row["status"], "registered", note, db_time(now),
                      {"from": d.origin, "via": via, "how": how})
    commit_change(node, [CaseChange(row=new, events=[event], previous_version=int(row["version"]),
                                    changed=changed, action=action)])
    if not hold:
        _route_on(node, new, how)


def _route_on(node: Node, row: Mapping[str, Any], how: str) -> None:
    """After arriving: a county passes a case on to the station whose area covers it; a
    node that got a case back (``return``) routes it to the next competent unit, or flags
    it for a person."""
    if how not in ("route", "return"):
        return
    returned = returned_by(row)
    decision = rules.decide(rules.CaseFacts.from_row(row), node.code, load_divisions(), tables.for_node(node),
                            exclude=returned)
    rep = replicator(node)
    target = decision.target
    hop = topology.next_hop(rep, target) if target != node.code else None
    onward = (decision.basis == "station_area" and hop == target) or (
        how == "return" and target != node.code and hop is not None and decision.basis != "station_area")
    if onward:
        act(node, row["case_id"], {"action": "route", "to": target,
                                   "note": f"自动分流 / automatic distribution: {decision.note}"}, SYSTEM)
        return
    if how == "return":
        by = "、".join(returned) or "?"
        reason = (f"被 {by} 退回，{decision.attention or '需人工重新分流'} / returned by {by}: a person must route it "
                  f"again")
        fresh = Case.row(row["case_id"])
        assert fresh is not None
        changed = {"attention": reason, "version": int(fresh["version"]) + 1, "updated_at": db_time(node.now())}
        event = new_event(row["case_id"], node, SYSTEM, "flag", fresh["status"], fresh["status"], reason,
                          db_time(node.now()), {"returned_by": returned})
        commit_change(node, [CaseChange(row={**fresh, **changed}, events=[event],
                                        previous_version=int(fresh["version"]), changed=changed,
                                        action="flag")])


# -- case.update -----------------------------------------------------------------------------------
def apply_update(node: Node, d: Delivery) -> None:
    wire, events = d.body.get("case"), d.body.get("events")
    if not isinstance(wire, dict) or not isinstance(events, list):
        raise ApplyError("案件更新文档格式错误 / malformed case update")
    sealed.learn(node, d.origin, d.body)
    store_copy(node, wire, events)
    if not arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
        # else: the holder it was for is not reachable from here; the copies on the way are current


# -- case.reseal -----------------------------------------------------------------------------------
def apply_reseal(node: Node, d: Delivery) -> None:
    """The accepting node re-sealed a complaint's personal part to this handler (issue 13 item 2)."""
    sealed.learn(node, d.origin, d.body)
    if not arrived(d):
        hop = topology.next_hop(replicator(node), d.dest)
        if hop is not None:
            d.forward(hop)
        return
    try:
        sealed.apply_reseal(node, d.body.get("case_id"), d.body.get("sealed"))
    except SealError as exc:
        raise ApplyError(f"重新密封的个人信息无法开启 / re-sealed personal data refused: {exc.message}") from None
