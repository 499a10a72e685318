"""Routing's hooks in the case lifecycle (R1.5, R2.3, R2.6-R2.7; docs/routing.md §2, §6, §8):
intake decides custody; every change widens who holds a copy and queues the documents.

``prepare`` runs before a change is written: at intake it applies the jurisdiction decision
(keep the case, or route it on at once); on every change it adds this node, the supervising
ancestors and a proposer to the holders. ``after_change`` runs in the same transaction as
the change (RELIABILITY rule 1): the transfer document when custody leaves, one update per
branch to the holders, and the notices for a named complainant at the accepting node.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from node.cases import Actor, CaseChange, new_event
from node.divisions import load_divisions
from node.errors import NodeError
from node.network import replicator
from node.routing import paths, proposals, rules, sealed, tables
from node.routing.custody import holders, redact, unit_name
from node.routing.documents import (
    DOC_TRANSFER,
    DOC_UPDATE,
    events_to_wire,
    from_json,
    history_wire,
    send,
    show_time,
    to_json,
    update_row,
)
from node.routing.notifications import notify
from node.routing.supervision import case_supervisors
from node.runtime import Node
from replication import topology

log = logging.getLogger(__name__)

TRANSFER_ACTIONS = ("route", "escalate", "return", "take_over")


def prepare(node: Node, changes: list[CaseChange]) -> None:
    proposal = proposals.CURRENT.get()
    for c in changes:
        if c.previous_version is None:
            _prepare_intake(node, c)
        if proposal is not None and c.events:
            data = from_json(c.events[0].get("data"), {})
            data["proposal_id"] = proposal["proposal_id"]
            c.events[0]["data"] = to_json(data)
        _widen(node, c, extra=[proposal["proposer"]] if proposal else [])
        _mask_leaving(node, c)


def _mask_leaving(node: Node, c: CaseChange) -> None:
    """Custody leaves this node with this change: unless it may still read the personal part
    (the accepting node of a complaint), it keeps the masked view (issue 13 item 2); the
    transfer document carries the plaintext sealed to the new reader set."""
    row = c.row
    if (c.previous_version is None or c.action not in TRANSFER_ACTIONS or row.get("held_as") != "copy"
            or node.code in sealed.readers(row) or not sealed.holds_plain(row)):
        return
    c.payload["_full_row"] = dict(row)
    masked = sealed.masked_part(row)
    if sealed.is_staff(row):
        masked["search_text"] = ""
    row.update(masked)
    c.changed.update(masked)


def _widen(node: Node, c: CaseChange, extra: list[str]) -> None:
    row = c.row
    held = holders(row)
    want = list(held)
    if node.code not in want:
        want.append(node.code)
    if row.get("held_as") == "handler":
        if row.get("kind") != "consultation":   # answered where taken; no clock to supervise
            want += case_supervisors(node, node.code, row)
    else:   # custody is leaving with this change: the destination will hold it
        want.append(row["handling_node"])
    want = list(dict.fromkeys(want + extra))
    if want != held:
        row["holders"] = to_json(want)
        if c.previous_version is not None:
            c.changed["holders"] = row["holders"]


def _prepare_intake(node: Node, c: CaseChange) -> None:
    row = c.row
    reg = c.events[0]
    at = reg["at"]
    now = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    actor = reg["actor"]
    custody = [{"node": node.code, "since": show_time(now), "until": None, "from": None, "by": actor,
                "action": "register", "reason": "受理登记 / taken in", "via": []}]
    row["route"] = to_json(custody)
    row["holders"] = to_json([node.code])
    facts = rules.CaseFacts.from_row(row)
    decision = rules.decide(facts, node.code, load_divisions(), tables.for_node(node))
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
    note = f"自动分流至 {unit_name(target)}：{decision.note}"
    custody[0]["until"] = show_time(now)
    custody.append({"node": target, "since": None, "until": None, "from": node.code, "by": actor,
                    "action": "route", "auto": True, "reason": decision.note, "sent_at": show_time(now), "via": []})
    changed = {"status": "transferred", "handling_node": target, "held_as": "copy", "version": row["version"] + 1,
               "route": to_json(custody), "attention": None}
    row.update(changed)
    full.update(changed)
    c.events.append(new_event(row["case_id"], node, Actor(actor, "system"), "route", "registered",
                              "transferred", note, at, {"to": target, "basis": decision.basis, "auto": True}))
    c.payload["_transfer_to"] = target
    if node.code not in sealed.readers(row):
        # a report against staff: the document carries it sealed to the discipline unit; we keep
        # a stub (issue 13 item 2, R2.3)
        c.payload["_full_row"] = full
        row.update(redact(row))
        row["search_text"] = ""


def after_change(node: Node, changes: list[CaseChange]) -> None:
    for c in changes:
        row = c.row
        if c.previous_version is None:
            events = events_to_wire(c.events)
        else:
            events = history_wire(row["case_id"])
        transfer_to = c.payload.get("_transfer_to") or (
            row["handling_node"] if c.action in TRANSFER_ACTIONS and row.get("held_as") == "copy" else None)
        if transfer_to:
            full = c.payload.get("_full_row") or row
            body, missing = sealed.outgoing(node, full, events)
            if transfer_to in missing and sealed.is_staff(full):
                raise NodeError(409, "cannot_seal",
                                f"{transfer_to} 尚无加密公钥，举报无法保密转送，未做任何更改 / {transfer_to} has no seal "
                                "key: a report against staff cannot be sent to it confidentially; nothing changed")
            if not send(node, DOC_TRANSFER, transfer_to, body):
                raise NodeError(409, "no_route", f"没有通往 {transfer_to} 的链路 / no linked route to {transfer_to}")
            if transfer_to in missing and full is not row:
                # the new handler cannot receive sealed data (no seal key known here): this node
                # keeps what it could not pass on (docs/privacy-sealing.md "fallback")
                keep = sealed.plain_part(full)
                update_row(node.db, row["case_id"], int(row["version"]), keep)
                row.update(keep)
                log.warning("case %s: no seal key known for %s; the personal part stays here", row["case_id"],
                            transfer_to)
            _send_updates(node, row, events, skip_path_to=transfer_to)
        elif row.get("held_as") == "handler":
            _send_updates(node, row, events)
        if sealed.is_staff(row):
            # a report against staff is read, and its reporter told, only where it is handled
            if row.get("held_as") == "handler":
                notify(node, row, c.events)
        elif row["accepting_node"] == node.code:
            notify(node, row, c.events)


def _send_updates(node: Node, row: Mapping[str, Any], events: list[dict[str, Any]],
                  skip_path_to: str | None = None) -> int:
    """One ``case.update`` per branch: to the fewest holders whose paths pass all others
    (the transfer already passes the holders on its own path); sealed only when one goes."""
    div = load_divisions()
    targets = [t for t in holders(row) if t != node.code]
    if skip_path_to:
        targets = [t for t in targets if not paths.on_path(t, node.code, skip_path_to, div)]
    dests = paths.cover(node.code, targets, div)
    # the hops first: a node with no link to a holder (a county not yet joined, a station
    # offline for good) would otherwise seal a body that is never sent (issue 15 item 1)
    rep = replicator(node)
    hops = [(dest, hop) for dest in dests if (hop := topology.next_hop(rep, dest)) is not None]
    if not hops:
        return 0
    body, _missing = sealed.outgoing(node, row, events)
    return sum(1 for dest, hop in hops if send(node, DOC_UPDATE, dest, body, hop=hop))
