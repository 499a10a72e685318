"""A directive's rows, written alike by the actions here and by the documents that arrive.

Serves R3.1 (tracking) and CONTRACT §6. The issuer's ``issue`` and a relay's
``apply_issue`` store a directive and hand it on the same way; ``add_report`` and
``apply_report`` keep a report the same way; a local 签收 and the benchmark's automatic one
set the acknowledgement the same way. Keeping these here is what lets ``service`` (the
actions) and ``documents`` (the handlers) stay apart.

* ``store_new`` / ``relay_new`` / ``relay_again`` — the directive and its forwarding into
  child subtrees that hold a target (``targets.leads_into``)
* ``ack_row`` — the acknowledgement, set once
* ``store_report`` / ``report_api`` — reports, idempotent by ``report_id``
* ``signed_content`` / ``messages`` — what the signed messages carry (CAP renders them)
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from node.directives.common import CHANNEL, aware, child_links, db_time, dumps, is_within, show
from node.directives.models import Directive, DirectiveMessage, DirectiveRelay, DirectiveReport
from node.directives.targets import leads_into
from node.network import replicator
from node.runtime import Node
from replication import outbox
from replication.engine import Delivery


def signed_content(row: Directive) -> dict[str, Any]:
    """The directive's signed content as of its current version (what Alert/Update carry)."""
    return {
        "directive_id": row.directive_id, "version": row.version, "issuer": row.issuer,
        "issuer_name": row.issuer_name, "issued_by": row.issued_by, "title": row.title, "body": row.body,
        "severity": row.severity, "urgency": row.urgency, "certainty": row.certainty, "category": row.category,
        "targets": json.loads(row.targets), "ack_within_minutes": row.ack_within_minutes,
        "report_within_minutes": row.report_within_minutes, "issued_at": show(row.issued_at),
        "ack_due_at": show(row.ack_due_at), "report_due_at": show(row.report_due_at),
        "plan": json.loads(row.plan) if row.plan else None, "case_id": row.case_id, "exercise": row.exercise,
    }


def store_new(node: Node, content: Mapping[str, Any], doc: Mapping[str, Any], *, role: str, now: datetime,
              received_from: str | None) -> Directive:
    target = role == "target"
    row = Directive.create(
        directive_id=content["directive_id"], issuer=content["issuer"], issuer_name=content.get("issuer_name", ""),
        issued_by=content.get("issued_by", ""), role=role, is_target=target, title=content["title"],
        body=content["body"], severity=content["severity"], urgency=content["urgency"],
        certainty=content.get("certainty", "observed"), category=content["category"],
        targets=dumps(content["targets"]), ack_within_minutes=content["ack_within_minutes"],
        report_within_minutes=content.get("report_within_minutes"),
        issued_at=db_time(aware(content["issued_at"])), ack_due_at=db_time(aware(content["ack_due_at"])),
        report_due_at=db_time(aware(content["report_due_at"])) if content.get("report_due_at") else None,
        plan=dumps(content["plan"]) if content.get("plan") else None, case_id=content.get("case_id"),
        exercise=bool(content.get("exercise")), status="active", version=int(content["version"]),
        updated_at=db_time(now), received_at=db_time(now), received_from=received_from,
        delivered_at=db_time(now) if target else None)
    DirectiveMessage.insert(directive_id=content["directive_id"], version=int(content["version"]),
                            msg_type="Alert", sent_at=db_time(aware(content["sent_at"])), doc_id=str(doc["id"]),
                            doc=dumps(doc), note="").execute()
    return row


def relay_new(node: Node, row: Directive, doc: dict[str, Any], now: datetime,
              delivery: Delivery | None) -> list[str]:
    """Hand a new directive on to every child whose subtree holds a target."""
    specs = json.loads(row.targets)
    rep = replicator(node)
    sent = []
    for link in child_links():
        if not leads_into(specs, link.code, is_within):
            continue
        if delivery is not None:
            delivery.forward(link.code)
        else:
            outbox.enqueue(rep, link.code, CHANNEL, doc, [node.code], now)
        DirectiveRelay.insert(directive_id=row.directive_id, child=link.code, child_level=link.level,
                              child_name=link.name or "", relayed_at=db_time(now)).execute()
        sent.append(link.code)
    return sent


def relay_again(node: Node, directive_id: str, doc: dict[str, Any], now: datetime,
                delivery: Delivery | None) -> None:
    """Updates and cancels follow the original into the same child subtrees."""
    rep = replicator(node)
    for relay in DirectiveRelay.children_of(directive_id):
        if delivery is not None:
            delivery.forward(relay.child)
        else:
            outbox.enqueue(rep, relay.child, CHANNEL, doc, [node.code], now)


def ack_row(node: Node, row: Directive, person: str, login: str, note: str, now: datetime) -> bool:
    """Set the acknowledgement once (a conditional update: two concurrent acks, one wins)."""
    n = (Directive.update(acknowledged_at=db_time(now), acknowledged_by=person, acknowledged_login=login,
                          ack_note=note, delivered_at=row.delivered_at or db_time(now))
         .where((Directive.directive_id == row.directive_id) & Directive.acknowledged_at.is_null())
         .execute())
    return bool(n)


def store_report(report: Mapping[str, Any], now: datetime) -> bool:
    if DirectiveReport.get_or_none(DirectiveReport.report_id == report["report_id"]) is not None:
        return False
    DirectiveReport.insert(report_id=report["report_id"], directive_id=report["directive_id"],
                           node=report["node"], node_name=report.get("node_name", ""), text=report["text"],
                           counts=dumps(report.get("counts") or {}),
                           attachments=dumps(report.get("attachments") or []),
                           reported_by=report.get("reported_by", ""),
                           reported_at=db_time(aware(report["reported_at"])), received_at=db_time(now)).execute()
    return True


def report_api(r: DirectiveReport) -> dict[str, Any]:
    return {"id": r.report_id, "directive_id": r.directive_id, "node": r.node, "node_name": r.node_name,
            "text": r.text, "counts": json.loads(r.counts), "attachments": json.loads(r.attachments),
            "reported_by": r.reported_by, "reported_at": show(r.reported_at), "received_at": show(r.received_at)}


def messages(directive_id: str) -> list[dict[str, Any]]:
    """The signed messages of a directive, oldest first (for CAP rendering)."""
    return [json.loads(m.doc) for m in DirectiveMessage.for_directive(directive_id)]
