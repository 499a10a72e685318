"""Wire documents: the origin-signed document and the per-hop batch (CONTRACT §3; rule 12).

A document is ``{"v", "kind", "id", "channel", "origin", "dest", "created_at", "body",
"sig"}``. ``dest`` is the final destination node code (for documents that fan out, such as
directives, the issuer's own code and the handler decides where to forward). A batch adds
the per-hop facts: sender, receiver, channel, epoch, and for each entry its sequence
number and the route so far. The route is outside the signed body: relays append to it,
but never change the signed document.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation import keys
from federation.docsign import sign_document, unsigned_bytes

# 1.2 adds the optional batch field ``acked_before`` (the restored-receiver floor);
# 1.1 nodes ignore it, so a tree upgrades one node at a time.
PROTOCOL = "1.2"
PROTOCOL_MAJOR = 1
CHANNELS = ("control", "cases", "directives", "stats", "evidence")
DOC_FIELDS = frozenset({"v", "kind", "id", "channel", "origin", "dest", "created_at", "body", "sig"})


class EnvelopeError(Exception):
    """A batch or document that is malformed: answered 400, nothing applied."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def create(kind: str, *, channel: str, origin: str, dest: str, body: Mapping[str, Any],
           keypair: keys.KeyPair, now: datetime, doc_id: str | None = None) -> dict[str, Any]:
    """Build and sign a document at its origin."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel}")
    doc = {"v": 1, "kind": kind, "id": doc_id or uuid.uuid4().hex, "channel": channel,
           "origin": origin, "dest": dest, "created_at": now.isoformat(), "body": dict(body)}
    return sign_document(doc, keypair)


def digest(doc: Mapping[str, Any]) -> str:
    """Content digest of a signed document: same key, different digest is an alarm."""
    return digest_and_unsigned(doc)[0]


def digest_and_unsigned(doc: Mapping[str, Any]) -> tuple[str, bytes]:
    """The digest and the signed bytes, computed once: the inbox needs both per document."""
    unsigned = unsigned_bytes(doc)
    sig = doc.get("sig")
    value = sig.get("value", "") if isinstance(sig, Mapping) else ""
    return hashlib.sha256(unsigned + b"." + str(value).encode()).hexdigest(), unsigned


def protocol_ok(version: Any) -> bool:
    """Accept the same major version, this minor or older (rolling upgrades, one node at a time)."""
    if not isinstance(version, str):
        return False
    try:
        major, minor = (int(p) for p in version.split(".", 1))
    except ValueError:
        return False
    mine = int(PROTOCOL.split(".")[1])
    return major == PROTOCOL_MAJOR and minor <= mine + 1


@dataclass(frozen=True)
class Entry:
    seq: int
    route: list[str]
    doc: dict[str, Any]


@dataclass(frozen=True)
class Batch:
    sender: str
    receiver: str
    channel: str
    epoch: str
    entries: list[Entry]
    records: list[dict[str, Any]]
    # Everything of this epoch up to here has left the sender's outbox because the receiver
    # acknowledged it. A receiver whose mark is lower lost those applies with a restore.
    acked_before: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = {"protocol": PROTOCOL, "sender": self.sender, "receiver": self.receiver,
               "channel": self.channel, "epoch": self.epoch,
               "entries": [{"seq": e.seq, "route": e.route, "doc": e.doc} for e in self.entries],
               "records": self.records}
        if self.acked_before:
            out["acked_before"] = self.acked_before
        return out

    @classmethod
    def from_dict(cls, data: Any, max_entries: int) -> Batch:
        if not isinstance(data, dict):
            raise EnvelopeError("批次须为 JSON 对象 / batch must be a JSON object")
        if not protocol_ok(data.get("protocol")):
            raise EnvelopeError(f"不支持的协议版本 {data.get('protocol')!r} / unsupported protocol version",
                                "protocol")
        for name in ("sender", "receiver", "channel", "epoch"):
            if not isinstance(data.get(name), str) or not data.get(name):
                raise EnvelopeError(f"批次缺少 {name} / batch lacks {name}", name)
        if data["channel"] not in CHANNELS:
            raise EnvelopeError(f"未知通道 {data['channel']} / unknown channel", "channel")
        raw_entries = data.get("entries")
        if not isinstance(raw_entries, list):
            raise EnvelopeError("entries 须为列表 / entries must be a list", "entries")
        if len(raw_entries) > max_entries:
            raise EnvelopeError(f"批次过大：{len(raw_entries)} 条，上限 {max_entries} / batch too large", "entries")
        entries = []
        for i, raw in enumerate(raw_entries):
            if not isinstance(raw, dict) or set(raw) != {"seq", "route", "doc"}:
                raise EnvelopeError(f"entries[{i}] 格式错误 / malformed entry", f"entries[{i}]")
            seq, route, doc = raw["seq"], raw["route"], raw["doc"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise EnvelopeError(f"entries[{i}].seq 无效 / invalid seq", f"entries[{i}].seq")
            if not isinstance(route, list) or not all(isinstance(c, str) for c in route):
                raise EnvelopeError(f"entries[{i}].route 无效 / invalid route", f"entries[{i}].route")
            check_document_shape(doc, f"entries[{i}].doc")
            entries.append(Entry(seq, route, doc))
        records = data.get("records", [])
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise EnvelopeError("records 须为对象列表 / records must be a list of objects", "records")
        acked_before = data.get("acked_before", 0)
        if not isinstance(acked_before, int) or isinstance(acked_before, bool) or acked_before < 0:
            raise EnvelopeError("acked_before 须为非负整数 / acked_before must be a non-negative integer",
                                "acked_before")
        if entries and acked_before >= min(e.seq for e in entries):
            # the floor says these entries were acknowledged already: a sender that says so
            # is confused, and acting on it could skip a document nobody applied
            raise EnvelopeError(f"acked_before={acked_before} 不小于批次最小序号 / acked_before must lie below "
                                f"the batch's first sequence number", "acked_before")
        return cls(data["sender"], data["receiver"], data["channel"], data["epoch"], entries, records,
                   acked_before)


def check_document_shape(doc: Any, where: str = "doc") -> None:
    if not isinstance(doc, dict) or set(doc) != DOC_FIELDS:
        raise EnvelopeError(f"{where} 字段不完整或多余 / document fields are wrong", where)
    for name in ("kind", "id", "channel", "origin", "dest", "created_at"):
        if not isinstance(doc[name], str) or not doc[name]:
            raise EnvelopeError(f"{where}.{name} 无效 / invalid {name}", f"{where}.{name}")
    if not isinstance(doc["body"], dict) or not isinstance(doc["sig"], dict):
        raise EnvelopeError(f"{where} body/sig 须为对象 / body and sig must be objects", where)
