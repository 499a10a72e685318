"""Evidence over the JSON API (issue 11 item 5): upload checked on content, images stripped of
metadata, content-addressed storage, listing and download for those who may read the case, and
refusals that store nothing — on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
import hashlib
import io
from urllib.parse import quote

import pytest

from node.evidence import store
from node.evidence.models import Evidence, EvidenceHolder
from tests.node.cases.examples import complaint, staff_report
from tests.node.evidence.images import PDF, RECEIPT, has_metadata, jpeg_with_gps, plain_png

CASES = "/api/v1/cases"


def new_case(app_client, body=None, role="intake") -> str:
    r = app_client.post(CASES, body or complaint(), role=role)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def upload(app_client, case_id, data, name="photo.jpg", mimetype="image/jpeg", role="intake", field="file"):
    return app_client.post(f"{CASES}/{case_id}/evidence", role=role, content_type="multipart/form-data",
                           data={field: (io.BytesIO(data), name, mimetype)})


def stored(node) -> tuple[int, list]:
    """Rows and blob files: what an upload left behind."""
    with node.activate():
        rows = Evidence.select().count()
    return rows, store.blob_files(node)


def limit(node, **settings) -> None:
    node.config = dataclasses.replace(node.config, evidence=dataclasses.replace(node.config.evidence, **settings))


def test_a_photo_with_gps_is_stored_without_it_and_downloads_as_an_attachment(app_client):
    cid = new_case(app_client)
    original = jpeg_with_gps(size=(40, 20), orientation=6)
    assert "gps" in has_metadata(original)
    r = upload(app_client, cid, original, name="现场照片.jpg")
    assert r.status_code == 201, r.get_json()
    rec = r.get_json()
    assert rec["media_type"] == "image/jpeg" and rec["file_name"] == "现场照片.jpg" and rec["present"]
    assert rec["uploaded_by"] == "intake1" and rec["node"] == "440305" and rec["uploaded_at"].endswith("+08:00")
    assert r.headers["Location"] == f"{CASES}/{cid}/evidence/{rec['sha256']}"
    got = app_client.get(f"{CASES}/{cid}/evidence/{rec['sha256']}", role="handler")
    assert got.status_code == 200
    body = got.get_data()
    assert hashlib.sha256(body).hexdigest() == rec["sha256"] and len(body) == rec["size"]
    assert has_metadata(body) == []                                  # no EXIF, no GPS, no XMP, no comment
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote('现场照片.jpg')}" in disposition
    # content-addressed under the home: evidence/ab/cdef…, the file sealed (tests/node/evidence/test_blobs_at_rest.py)
    path = app_client.node.config.home_path / "evidence" / rec["sha256"][:2] / rec["sha256"][2:]
    assert path.is_file() and store.read_blob(app_client.node, rec["sha256"]) == body
    listed = app_client.get(f"{CASES}/{cid}/evidence", role="analyst").get_json()["items"]
    assert [(i["sha256"], i["size"], i["file_name"]) for i in listed] == [(rec["sha256"], rec["size"], "现场照片.jpg")]


@pytest.mark.parametrize(("data", "name", "mimetype", "code"), [
    (PDF, "photo.jpg", "image/jpeg", "type_mismatch"),          # a PDF called a photo
    (PDF, "photo.jpg", "application/octet-stream", "type_mismatch"),   # ... by its name alone
    (plain_png(), "receipt.pdf", "application/pdf", "type_mismatch"),
    (plain_png(), "scan.png", "application/pdf", "type_mismatch"),    # the declared type lies
    (b"MZ\x90\x00" + b"\x00" * 100, "photo.jpg", "image/jpeg", "unsupported_type"),
    (b"GIF89a" + b"\x00" * 20, "a.gif", "image/gif", "unsupported_type"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "photo.jpg", "image/jpeg", "bad_image"),   # JPEG magic, no JPEG
    (b"", "empty.pdf", "application/pdf", "empty"),
])
def test_content_that_is_not_what_it_says_is_refused_and_nothing_stored(app_client, data, name, mimetype, code):
    cid = new_case(app_client)
    r = upload(app_client, cid, data, name=name, mimetype=mimetype)
    assert r.status_code == 422, r.get_json()
    err = r.get_json()["error"]
    assert (err["code"], err["field"]) == (code, "file")
    assert " / " in err["message"]                       # Chinese first, then English
    assert stored(app_client.node) == (0, [])


def test_missing_file_field(app_client):
    cid = new_case(app_client)
    r = upload(app_client, cid, PDF, name="a.pdf", mimetype="application/pdf", field="other")
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "file"


def test_oversized_refused_413_with_nothing_stored(app_client):
    node = app_client.node
    limit(node, max_bytes=2000)
    cid = new_case(app_client)
    for size in (2001, 3 * 1024 * 1024):       # just over (read up to the limit), and over the request limit
        data = b"%PDF-1.4\n" + b"0" * (size - 9)
        r = upload(app_client, cid, data, name="big.pdf", mimetype="application/pdf")
        assert r.status_code == 413, (size, r.status_code)
        assert r.get_json()["error"]["field"] == "file" and "2000" in r.get_json()["error"]["message"]
        assert stored(node) == (0, [])
        assert not (node.config.home_path / "evidence").exists() or not any(
            p.is_file() for p in (node.config.home_path / "evidence").rglob("*"))
    ok = upload(app_client, cid, b"%PDF-1.4\n" + b"0" * (2000 - 9), name="fits.pdf", mimetype="application/pdf")
    assert ok.status_code == 201


def test_an_upload_over_the_staff_api_body_limit_is_accepted_when_within_evidence_max_bytes(app_client):
    cid = new_case(app_client)
    data = b"%PDF-1.7\n" + b"1" * (2 * 1024 * 1024)       # 2 MiB: over the API's 1 MiB, under 10 MiB
    r = upload(app_client, cid, data, name="合同.pdf", mimetype="application/pdf")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["size"] == len(data)


def test_same_bytes_twice_is_one_record_and_two_cases_share_one_blob(app_client):
    a, b = new_case(app_client), new_case(app_client)
    first = upload(app_client, a, RECEIPT, name="收据.txt", mimetype="text/plain")
    again = upload(app_client, a, RECEIPT, name="收据-副本.txt", mimetype="text/plain")
    other = upload(app_client, b, RECEIPT, name="receipt.txt", mimetype="")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.get_json() == again.get_json()
    rows, blobs = stored(app_client.node)
    assert rows == 2 and len(blobs) == 1
    got = app_client.get(f"{CASES}/{b}/evidence/{first.get_json()['sha256']}")
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8" and got.get_data() == RECEIPT


def test_files_per_case_are_limited(app_client):
    limit(app_client.node, max_files_per_case=2)
    cid = new_case(app_client)
    for n in range(2):
        r = upload(app_client, cid, plain_png(colour=(n, 0, 0)), name=f"{n}.png", mimetype="image/png")
        assert r.status_code == 201
    r = upload(app_client, cid, plain_png(colour=(9, 0, 0)), name="third.png", mimetype="image/png")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "too_many_files"
    assert stored(app_client.node)[0] == 2 and len(stored(app_client.node)[1]) == 2


@pytest.mark.parametrize("role", ["supervisor", "leader", "analyst"])
def test_roles_that_may_not_upload(app_client, role):
    cid = new_case(app_client)
    r = upload(app_client, cid, PDF, name="a.pdf", mimetype="application/pdf", role=role)
    assert r.status_code == 403
    assert stored(app_client.node) == (0, [])


def test_unknown_case_and_unknown_attachment(app_client):
    assert upload(app_client, "440305-20260929-999999", PDF, name="a.pdf",
                  mimetype="application/pdf").status_code == 404
    cid = new_case(app_client)
    assert app_client.get(f"{CASES}/{cid}/evidence/{'0' * 64}").status_code == 404
    assert app_client.get(f"{CASES}/{cid}/evidence/not-a-sha").status_code == 404
    assert app_client.get(f"{CASES}/{cid}/evidence", role=None).status_code == 401


def test_staff_report_evidence_is_for_discipline_only(app_client):
    # a report against the staff of Bao'an (440306) taken at Nanshan: the discipline unit above
    # is not linked, so Nanshan keeps it (not the accused unit); discipline attaches evidence
    cid = new_case(app_client, staff_report(respondent={"name": "某市场监管所工作人员", "region_code": "440306"}))
    assert upload(app_client, cid, PDF, name="a.pdf", mimetype="application/pdf", role="intake").status_code == 404
    r = upload(app_client, cid, PDF, name="录音整理.pdf", mimetype="application/pdf", role="discipline")
    assert r.status_code == 201, r.get_json()
    sha = r.get_json()["sha256"]
    for role in ("handler", "admin", "leader", "intake"):
        assert app_client.get(f"{CASES}/{cid}/evidence/{sha}", role=role).status_code == 404, role
        assert app_client.get(f"{CASES}/{cid}/evidence", role=role).status_code == 404, role
    assert app_client.get(f"{CASES}/{cid}/evidence/{sha}", role="discipline").get_data() == PDF
    # ... and discipline attaches to staff reports only
    other = new_case(app_client)
    r = upload(app_client, other, PDF, name="b.pdf", mimetype="application/pdf", role="discipline")
    assert r.status_code == 403


def test_the_accused_unit_holds_no_evidence_of_a_report_against_its_staff(app_client):
    cid = new_case(app_client, staff_report())        # against Nanshan's own staff, taken at Nanshan
    r = upload(app_client, cid, PDF, name="a.pdf", mimetype="application/pdf", role="discipline")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "accused_unit"
    assert stored(app_client.node) == (0, [])


def test_an_upload_marks_this_node_as_holder_and_queues_nothing_without_links(app_client):
    cid = new_case(app_client)
    sha = upload(app_client, cid, PDF, name="a.pdf", mimetype="application/pdf").get_json()["sha256"]
    with app_client.node.activate():
        assert [h.node for h in EvidenceHolder.select().where(EvidenceHolder.sha256 == sha)] == ["440305"]
        from replication.models import OutboxEntry
        assert OutboxEntry.select().where(OutboxEntry.channel == "evidence").count() == 0


def test_a_store_from_before_evidence_gains_its_tables(make_node, tmp_path):
    from node import db as node_db
    from node import migrations
    from node.evidence.models import MODELS
    from node.home import open_node
    node = make_node(tmp_path, level="county", code="440305")
    home = node.config.home
    with node.activate():
        node.db.drop_tables(MODELS)
        node.db.execute_sql("DELETE FROM schema_version WHERE version = 4")
    node.close()
    reopened = open_node(home)
    try:
        assert {"evidence", "evidence_holder", "evidence_blob_link", "evidence_chunk"} <= set(reopened.db.get_tables())
        with reopened.db.bind_ctx([node_db.SchemaVersion]):
            assert 4 in [r.version for r in node_db.SchemaVersion.select()]
        assert migrations.migrate(reopened.db) == migrations.MIGRATIONS[-1][0]
    finally:
        reopened.close()
