"""Arriving evidence documents at one node (issue 11 item 5; docs/evidence.md): chunks in any
order and any number of times make one blob; a chunk or a blob that does not hash to its name
is refused (``ApplyError``: the inbox quarantines it). The multi-node flows are in
tests/network/test_evidence.py."""
from __future__ import annotations

import base64
import hashlib
import random
from types import SimpleNamespace

import pytest

from node.db import write_tx
from node.evidence import documents, store
from node.evidence.models import BlobChunk, BlobLink
from replication.registry import ApplyError

PEER = "440305001"


def chunks(data: bytes, size: int, *, sha: str | None = None) -> list[dict]:
    total = -(-len(data) // size)
    out = []
    for part in range(total):
        piece = data[part * size:(part + 1) * size]
        out.append({"sha256": sha or hashlib.sha256(data).hexdigest(), "part": part, "total": total,
                    "size": len(data), "chunk_sha256": hashlib.sha256(piece).hexdigest(),
                    "data": base64.b64encode(piece).decode()})
    return out


def deliver(node, body, peer: str = PEER) -> None:
    d = SimpleNamespace(body=body, dest=node.code, origin=peer, sender=peer, now=node.now())
    with node.activate(), write_tx(node.db):
        documents.apply_chunk(node, d)


@pytest.fixture
def county(tmp_path, make_node):
    return make_node(tmp_path, "county", "440305")


def test_chunks_in_any_order_and_repeated_make_one_blob(county):
    data = random.Random(5).randbytes(10_000)
    parts = chunks(data, 1024)
    order = parts + parts[3:7]                      # some twice
    random.Random(7).shuffle(order)
    sha = hashlib.sha256(data).hexdigest()
    for i, body in enumerate(order):
        deliver(county, body)
        done = store.has_blob(county, sha)
        assert done == (len({b["part"] for b in order[:i + 1]}) == len(parts)), i
    assert store.read_blob(county, sha) == data
    with county.activate():
        assert BlobChunk.select().count() == 0                       # the pieces went with the assembly
        assert [(r.peer, r.how) for r in BlobLink.select()] == [(PEER, "received")]
    deliver(county, parts[0])                                         # late redelivery: nothing happens
    assert store.blob_files(county) == [store.blob_path(county, sha)]


def test_a_chunk_whose_bytes_do_not_match_its_hash_is_refused(county):
    data = b"%PDF-1.4\n" + b"x" * 3000
    parts = chunks(data, 1000)
    tampered = dict(parts[1], data=base64.b64encode(b"y" * 1000).decode())
    deliver(county, parts[0])
    with pytest.raises(ApplyError, match="integrity"):
        deliver(county, tampered)
    assert store.blob_files(county) == []


def test_a_blob_that_does_not_hash_to_its_name_is_refused_and_not_written(county):
    data = b"%PDF-1.4\n" + b"x" * 3000
    forged = chunks(data, 1000, sha="ab" * 32)       # every chunk consistent, the whole a lie
    for body in forged[:-1]:
        deliver(county, body)
    with pytest.raises(ApplyError, match="do not hash"):
        deliver(county, forged[-1])
    assert store.blob_files(county) == []


@pytest.mark.parametrize(("change", "match"), [
    ({"sha256": "not-a-sha"}, "SHA-256"),
    ({"part": 9}, "part"),
    ({"total": 0}, "total"),
    ({"data": "***"}, "base64"),
    ({"data": None}, "data"),
])
def test_malformed_chunks_are_refused(county, change, match):
    body = {**chunks(b"hello world", 4)[0], **change}
    with pytest.raises(ApplyError, match=match):
        deliver(county, body)


def test_a_chunk_relayed_instead_of_sent_over_one_link_is_refused(county):
    body = chunks(b"hello world", 4)[0]
    d = SimpleNamespace(body=body, dest=county.code, origin="440300", sender=PEER, now=county.now())
    with county.activate(), write_tx(county.db), pytest.raises(ApplyError, match="one link"):
        documents.apply_chunk(county, d)


@pytest.mark.parametrize(("change", "match"), [
    ({"case_id": "../../etc"}, "case_id"),
    ({"media_type": "text/html"}, "media_type"),
    ({"size": 0}, "size"),
    ({"have": "440000"}, "have"),
    ({"uploaded_at": "yesterday"}, "uploaded_at"),
])
def test_malformed_records_are_refused(change, match):
    body = {"case_id": "440000-20260929-000001", "sha256": "ab" * 32, "size": 10, "media_type": "image/png",
            "file_name": "a.png", "uploaded_by": "intake1", "uploaded_at": "2026-09-29T02:00:00", "node": "440000",
            "accused": None, "have": ["440000"]}
    documents.record_from_body(body)
    with pytest.raises(ApplyError, match=match):
        documents.record_from_body({**body, **change})


def test_chunk_size_is_capped_to_fit_a_batch(county):
    import dataclasses
    county.config = dataclasses.replace(county.config, evidence=dataclasses.replace(
        county.config.evidence, chunk_bytes=64 * 1024 * 1024))
    assert documents.chunk_bytes(county) * 4 // 3 < county.config.replication.max_batch_bytes
