"""OASIS CAP 1.2 renderings of directives, acknowledgements and consumer warnings.

Serves R3.1 (publishing and dispatch in a standard form other emergency systems read),
R4.4 and R6.4 (consumer warnings as CAP next to the Atom feed) and CONTRACT §6
(``GET /cap/v1/directives/<id>.xml`` validates against the official schema).

Pure functions: plain dicts in, UTF-8 XML bytes out; no database, no Flask.

* ``directive_alert(content, history, areas)`` — a directive's message of one version:
  ``msgType`` ``Alert`` (version 1), ``Update`` or ``Cancel``, with ``references`` to every
  earlier message of the same directive (CAP 1.2 §3.2.1 "references": ``sender,identifier,sent``
  separated by spaces).
* ``ack_alert(content, node_code, node_name, acknowledged_at, by, note)`` — a CAP ``Ack``
  message for one node's acknowledgement (签收), referencing the directive's alert.
* ``warning_alert(warning, areas)`` — a public consumer warning (``Public`` scope), or its
  withdrawal (``Cancel``).
* ``validate(xml)`` — raises ``CapError`` unless the document is valid against
  ``node/data/cap/CAP-v1.2.xsd`` (provenance in ``node/data/cap/PROVENANCE.md``).

Times are always rendered at ``+08:00`` with whole seconds — the schema's pattern refuses
``Z`` and fractions. Areas carry ``geocode`` elements with the region codes: ``GB/T2260``
for division codes (6 digits), ``n12315-station`` for station codes (county code + 3
digits, no official township table exists), ``n12315-node`` for HQ's ``000000``.
"""
from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

NS = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_PATH = Path(__file__).resolve().parents[1] / "data" / "cap" / "CAP-v1.2.xsd"
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
MIME_TYPE = "application/cap+xml"

CAP_SEVERITY = {"extreme": "Extreme", "severe": "Severe", "moderate": "Moderate", "minor": "Minor"}
CAP_URGENCY = {"immediate": "Immediate", "expected": "Expected", "future": "Future"}
CAP_CERTAINTY = {"observed": "Observed", "likely": "Likely", "possible": "Possible", "unlikely": "Unlikely"}
# Directive / warning categories → CAP 1.2 category (Health: public health, food; Safety:
# general public safety, consumer products; everything else Other).
CAP_CATEGORY = {"food_safety": "Health", "product_safety": "Safety", "consumer_safety": "Safety",
                "mass_complaint": "Other", "infringement": "Other", "consumer_rights": "Other",
                "other": "Other"}


def cap_category(category: str) -> str:
    """CAP category of a directive category, or of a goods/services code (G01… food →
    Health, other goods → Safety, services → Other)."""
    if category in CAP_CATEGORY:
        return CAP_CATEGORY[category]
    if category.startswith("G01"):
        return "Health"
    return "Safety" if category.startswith("G") else "Other"


class CapError(Exception):
    """A rendering that is not valid CAP 1.2; the message says where."""


def cap_time(value: datetime | str) -> str:
    """``2026-09-29T10:00:00+08:00``: an explicit offset, whole seconds, never ``Z``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def sender_of(code: str) -> str:
    """CAP ``sender``: no spaces or commas (they separate ``references``)."""
    return f"n12315:{code}"


def geocode_name(code: str) -> str:
    if code == "000000":
        return "n12315-node"
    if len(code) == 9:
        return "n12315-station"
    return "GB/T2260"


# What XML 1.0 cannot hold at all (§2.2 Char): C0 controls but tab, LF and CR, lone
# surrogates, U+FFFE and U+FFFF. ElementTree writes them as they are, and one such character
# makes the whole document unreadable for every subscriber.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (issue 13): new input refuses them, but a
    warning relayed from above or stored before that check is written too."""
    return _NOT_XML.sub("", text)


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = xml_safe(str(text))
    return el


def _clean(text: str) -> str:
    """CAP identifiers and senders must not hold spaces, commas, ``<`` or ``&``."""
    for ch in (" ", ",", "<", "&"):
        text = text.replace(ch, "_")
    return text


def _serialise(root: ET.Element) -> bytes:
    ET.register_namespace("", NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _alert_head(identifier: str, sender: str, sent: str, msg_type: str, *, scope: str, exercise: bool,
                restriction: str | None = None, note: str | None = None,
                references: Sequence[str] = (), code: Iterable[str] = ()) -> ET.Element:
    root = ET.Element(f"{{{NS}}}alert")
    _sub(root, "identifier", _clean(identifier))
    _sub(root, "sender", _clean(sender))
    _sub(root, "sent", sent)
    _sub(root, "status", "Exercise" if exercise else "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "source", "n12315")
    _sub(root, "scope", scope)
    if scope == "Restricted":
        _sub(root, "restriction", restriction or "市场监管系统内部 / market-regulation staff only")
    for c in code:
        _sub(root, "code", c)
    if note:
        _sub(root, "note", note)
    if references:
        _sub(root, "references", " ".join(references))
    return root


def reference(sender: str, identifier: str, sent: str) -> str:
    return f"{_clean(sender)},{_clean(identifier)},{sent}"


def message_identifier(directive_id: str, version: int) -> str:
    """Version 1 keeps the directive's id; updates and cancels add ``-v<n>``."""
    return directive_id if version <= 1 else f"{directive_id}-v{version}"


def _areas(info: ET.Element, areas: Sequence[Mapping[str, Any]]) -> None:
    for area in areas:
        el = _sub(info, "area")
        _sub(el, "areaDesc", area["desc"])
        for code in area.get("codes", ()):
            g = _sub(el, "geocode")
            _sub(g, "valueName", geocode_name(code))
            _sub(g, "value", code)


def _param(info: ET.Element, name: str, value: Any) -> None:
    if value is None or value == "":
        return
    p = _sub(info, "parameter")
    _sub(p, "valueName", name)
    _sub(p, "value", value)


def directive_alert(content: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
                    areas: Sequence[Mapping[str, Any]]) -> bytes:
    """One message of a directive as a CAP ``alert``.

    ``content`` is the signed body of that message (``directive.issue`` / ``.update`` /
    ``.cancel``: for a cancel, the last content merged with ``msg_type``, ``version``,
    ``reason`` and ``sent_at``); ``history`` the earlier messages (each with ``version`` and
    ``sent_at``), referenced from an Update or Cancel; ``areas`` ``[{"desc", "codes"}]``.
    """
    issuer = str(content["issuer"])
    version = int(content.get("version", 1))
    msg_type = str(content.get("msg_type") or ("Alert" if version == 1 else "Update"))
    sent = cap_time(content.get("sent_at") or content["issued_at"])
    refs = [reference(sender_of(issuer), message_identifier(str(content["directive_id"]), int(h["version"])),
                      cap_time(h["sent_at"]))
            for h in history if int(h["version"]) < version]
    note = None
    if msg_type == "Cancel":
        note = f"撤销 / cancelled: {content.get('reason') or '—'}"
    elif msg_type == "Update" and content.get("note"):
        note = f"更新 / updated: {content['note']}"
    root = _alert_head(message_identifier(str(content["directive_id"]), version), sender_of(issuer), sent,
                       msg_type, scope="Restricted", exercise=bool(content.get("exercise")), note=note,
                       references=refs if msg_type != "Alert" else (),
                       code=["n12315-directive"])
    if content.get("case_id"):
        _sub(root, "incidents", _clean(str(content["case_id"])))
    info = _sub(root, "info")
    _sub(info, "language", "zh-CN")
    _sub(info, "category", cap_category(str(content.get("category"))))
    plan = content.get("plan") or {}
    _sub(info, "event", plan.get("event_type")
         or (f"{content['category_name']}应急处置指令" if content.get("category_name") else "应急处置指令"))
    _sub(info, "responseType", "Execute" if msg_type != "Cancel" else "AllClear")
    _sub(info, "urgency", CAP_URGENCY.get(str(content.get("urgency")), "Unknown"))
    _sub(info, "severity", CAP_SEVERITY.get(str(content.get("severity")), "Unknown"))
    _sub(info, "certainty", CAP_CERTAINTY.get(str(content.get("certainty")), "Unknown"))
    _sub(info, "audience", "市场监管系统各级单位 / market-regulation bureaus")
    ec = _sub(info, "eventCode")
    _sub(ec, "valueName", "n12315-category")
    _sub(ec, "value", content.get("category") or "other")
    if plan.get("id"):
        ec = _sub(info, "eventCode")
        _sub(ec, "valueName", "n12315-plan")
        _sub(ec, "value", f"{plan['id']}@v{plan.get('version', 1)}")
    _sub(info, "effective", cap_time(content["issued_at"]))
    if content.get("ack_due_at"):
        # the CAP "onset" of a dispatch order is when the bureaus must have signed for it
        _sub(info, "onset", cap_time(content["ack_due_at"]))
    _sub(info, "senderName", content.get("issuer_name") or issuer)
    _sub(info, "headline", content.get("title", ""))
    _sub(info, "description", content.get("body", ""))
    instruction = _instruction(content)
    if instruction:
        _sub(info, "instruction", instruction)
    _param(info, "n12315-directive-id", content.get("directive_id"))
    _param(info, "n12315-version", version)
    _param(info, "n12315-ack-within-minutes", content.get("ack_within_minutes"))
    _param(info, "n12315-report-within-minutes", content.get("report_within_minutes"))
    _param(info, "n12315-targets", " ".join(content.get("targets") or []))
    _param(info, "n12315-case-id", content.get("case_id"))
    _param(info, "n12315-issued-by", content.get("issued_by"))
    _areas(info, areas)
    return _serialise(root)


def _instruction(content: Mapping[str, Any]) -> str:
    lines = []
    if content.get("ack_within_minutes"):
        lines.append(f"请在 {content['ack_within_minutes']} 分钟内签收本指令"
                     f" / acknowledge within {content['ack_within_minutes']} minutes.")
    if content.get("report_within_minutes"):
        lines.append(f"请在 {content['report_within_minutes']} 分钟内报告处置情况"
                     f" / report within {content['report_within_minutes']} minutes.")
    plan = content.get("plan") or {}
    for step in plan.get("steps") or []:
        within = f"（{step['within_minutes']} 分钟内）" if step.get("within_minutes") else ""
        lines.append(f"{step.get('order', '')}. {step.get('title', '')}{within}：{step.get('detail', '')}")
    return "\n".join(lines)


def ack_alert(content: Mapping[str, Any], node_code: str, node_name: str, acknowledged_at: datetime | str,
              by: str | None, note: str | None, history: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """A CAP ``Ack`` for ``node_code``'s acknowledgement of the directive in ``content``."""
    issuer = str(content["issuer"])
    did = str(content["directive_id"])
    refs = [reference(sender_of(issuer), message_identifier(did, int(h["version"])), cap_time(h["sent_at"]))
            for h in (history or [{"version": 1, "sent_at": content["issued_at"]}])]
    text = f"签收 / acknowledged by {by or '—'} ({node_name or node_code})"
    if note:
        text += f": {note}"
    root = _alert_head(f"{did}-ack-{node_code}", sender_of(node_code), cap_time(acknowledged_at), "Ack",
                       scope="Restricted", exercise=bool(content.get("exercise")), note=text, references=refs)
    return _serialise(root)


def warning_alert(warning: Mapping[str, Any], areas: Sequence[Mapping[str, Any]]) -> bytes:
    """A public consumer warning or tip (Public scope); a withdrawn one as ``Cancel``."""
    issuer = str(warning["issuer"])
    wid = str(warning["id"])
    withdrawn = warning.get("status") == "withdrawn"
    if withdrawn:
        root = _alert_head(f"{wid}-withdrawn", sender_of(issuer), cap_time(warning["withdrawn_at"]), "Cancel",
                           scope="Public", exercise=False,
                           note=f"撤回 / withdrawn: {warning.get('withdraw_reason') or '—'}",
                           references=[reference(sender_of(issuer), wid, cap_time(warning["published_at"]))],
                           code=["n12315-warning"])
    else:
        root = _alert_head(wid, sender_of(issuer), cap_time(warning["published_at"]), "Alert", scope="Public",
                           exercise=False, code=["n12315-warning"])
    info = _sub(root, "info")
    _sub(info, "language", "zh-CN")
    _sub(info, "category", CAP_CATEGORY.get(str(warning.get("category")), "Other"))
    _sub(info, "event", warning.get("kind_name") or "消费警示")
    _sub(info, "responseType", "AllClear" if withdrawn else ("Avoid" if warning.get("kind") == "warning"
                                                             else "Monitor"))
    _sub(info, "urgency", "Expected" if warning.get("kind") == "warning" else "Future")
    _sub(info, "severity", CAP_SEVERITY.get(str(warning.get("severity")), "Unknown"))
    _sub(info, "certainty", "Likely" if warning.get("kind") == "warning" else "Possible")
    _sub(info, "audience", "消费者 / consumers")
    ec = _sub(info, "eventCode")
    _sub(ec, "valueName", "n12315-warning-kind")
    _sub(ec, "value", warning.get("kind") or "warning")
    _sub(info, "effective", cap_time(warning["published_at"]))
    if warning.get("expires_at"):
        _sub(info, "expires", cap_time(warning["expires_at"]))
    _sub(info, "senderName", warning.get("issuer_name") or issuer)
    _sub(info, "headline", warning.get("title", ""))
    _sub(info, "description", warning.get("body", ""))
    _sub(info, "contact", "12315")
    _areas(info, areas)
    return _serialise(root)


@functools.lru_cache(maxsize=1)
def schema() -> Any:
    import xmlschema
    return xmlschema.XMLSchema(str(XSD_PATH))


def validate(xml: bytes | str) -> None:
    """Raise ``CapError`` naming the first problem unless ``xml`` is a valid CAP 1.2 alert."""
    try:
        errors = list(schema().iter_errors(xml if isinstance(xml, str) else xml.decode("utf-8")))
    except Exception as exc:  # noqa: BLE001 — xmlschema raises parser errors of several types for non-XML
        raise CapError(f"CAP 不是合法 XML / not well-formed XML: {exc}") from None
    if errors:
        first = errors[0]
        raise CapError(f"CAP 校验失败 / CAP 1.2 schema violation at {first.path}: {first.reason}")


def is_valid(xml: bytes | str) -> bool:
    try:
        validate(xml)
    except CapError:
        return False
    return True
