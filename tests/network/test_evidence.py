"""Evidence travels with its case through the tree (issue 11 item 5; docs/evidence.md).

Trees are built through ``init`` and invite/join (tests/network/conftest.py), files are
uploaded through each node's API, documents travel through the harness, on SQLite and on
PostgreSQL. The oracle: every node that holds the case holds each attachment's record and its
bytes, hashing to the name; nothing of a report against staff reaches the unit accused; and
the documents counted on each link (``SendCounter`` of the ``evidence`` channel: every
document ever queued on that link) show the bytes crossed each link once.
"""
from __future__ import annotations

import base64
import hashlib
import io
import random

import pytest

from node.evidence import store
from node.evidence.documents import CHANNEL, DOC_CHUNK
from node.evidence.models import BlobChunk, Evidence
from node.network import replicator
from replication import documents, outbox
from replication.models import Quarantine, SendCounter
from tests.network.harness import Faults
from tests.network.test_case_routing import Api, complaint, holders_of, no_quarantine
from tests.node.evidence.images import PDF, has_metadata, jpeg_with_gps

CHUNK = 4096


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 KiB, so that a photo of a few KiB travels in several (set before the tree)."""
    monkeypatch.setenv("N12315_EVIDENCE__CHUNK_BYTES", str(CHUNK))


@pytest.fixture
def api(tree):
    return Api(tree)


def attach(api: Api, code: str, case_id: str, data: bytes, name: str, mimetype: str, role: str = "intake") -> dict:
    client = api.net.clients[code]
    r = client.post(f"/api/v1/cases/{case_id}/evidence", content_type="multipart/form-data",
                    headers={"Authorization": f"Bearer {api.token(code, role)}"},
                    data={"file": (io.BytesIO(data), name, mimetype)})
    assert r.status_code == 201, (r.status_code, r.get_json())
    return r.get_json()


def evidence_at(net, code: str, case_id: str) -> dict[str, bytes | None]:
    """sha256 -> the bytes at that node (None: record without bytes)."""
    node = net.nodes[code]
    with node.activate():
        shas = [e.sha256 for e in Evidence.select().where(Evidence.case_id == case_id)]
    return {s: store.read_blob(node, s) if store.has_blob(node, s) else None for s in shas}


def sent_on(net, a: str, b: str) -> int:
    """Documents ``a`` ever queued to its neighbour ``b`` on the evidence channel."""
    node = net.nodes[a]
    with node.activate():
        row = SendCounter.get_or_none((SendCounter.dest == b) & (SendCounter.channel == CHANNEL))
    return 0 if row is None else int(row.next_seq) - 1


def links(net) -> dict[tuple[str, str], int]:
    from federation.models import Link
    out = {}
    for code, node in net.nodes.items():
        with node.activate():
            peers = [link.code for link in Link.select()]
        for peer in peers:
            out[(code, peer)] = sent_on(net, code, peer)
    return out


def assert_everyone_holding_the_case_holds_its_evidence(net, case_id: str, shas: set[str]) -> set[str]:
    held = set(holders_of(net, case_id))
    for code in held:
        got = evidence_at(net, code, case_id)
        assert set(got) == shas, (code, got.keys())
        for sha, data in got.items():
            assert data is not None and hashlib.sha256(data).hexdigest() == sha, code
    return held


def test_a_complaint_with_a_photo_taken_at_the_province_reaches_the_county_with_its_bytes(small_chunks, tree, api):
    cid = api.create("440000", complaint())["id"]
    photo = jpeg_with_gps(size=(128, 96), orientation=6, noise=1)
    rec = attach(api, "440000", cid, photo, "现场照片.jpg", "image/jpeg")
    sha = rec["sha256"]
    tree.settle()
    assert api.get("440305", cid)["held_as"] == "handler"
    at_county = evidence_at(tree, "440305", cid)
    assert list(at_county) == [sha] and hashlib.sha256(at_county[sha]).hexdigest() == sha
    got = api.net.clients["440305"].get(f"/api/v1/cases/{cid}/evidence/{sha}",
                                        headers={"Authorization": f"Bearer {api.token('440305', 'handler')}"})
    assert got.status_code == 200 and got.get_data() == at_county[sha] and has_metadata(got.get_data()) == []
    listed = api.call("440305", "GET", f"/api/v1/cases/{cid}/evidence").get_json()["items"]
    assert [(i["sha256"], i["file_name"], i["node"], i["present"]) for i in listed] == [
        (sha, "现场照片.jpg", "440000", True)]
    held = assert_everyone_holding_the_case_holds_its_evidence(tree, cid, {sha})
    assert held == {"440000", "440300", "440305"}
    for code in ("000000", "330000", "330106", "440305001"):       # not on its way: nothing there
        assert evidence_at(tree, code, cid) == {} and store.blob_files(tree.nodes[code]) == [], code
    chunks = -(-rec["size"] // CHUNK)
    assert chunks > 1
    assert sent_on(tree, "440000", "440300") == chunks + 1          # the bytes once, the record once
    assert sent_on(tree, "440300", "440305") == chunks + 1
    assert sent_on(tree, "440305", "440300") == 0                   # nothing comes back up
    no_quarantine(tree)


def test_holders_that_join_later_get_the_attachments_and_new_ones_reach_every_holder(small_chunks, tree, api):
    cid = api.create("440305", complaint(channel="visit"))["id"]
    first = attach(api, "440305", cid, jpeg_with_gps(size=(80, 60), noise=2), "门店.jpg", "image/jpeg", role="handler")
    tree.settle()
    assert assert_everyone_holding_the_case_holds_its_evidence(tree, cid, {first["sha256"]}) == {"440305", "440300"}
    # a copy holder adds one: it reaches the handler and every other holder
    second = attach(api, "440300", cid, PDF, "发票.pdf", "application/pdf", role="handler")
    tree.settle()
    shas = {first["sha256"], second["sha256"]}
    assert_everyone_holding_the_case_holds_its_evidence(tree, cid, shas)
    # custody moves across the country: the new handler and everyone on the way get both
    api.act("440305", cid, action="route", to="330106", note="经营者实际在杭州")
    tree.settle()
    assert api.get("330106", cid)["held_as"] == "handler"
    held = assert_everyone_holding_the_case_holds_its_evidence(tree, cid, shas)
    assert {"000000", "330000", "330100", "330106"} <= held
    # and one added at the new handler goes back to the accepting county
    third = attach(api, "330106", cid, b"%PDF-1.4\nminutes of mediation\n%%EOF\n", "调解笔录.pdf", "application/pdf",
                   role="handler")
    tree.settle()
    assert_everyone_holding_the_case_holds_its_evidence(tree, cid, shas | {third["sha256"]})
    for (a, b), _n in links(tree).items():                           # no link carried a blob twice
        with tree.nodes[a].activate():
            from node.evidence.models import BlobLink
            sent = [r.sha256 for r in BlobLink.select().where((BlobLink.peer == b) & (BlobLink.how == "sent"))]
        assert len(sent) == len(set(sent)), (a, b)
    no_quarantine(tree)


def test_duplicated_held_and_reordered_deliveries_store_each_attachment_once(small_chunks, tree, api):
    cases = [api.create("440000", complaint(summary=f"第 {i} 件")) ["id"] for i in range(3)]
    rng = random.Random(11)
    files = {cid: [rng.randbytes(9_000 + 2_000 * n) for n in range(2)] for cid in cases}
    shas = {}
    for cid in cases:
        shas[cid] = {attach(api, "440000", cid, b"%PDF-1.5\n" + data, f"{i}.pdf", "application/pdf")["sha256"]
                     for i, data in enumerate(files[cid])}
    for code in ("440000", "440300", "440305"):       # every push and pull on the way down and back
        tree.faults[code] = Faults(duplicate=0.4, hold=0.25, drop_response=0.2)
    for _ in range(12):
        tree.settle(rounds=2, advance_s=30, must_converge=False)   # under faults; converges below
        tree.release_held()                          # late, shuffled: the inbox buffers and applies in order
    tree.faults.clear()
    tree.settle(rounds=100, advance_s=30)
    assert tree.stats["duplicated"] and tree.stats["held"], tree.stats
    for cid in cases:
        held = assert_everyone_holding_the_case_holds_its_evidence(tree, cid, shas[cid])
        assert "440305" in held
        for code in held:
            node = tree.nodes[code]
            with node.activate():
                rows = [e.sha256 for e in Evidence.select().where(Evidence.case_id == cid)]
                assert BlobChunk.select().count() == 0, code
            assert sorted(rows) == sorted(shas[cid]), code           # once each
    for code in ("440000", "440300", "440305"):
        assert len(store.blob_files(tree.nodes[code])) == 6
    no_quarantine(tree)


def test_the_same_file_on_a_second_case_does_not_cross_the_same_links_again(small_chunks, tree, api):
    receipt = b"%PDF-1.4\n" + random.Random(3).randbytes(20_000)
    a = api.create("440000", complaint(summary="第一件"))["id"]
    sha = attach(api, "440000", a, receipt, "收据.pdf", "application/pdf")["sha256"]
    tree.settle()
    before = links(tree)
    chunks = -(-len(receipt) // CHUNK)
    assert before[("440000", "440300")] == before[("440300", "440305")] == chunks + 1
    b = api.create("440000", complaint(summary="第二件，同一张收据"))["id"]
    assert attach(api, "440000", b, receipt, "收据.pdf", "application/pdf")["sha256"] == sha
    tree.settle()
    after = links(tree)
    moved = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert moved == {("440000", "440300"): 1, ("440300", "440305"): 1}, moved   # the record only
    assert_everyone_holding_the_case_holds_its_evidence(tree, b, {sha})
    no_quarantine(tree)


@pytest.mark.parametrize("how", ["chunk bytes", "blob name"])
def test_a_tampered_chunk_is_quarantined_and_nothing_stored(pair, how):
    """A neighbour with a valid key sends bytes that are not what they claim (a bug, a disk
    error, an attacker holding a node's key): refused on arrival, held in quarantine; the
    evidence channel waits for an admin, the case channel flows on."""
    api = Api(pair)
    cid = api.create("440305001", complaint(name="南山区粤海街道某小卖部", channel="visit"))["id"]
    pair.settle()
    real = b"%PDF-1.4\n" + b"r" * 5000
    sha = hashlib.sha256(real).hexdigest()
    piece = real if how == "blob name" else b"%PDF-1.4\n" + b"t" * 5000
    body = {"sha256": sha if how == "chunk bytes" else "ab" * 32, "part": 0, "total": 1, "size": len(real),
            "chunk_sha256": hashlib.sha256(real).hexdigest(), "data": base64.b64encode(piece).decode()}
    station = pair.nodes["440305001"]
    with station.activate():
        from federation.storage import write_tx
        rep = replicator(station)
        with write_tx(station.db):
            doc = documents.create(DOC_CHUNK, channel=CHANNEL, origin=station.code, dest="440305", body=body,
                                   keypair=station.keypair, now=station.now())
            outbox.enqueue(rep, "440305", CHANNEL, doc, [station.code], station.now())
    pair.settle(rounds=3, must_converge=False)   # a held document / an unknown channel keeps its rows
    county = pair.nodes["440305"]
    with county.activate():
        held = [(q.doc_kind, q.error) for q in Quarantine.select().where(Quarantine.state == "held")]
        assert BlobChunk.select().count() == 0
    assert len(held) == 1 and held[0][0] == DOC_CHUNK, held
    assert ("integrity" in held[0][1]) if how == "chunk bytes" else ("do not hash" in held[0][1])
    assert store.blob_files(county) == []
    # the cases channel is not blocked: the station's next change reaches the county
    api.act("440305001", cid, action="accept")
    pair.settle(rounds=3, must_converge=False)   # a held document / an unknown channel keeps its rows
    assert api.get("440305", cid)["status"] == "accepted"


def test_a_staff_reports_evidence_goes_where_the_report_goes_never_to_the_unit_accused(small_chunks, tree, api):
    body = {"kind": "report", "report_target": "staff", "channel": "letter", "category": "S99",
            "summary": "执法人员收受商户财物", "description": "某所工作人员检查时收受礼品。",
            "complainant": {"name": "匿名", "phone": "13500000000", "address": "南山区"},
            "respondent": {"name": "南山区市场监管局某执法人员", "region_code": "440305"}}
    cid = api.create("440305", body)["id"]
    tree.settle()
    # the accused unit, where it was taken, may not keep evidence of it
    r = api.net.clients["440305"].post(f"/api/v1/cases/{cid}/evidence", content_type="multipart/form-data",
                                       headers={"Authorization": f"Bearer {api.token('440305', 'discipline')}"},
                                       data={"file": (io.BytesIO(PDF), "转账记录.pdf", "application/pdf")})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "accused_unit"
    rec = attach(api, "440300", cid, jpeg_with_gps(size=(64, 48), noise=3), "收受礼品.jpg", "image/jpeg", role="discipline")
    # a later change makes the discipline unit send to every holder again: still not to the accused
    api.act("440300", cid, role="discipline", action="verify")
    tree.settle()
    held = set(holders_of(tree, cid))
    assert "440305" in held                                         # it holds its redacted stub ...
    for code in ("440305", "440305001"):                            # ... and nothing of the evidence
        assert evidence_at(tree, code, cid) == {}, code
        assert store.blob_files(tree.nodes[code]) == [], code
    for code in held - {"440305"}:
        assert evidence_at(tree, code, cid) == {rec["sha256"]: evidence_at(tree, code, cid)[rec["sha256"]]}
        assert evidence_at(tree, code, cid)[rec["sha256"]] is not None, code
    assert sent_on(tree, "440300", "440305") == 0
    for role in ("handler", "admin", "supervisor"):
        assert api.call("440300", "GET", f"/api/v1/cases/{cid}/evidence/{rec['sha256']}", role).status_code == 404
    no_quarantine(tree)


def test_a_parent_that_does_not_know_the_evidence_channel_yet_does_not_stall_the_link(pair, monkeypatch):
    """Rolling upgrade: the station knows ``evidence``, its county not yet (it answers that
    channel's pushes and pulls with 400, as the version before attachments does). Only that
    channel waits; the link is not backed off and cases keep flowing both ways."""
    import json as _json

    import requests
    from requests.structures import CaseInsensitiveDict

    from federation.models import Link
    real = pair.deliver

    def older_county(dst, request):
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        try:
            channel = _json.loads(body or b"{}").get("channel")
        except ValueError:
            channel = None
        if dst == "440305" and channel == CHANNEL:
            pull = request.url.endswith("/pull")
            error = ({"code": "bad_channel", "message": "未知通道 / unknown channel", "field": "channel"} if pull else
                     {"code": "bad_batch", "message": "未知通道 / unknown channel", "field": "channel"})
            resp = requests.Response()
            resp.status_code = 400
            resp._content = _json.dumps({"error": error}).encode()
            resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
            resp.url, resp.request = request.url, request
            return resp
        return real(dst, request)

    monkeypatch.setattr(pair, "deliver", older_county)
    api = Api(pair)
    station = pair.nodes["440305001"]
    first = api.create("440305001", complaint(name="南山区粤海街道某小卖部", channel="visit"))["id"]
    attach(api, "440305001", first, PDF, "发票.pdf", "application/pdf", role="handler")
    pair.settle(rounds=3, must_converge=False)   # a held document / an unknown channel keeps its rows
    with station.activate():
        link = Link.get(Link.code == "440305")
    assert (link.attempts, link.next_try_at) == (0, None), (link.attempts, link.last_error)
    assert api.get("440305", first)["held_as"] == "copy"                 # the case itself went up
    assert evidence_at(pair, "440305", first) == {}                      # its evidence waits in the outbox
    assert pair.backlog("440305001") > 0
    monkeypatch.setattr(pair, "deliver", real)                            # the county is upgraded
    pair.settle()
    assert set(evidence_at(pair, "440305", first)) == {hashlib.sha256(PDF).hexdigest()}
