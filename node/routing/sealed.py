"""The sealed personal part of a case document (issue 13 item 2; CONTRACT §11;
docs/privacy-sealing.md).

A case document carries the case in the clear with its personal part **masked** and, beside
it, that part **sealed** (``node.privacy.sealing``) to exactly the nodes that may read it:

* a complaint, consultation or report against a business: the complainant object, readable at
  the accepting node (it answers the consumer) and the handling node;
* a report against staff: the reporter and everything the unit accused may not see
  (``custody.redact``: summary, description, respondent, amount, extensions), readable only
  at the handling node — the discipline unit above the unit accused (R2.3).

Relays and copy holders store the masked view and never the plaintext; a reader opens the
envelope and stores the full data. A node that cannot seal to a reader (its record has no
seal key: an earlier release, or a node never heard of) sends it the masked view only and
keeps the plaintext itself; the accepting node re-seals a complaint to a handler it learns
the key of (``case.reseal``), so the handler can read it after all.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from node.privacy import mask_person, sealing
from node.routing.custody import redact
from node.routing.documents import CHANNEL, from_json, lock_case, row_to_wire, send, to_json, update_row
from node.runtime import Node

log = logging.getLogger(__name__)

DOC_RESEAL = "case.reseal"
PERSONAL = ("complainant",)
STAFF_PERSONAL = ("complainant", "summary", "description", "respondent", "respondent_name", "respondent_uscc",
                  "amount", "extensions")
REDACTED_SUMMARY = redact({})["summary"]
# how the attention flag of a handler that cannot open the personal part begins (arrivals)
SEALED_ATTENTION = "个人信息已密封"

__all__ = ["CHANNEL", "DOC_RESEAL", "holds_plain", "masked_part", "outgoing", "readers", "receive"]


def is_staff(row: Mapping[str, Any]) -> bool:
    return row.get("kind") == "report" and row.get("report_target") == "staff"


def personal_fields(row: Mapping[str, Any]) -> tuple[str, ...]:
    return STAFF_PERSONAL if is_staff(row) else PERSONAL


def readers(row: Mapping[str, Any]) -> list[str]:
    """The nodes that may read the personal part of ``row`` (CONTRACT §11)."""
    if is_staff(row):
        return [str(row["handling_node"])]
    return list(dict.fromkeys([str(row["accepting_node"]), str(row["handling_node"])]))


def holds_plain(row: Mapping[str, Any]) -> bool:
    """The row holds the personal part in full (not the masked view or the redacted stub)."""
    if is_staff(row):
        return row.get("summary") != REDACTED_SUMMARY
    person = from_json(row.get("complainant"), {}) or {}
    return not (isinstance(person, dict) and person.get("masked"))


def masked_part(row: Mapping[str, Any]) -> dict[str, Any]:
    """The personal columns as someone who may not read them holds them."""
    if is_staff(row):
        stub = redact(dict(row))
        return {k: stub[k] for k in STAFF_PERSONAL}
    person = from_json(row.get("complainant"), {}) or {}
    if isinstance(person, dict) and person.get("masked"):
        return {"complainant": row.get("complainant")}
    return {"complainant": to_json(mask_person(person if isinstance(person, dict) else {}))}


def plain_part(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in personal_fields(row)}


def _home(node: Node) -> Any:
    return node.config.home_path


def seal_for(node: Node, row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """(envelope for the readers of ``row`` whose seal key this node knows, readers left out)."""
    keys: dict[str, str] = {}
    missing: list[str] = []
    for code in readers(row):
        key = sealing.peer_seal_key(node.code, _home(node), code)
        if key:
            keys[code] = key
        else:
            missing.append(code)
    if not keys:
        return None, missing
    return sealing.seal(str(row["case_id"]), plain_part(row), keys), missing


def outgoing(node: Node, row: Mapping[str, Any], events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The body of a ``case.transfer`` / ``case.update`` for ``row`` (as it will be once the
    document arrives: ``handling_node`` is the destination of a transfer): the case with its
    personal part masked, the envelope, and this node's current seal key (``sealer``: how
    peers learn a rotated key). Returns (body, readers this node could not seal to)."""
    wire = row_to_wire(row)
    wire.update(masked_part(row))
    missing: list[str] = []
    if holds_plain(row):
        envelope, missing = seal_for(node, row)
        if envelope is not None:
            wire["sealed"] = envelope
    body: dict[str, Any] = {"case": wire, "events": events}
    own = sealing.current_seal_public(_home(node))
    if own:
        body["sealer"] = {"node": node.code, "key": own}
    return body, missing


def learn(node: Node, origin: str, body: Mapping[str, Any]) -> None:
    """Remember the seal key the origin of a verified document says is its current one."""
    sealer = body.get("sealer")
    if isinstance(sealer, Mapping) and sealer.get("node") == origin:
        sealing.learn_seal_key(node.code, _home(node), origin, sealer.get("key"))


def receive(node: Node, wire: Mapping[str, Any], row: dict[str, Any], local: Mapping[str, Any] | None
            ) -> dict[str, Any]:
    """What this node stores of an arriving case ``row`` (``wire_to_row`` of ``wire``): the
    plaintext opened from the envelope at a reader; the plaintext it already holds when it is a
    reader the sender could not seal to; else the masked view. A document of an earlier
    release (no envelope, plaintext) is masked here unless this node is a reader.
    ``SealError`` for an envelope addressed to this node that does not open."""
    entitled = node.code in readers(row)
    envelope = wire.get("sealed")
    opened = None
    if envelope is not None:
        opened = sealing.open_envelope(envelope, str(row["case_id"]), node.code,
                                       sealing.own_seal_keys(_home(node)))
    if entitled and opened is not None:
        return {**row, **{k: opened.get(k) for k in personal_fields(row) if k in opened}}
    if entitled and local is not None and holds_plain(local) and not holds_plain(row):
        return {**row, **plain_part(local)}
    if not entitled and holds_plain(row):
        return {**row, **masked_part(row)}
    return row


# -- re-sealing to a handler that could not read it ------------------------------------------------
def reseal_if_needed(node: Node, row: Mapping[str, Any], wire: Mapping[str, Any]) -> bool:
    """At the accepting node of a complaint, which reads it: when the handling node did not get
    the personal part (its key was unknown when the case was sent), seal it to the handler now
    that its key is known (``case.reseal``). True when a document was queued."""
    handler = str(row["handling_node"])
    if (is_staff(row) or handler == node.code or row.get("accepting_node") != node.code
            or not holds_plain(row) or handler in sealing.recipients_of(wire.get("sealed"))):
        return False
    if sealing.peer_seal_key(node.code, _home(node), handler) is None:
        return False
    envelope, _missing = seal_for(node, row)
    if envelope is None or handler not in sealing.recipients_of(envelope):
        return False
    body = {"case_id": row["case_id"], "sealed": envelope,
            "sealer": {"node": node.code, "key": sealing.current_seal_public(_home(node))}}
    return send(node, DOC_RESEAL, handler, body)


def apply_reseal(node: Node, case_id: Any, envelope: Any) -> str:
    """A ``case.reseal`` for this node: open it and keep the plaintext (only where this node may
    read it and holds the masked view). ``SealError`` when it does not open."""
    if not isinstance(case_id, str):
        return "malformed"
    lock_case(node, case_id)
    from node.routing.documents import fetch_row
    local = fetch_row(node.db, case_id)
    if local is None or node.code not in readers(local) or holds_plain(local):
        return "ignored"
    opened = sealing.open_envelope(envelope, case_id, node.code, sealing.own_seal_keys(_home(node)))
    if opened is None:
        return "not_for_me"
    values = {k: opened[k] for k in personal_fields(local) if k in opened}
    if not values:
        return "empty"
    if str(local.get("attention") or "").startswith(SEALED_ATTENTION):
        values["attention"] = None   # the flag said it could not be opened here; now it can
    update_row(node.db, case_id, int(local["version"]), values)
    log.info("case %s: personal part opened from a re-sealed envelope", case_id)
    return "opened"
