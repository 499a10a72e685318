"""Attachments travel with their case (issue 11 item 5; docs/evidence.md): the documents on
the ``evidence`` channel, who is sent what, and what arriving documents do.

* ``evidence.record`` — the attachment's record (case, SHA-256, size, media type, name,
  uploader, time, node), addressed like a ``case.update`` to the fewest destinations whose
  tree paths pass every holder of the case (``node.routing.cover``); every node it passes
  keeps the record and forwards it. ``have`` lists the nodes known to hold it, so nobody
  sends it to them again; ``accused`` names the unit accused by a report against staff,
  which never gets it (nor any unit inside it).
* ``evidence.chunk`` — the bytes, over **one link** (origin = the sending node, dest = its
  neighbour), in chunks of ``evidence.chunk_bytes`` with ``part``/``total``, each carrying
  the SHA-256 of its own bytes. Before a node puts a record on a link it makes sure the
  neighbour has the blob: unless ``BlobLink`` says the peer holds it (we sent it, or it
  sent it to us), the chunks are queued first — on the same link and channel, so they are
  applied before the record. A blob therefore crosses each link once, whatever number of
  cases attach it. Chunks are kept per (peer, blob) until all have come (in any order,
  duplicates ignored); the assembled bytes must hash to the blob's name, or the chunk is
  refused (``ApplyError`` → quarantine, the channel waits for an admin).

Who sends: the node where a file is uploaded sends it to every holder of the case it knows;
the **handling node** sends every attachment to every holder that lacks it — when a record
reaches it, and after every change of the case (``after_change``, through
``node.cases.install_extension``), so holders that join later (a transfer, a supervising
ancestor, a proposer) get the existing attachments; a node giving custody up sends them to
the new handler with the transfer. A record that reaches a node the case has left is passed
to the handler that node knows.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from node.cases import CASE_ID_RE, Case, CaseChange
from node.db import is_sqlite
from node.divisions import load_divisions
from node.evidence import store
from node.evidence.content import MEDIA_TYPES
from node.evidence.models import BlobChunk, BlobLink, Evidence, EvidenceHolder
from node.network import replicator
from node.routing import accused, cover, holders
from node.runtime import Node
from replication import documents, outbox, topology
from replication.engine import Delivery, Replicator
from replication.registry import ApplyError, Registry

CHANNEL = "evidence"
DOC_RECORD = "evidence.record"
DOC_CHUNK = "evidence.chunk"
MAX_CHUNKS = 4096
_RECORD_TEXT = {"file_name": 255, "uploaded_by": 64, "node": 16}


def db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def chunk_bytes(node: Node) -> int:
    """The configured chunk size, capped so a chunk (base64, a third larger) fits a batch."""
    cap = (node.config.replication.max_batch_bytes - 64 * 1024) * 3 // 4
    return max(1024, min(node.config.evidence.chunk_bytes, cap))


def _lock(node: Node, key: str) -> None:
    """PostgreSQL: serialise handlers touching one blob (two links may bring it at once)."""
    if not is_sqlite(node.db):
        node.db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


# -- bookkeeping --------------------------------------------------------------------------------
def known_holders(case_id: str, sha256: str) -> set[str]:
    return {r.node for r in EvidenceHolder.select(EvidenceHolder.node)
            .where((EvidenceHolder.case_id == case_id) & (EvidenceHolder.sha256 == sha256))}


def mark_holders(case_id: str, sha256: str, nodes: Iterable[str]) -> None:
    rows = [{"case_id": case_id, "sha256": sha256, "node": n} for n in dict.fromkeys(nodes) if n]
    if rows:
        EvidenceHolder.insert_many(rows).on_conflict_ignore().execute()


def peer_holds(peer: str, sha256: str) -> bool:
    return BlobLink.select().where((BlobLink.peer == peer) & (BlobLink.sha256 == sha256)).exists()


def mark_peer(peer: str, sha256: str, how: str, now: datetime) -> None:
    BlobLink.insert(peer=peer, sha256=sha256, how=how, at=db_time(now)).on_conflict_ignore().execute()


def store_record(rec: Mapping[str, Any], now: datetime) -> bool:
    """Keep an attachment's record (idempotent); True when it is new here."""
    n = (Evidence.insert(case_id=rec["case_id"], sha256=rec["sha256"], size=rec["size"],
                         media_type=rec["media_type"], file_name=rec["file_name"], uploaded_by=rec["uploaded_by"],
                         uploaded_at=rec["uploaded_at"], node=rec["node"], received_at=db_time(now))
         .on_conflict_ignore().execute())
    return bool(n)


# -- sending ------------------------------------------------------------------------------------
def _enqueue(node: Node, rep: Replicator, hop: str, kind: str, dest: str, body: dict[str, Any]) -> None:
    doc = documents.create(kind, channel=CHANNEL, origin=node.code, dest=dest, body=body,
                           keypair=node.keypair, now=node.now())
    outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], node.now())


def ensure_blob(node: Node, rep: Replicator, peer: str, sha256: str) -> int:
    """Queue the blob's chunks to the neighbour ``peer`` unless it holds them already; the
    number of chunks queued (0 when the peer has it, or the bytes are not here)."""
    if peer_holds(peer, sha256) or not store.has_blob(node, sha256):
        return 0
    data = store.read_blob(node, sha256)
    size = chunk_bytes(node)
    total = max(1, -(-len(data) // size))
    for part in range(total):
        piece = data[part * size:(part + 1) * size]
        _enqueue(node, rep, peer, DOC_CHUNK, peer,
                 {"sha256": sha256, "part": part, "total": total, "size": len(data),
                  "chunk_sha256": store.digest(piece), "data": base64.b64encode(piece).decode("ascii")})
    mark_peer(peer, sha256, "sent", node.now())
    return total


def record_body(ev: Any, accused_unit: str | None, have: Iterable[str]) -> dict[str, Any]:
    uploaded = ev.uploaded_at if isinstance(ev.uploaded_at, datetime) else datetime.fromisoformat(ev.uploaded_at)
    return {"case_id": ev.case_id, "sha256": ev.sha256, "size": int(ev.size), "media_type": ev.media_type,
            "file_name": ev.file_name, "uploaded_by": ev.uploaded_by, "uploaded_at": db_time(uploaded).isoformat(),
            "node": ev.node, "accused": accused_unit, "have": sorted(set(have))}


def send_record(node: Node, ev: Any, dest: str, accused_unit: str | None, have: Iterable[str]) -> bool:
    """The record to ``dest`` (its blob first to the next hop, if that neighbour lacks it)."""
    rep = replicator(node)
    hop = topology.next_hop(rep, dest)
    if hop is None:
        return False
    ensure_blob(node, rep, hop, ev.sha256)
    _enqueue(node, rep, hop, DOC_RECORD, dest, record_body(ev, accused_unit, have))
    return True


def targets(node: Node, row: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """Every node that should hold the case's attachments (the holders and the handler), but
    never the unit accused by a report against staff nor one inside it; and that unit."""
    unit = accused(node, row)
    div = load_divisions()
    want = holders(row) + [row.get("handling_node") or ""]
    return [t for t in dict.fromkeys(want)
            if t and t != node.code and not (unit and div.is_within(t, unit))], unit


def distribute(node: Node, row: Mapping[str, Any], only: Iterable[str] | None = None) -> int:
    """Send the case's attachments (or ``only`` these SHA-256s) to every target that lacks
    them; the number of record documents queued. Call inside the write transaction."""
    query = Evidence.select().where(Evidence.case_id == row["case_id"])
    if only is not None:
        query = query.where(Evidence.sha256.in_(list(only)))
    attachments = list(query.order_by(Evidence.id))
    if not attachments:
        return 0
    wanted, unit = targets(node, row)
    if not wanted:
        return 0
    div = load_divisions()
    rep = replicator(node)
    sent = 0
    for ev in attachments:
        known = known_holders(ev.case_id, ev.sha256)
        missing = [t for t in wanted if t not in known]
        if not missing:
            continue
        reachable = [t for t in missing if topology.next_hop(rep, t) is not None]
        have = known | set(reachable) | {node.code}
        for dest in cover(node.code, reachable, div):
            sent += send_record(node, ev, dest, unit, have)
        mark_holders(ev.case_id, ev.sha256, [*reachable, node.code])
    return sent


def after_change(node: Node, changes: list[CaseChange]) -> None:
    """A change at the handling node (or custody leaving it): holders that joined get the
    attachments they lack. Intake is skipped: a new case has none."""
    for c in changes:
        if c.previous_version is not None:
            distribute(node, c.row)


# -- arriving ------------------------------------------------------------------------------------
def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ApplyError(f"附件文档字段 {name} 无效 / evidence document: bad {name}")
    return value


def _int(body: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApplyError(f"附件文档字段 {name} 无效 / evidence document: bad {name}")
    return value


def _sha(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not store.SHA256_RE.match(value):
        raise ApplyError(f"附件文档字段 {name} 不是 SHA-256 / evidence document: {name} is not a SHA-256")
    return value


def record_from_body(body: Mapping[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {"sha256": _sha(body, "sha256"), "size": _int(body, "size", 1, 1 << 40)}
    rec["case_id"] = _text(body, "case_id", 40)
    if not CASE_ID_RE.match(rec["case_id"]):
        raise ApplyError("附件文档的案件编号无效 / evidence document: bad case_id")
    if body.get("media_type") not in MEDIA_TYPES:
        raise ApplyError("附件文档的媒体类型无效 / evidence document: bad media_type")
    rec["media_type"] = body["media_type"]
    for name, limit in _RECORD_TEXT.items():
        rec[name] = _text(body, name, limit)
    try:
        rec["uploaded_at"] = db_time(datetime.fromisoformat(_text(body, "uploaded_at", 40)))
    except ValueError:
        raise ApplyError("附件文档的上传时间无效 / evidence document: bad uploaded_at") from None
    have = body.get("have", [])
    if not isinstance(have, list) or not all(isinstance(c, str) and len(c) <= 16 for c in have):
        raise ApplyError("附件文档字段 have 无效 / evidence document: bad have")
    rec["have"] = have
    unit = body.get("accused")
    if unit is not None and not isinstance(unit, str):
        raise ApplyError("附件文档字段 accused 无效 / evidence document: bad accused")
    rec["accused"] = unit
    return rec


def apply_chunk(node: Node, d: Delivery) -> None:
    """A piece of a blob from a neighbour: checked, kept, and when the last has come, the
    blob assembled, checked against its name and written (before the commit)."""
    body = d.body
    if d.dest != node.code or d.origin != d.sender:
        raise ApplyError("附件分块只在相邻节点间传送 / evidence chunks travel over one link only")
    sha = _sha(body, "sha256")
    total = _int(body, "total", 1, MAX_CHUNKS)
    part = _int(body, "part", 0, total - 1)
    size = _int(body, "size", 1, 1 << 40)
    chunk_sha = _sha(body, "chunk_sha256")
    data = body.get("data")
    if not isinstance(data, str):
        raise ApplyError("附件分块缺少数据 / evidence chunk without data")
    _lock(node, sha)
    if store.has_blob(node, sha):                      # redelivered, or it came by another link
        mark_peer(d.sender, sha, "received", d.now)
        return
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApplyError(f"附件分块 {sha[:12]}…#{part} 不是 base64 / evidence chunk is not base64") from None
    if store.digest(raw) != chunk_sha or len(raw) > size:
        raise ApplyError(f"附件分块 {sha[:12]}…#{part} 校验失败（内容与其 SHA-256 不符）/ evidence chunk "
                         f"{sha[:12]}…#{part} fails its integrity check")
    BlobChunk.insert(peer=d.sender, sha256=sha, part=part, total=total, size=size, data=raw,
                     received_at=db_time(d.now)).on_conflict_ignore().execute()
    rows = list(BlobChunk.select(BlobChunk.part, BlobChunk.total, BlobChunk.size, BlobChunk.data)
                .where((BlobChunk.peer == d.sender) & (BlobChunk.sha256 == sha)).order_by(BlobChunk.part))
    if len(rows) < total:
        return
    if [r.part for r in rows] != list(range(total)) or {(r.total, r.size) for r in rows} != {(total, size)}:
        raise ApplyError(f"附件 {sha[:12]}… 的分块前后不一致 / the chunks of {sha[:12]}… disagree")
    blob = b"".join(bytes(r.data) for r in rows)
    if len(blob) != size or store.digest(blob) != sha:
        raise ApplyError(f"附件 {sha[:12]}… 的内容与其 SHA-256 不符，已拒收 / the bytes of {sha[:12]}… do not hash "
                         f"to their name: refused")
    store.write_blob(node, blob, sha)
    BlobChunk.delete().where(BlobChunk.sha256 == sha).execute()
    mark_peer(d.sender, sha, "received", d.now)


def apply_record(node: Node, d: Delivery) -> None:
    """An attachment's record: kept here (unless this is the accused unit), passed on, and at
    its destination handed on to the holders (handler) or to the handler (a node the case
    has left)."""
    rec = record_from_body(d.body)
    cid, sha, unit = rec["case_id"], rec["sha256"], rec["accused"]
    excluded = bool(unit) and load_divisions().is_within(node.code, unit)
    if not excluded:
        store_record(rec, d.now)
        mark_holders(cid, sha, [*rec["have"], *d.route, node.code])
    rep = replicator(node)
    if d.dest != node.code:
        hop = topology.next_hop(rep, d.dest)
        if hop is not None:
            ensure_blob(node, rep, hop, sha)
            d.forward(hop)
        return
    if excluded:
        return
    row = Case.row(cid)
    if row is None:
        return   # the case is on its way: when it arrives and this node handles it, after_change sends
    if row["held_as"] == "handler":
        distribute(node, row, only=[sha])
        return
    handler = row["handling_node"]
    if handler and handler != node.code and handler not in known_holders(cid, sha):
        ev = Evidence.get((Evidence.case_id == cid) & (Evidence.sha256 == sha))
        have = known_holders(cid, sha) | {handler, node.code}
        if send_record(node, ev, handler, unit, have):
            mark_holders(cid, sha, [handler])


def register_handlers(node: Node, registry: Registry) -> None:
    registry.register(DOC_RECORD, lambda d: apply_record(node, d))
    registry.register(DOC_CHUNK, lambda d: apply_chunk(node, d))
