"""The evidence section of the desk (issue 11 item 5): the fragment the case page loads with
htmx and the whole page a browser without JS gets, upload through the form (CSRF-checked),
errors beside the field, file names shown as text, download with the desk session."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re

import pytest

from node.evidence import store
from node.evidence.models import Evidence
from tests.node.cases.examples import complaint, staff_report
from tests.node.desk.conftest import Desk
from tests.node.evidence.images import PDF, has_metadata, jpeg_with_gps, plain_png

HTMX = {"HX-Request": "true"}
XSS_NAME = "<img src=x onerror=alert(1)>.png"


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


def new_case(desk: Desk, body=None, login: str = "intake1", role: str = "intake") -> str:
    token = desk.user(login, role)
    r = desk.client.post("/api/v1/cases", json=body or complaint(), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def signed_in(desk: Desk, login: str, role: str) -> Desk:
    try:
        desk.user(login, role)
    except Exception:   # noqa: BLE001 - made already by new_case
        pass
    assert desk.sign_in(login).status_code == 302
    return desk


def form(data: bytes, name: str, mimetype: str) -> dict:
    return {"file": (io.BytesIO(data), name, mimetype)}


def stored(desk: Desk) -> tuple[int, int]:
    with desk.node.activate():
        return Evidence.select().count(), len(store.blob_files(desk.node))


def test_the_fragment_lists_size_and_sha256_and_shows_the_file_name_as_text(desk):
    cid = new_case(desk)
    signed_in(desk, "intake1", "intake")
    desk.get(f"/desk/cases/{cid}/evidence")                       # the form's CSRF token
    data = plain_png((8, 8), (1, 2, 3))
    r = desk.post(f"/desk/cases/{cid}/evidence", form(data, XSS_NAME, "image/png"), headers=HTMX)
    assert r.status_code == 200
    with desk.node.activate():
        ev = Evidence.get()
    fragment = desk.text(desk.get(f"/desk/cases/{cid}/evidence", headers=HTMX))
    assert 'id="evidence-attachments"' in fragment and "<html" not in fragment
    assert "<img src=x" not in fragment
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in fragment
    row = re.search(r'<tr id="evidence-[0-9a-f]{16}">(.*?)</tr>', fragment, re.S).group(1)
    assert "<wbr>".join(ev.sha256[i:i + 16] for i in range(0, 64, 16)) in row      # the whole SHA-256
    assert re.search(rf'data-bytes="{ev.size}"', row) and f"{ev.size}" in row
    assert f'href="/desk/cases/{cid}/evidence/{ev.sha256}"' in row
    assert 'name="csrf_token"' in fragment and 'enctype="multipart/form-data"' in fragment
    assert 'hx-post="/desk/cases/' in fragment


def test_without_htmx_the_same_url_is_a_whole_page(desk):
    cid = new_case(desk)
    signed_in(desk, "handler1", "handler")
    page = desk.text(desk.get(f"/desk/cases/{cid}/evidence"))
    assert page.startswith("<!doctype html>") and '<html lang="zh-CN">' in page
    assert 'id="evidence-attachments"' in page and f'href="/desk/cases/{cid}"' in page
    assert "尚无证据附件" in page                                    # Chinese by default


def test_upload_without_js_redirects_to_the_page_and_the_photo_has_no_gps(desk):
    cid = new_case(desk)
    signed_in(desk, "intake1", "intake")
    desk.get(f"/desk/cases/{cid}/evidence")
    r = desk.post(f"/desk/cases/{cid}/evidence", form(jpeg_with_gps(), "门店.jpg", "image/jpeg"))
    assert r.status_code == 303
    with desk.node.activate():
        ev = Evidence.get()
    assert r.headers["Location"] == f"/desk/cases/{cid}/evidence?added={ev.sha256}"
    page = desk.text(desk.get(r.headers["Location"]))
    assert "已附加：门店.jpg" in page
    got = desk.get(f"/desk/cases/{cid}/evidence/{ev.sha256}")
    assert got.status_code == 200 and got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert hashlib.sha256(got.get_data()).hexdigest() == ev.sha256 and has_metadata(got.get_data()) == []


def test_upload_without_csrf_token_is_refused_and_nothing_stored(desk):
    cid = new_case(desk)
    signed_in(desk, "intake1", "intake")
    for token in (None, "forged"):
        data = form(PDF, "a.pdf", "application/pdf")
        if token:
            data["csrf_token"] = token
        r = desk.post(f"/desk/cases/{cid}/evidence", data, csrf=False)
        assert r.status_code == 400, token
        assert "表单已过期" in desk.text(r)
    assert stored(desk) == (0, 0)


def test_a_file_that_is_not_what_its_name_says_is_refused_beside_the_field(desk):
    cid = new_case(desk)
    signed_in(desk, "intake1", "intake")
    desk.get(f"/desk/cases/{cid}/evidence")
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "photo.jpg", "image/jpeg"))
    assert r.status_code == 422
    page = desk.text(r)
    assert re.search(r'<p class="error" id="e-file" role="alert">[^<]*与文件名', page)
    assert 'aria-invalid="true"' in page
    # through htmx: 200, so that htmx swaps the fragment with the error in
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "photo.jpg", "image/jpeg"), headers=HTMX)
    assert r.status_code == 200 and 'id="e-file"' in desk.text(r) and "<html" not in desk.text(r)
    assert stored(desk) == (0, 0)


def test_an_oversized_file_is_refused_with_nothing_stored(desk):
    node = desk.node
    node.config = dataclasses.replace(node.config, evidence=dataclasses.replace(node.config.evidence, max_bytes=1000))
    cid = new_case(desk)
    signed_in(desk, "intake1", "intake")
    desk.get(f"/desk/cases/{cid}/evidence")
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF + b"0" * 1000, "big.pdf", "application/pdf"))
    assert r.status_code == 413 and "1000" in desk.text(r) and 'id="e-file"' in desk.text(r)
    # a body over the request limit is refused before the page runs (the CSRF check reads the form)
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF + b"0" * (2 * 1024 * 1024), "huge.pdf", "application/pdf"))
    assert r.status_code == 413 and "1000" in desk.text(r)
    assert stored(desk) == (0, 0)


def test_roles_that_may_not_upload_see_no_form_and_are_refused(desk):
    cid = new_case(desk)
    signed_in(desk, "analyst1", "analyst")
    page = desk.text(desk.get(f"/desk/cases/{cid}/evidence"))
    assert 'id="upload-evidence"' not in page and "尚无证据附件" in page
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "a.pdf", "application/pdf"))
    assert r.status_code == 403
    desk.post("/desk/logout", {})
    signed_in(desk, "discipline1", "discipline")               # reads every case, attaches to staff reports only
    assert 'id="upload-evidence"' not in desk.text(desk.get(f"/desk/cases/{cid}/evidence"))
    assert desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "a.pdf", "application/pdf")).status_code == 403
    assert stored(desk) == (0, 0)


def test_the_unit_accused_by_a_staff_report_is_offered_no_upload(desk):
    cid = new_case(desk, staff_report())
    signed_in(desk, "discipline1", "discipline")
    page = desk.text(desk.get(f"/desk/cases/{cid}/evidence"))
    assert 'id="upload-evidence"' not in page and 'id="evidence-empty"' in page
    r = desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "a.pdf", "application/pdf"))
    assert r.status_code == 409 and "被举报单位" in desk.text(r)
    assert stored(desk) == (0, 0)


def test_a_staff_report_is_not_found_for_a_handler_on_the_desk(desk):
    cid = new_case(desk, staff_report(respondent={"name": "某所工作人员", "region_code": "440306"}))
    signed_in(desk, "discipline1", "discipline")
    desk.get(f"/desk/cases/{cid}/evidence")
    assert desk.post(f"/desk/cases/{cid}/evidence", form(PDF, "a.pdf", "application/pdf")).status_code == 303
    sha = hashlib.sha256(PDF).hexdigest()
    assert desk.get(f"/desk/cases/{cid}/evidence/{sha}").get_data() == PDF
    desk.post("/desk/logout", {})
    signed_in(desk, "handler1", "handler")
    assert desk.get(f"/desk/cases/{cid}/evidence").status_code == 404
    assert desk.get(f"/desk/cases/{cid}/evidence/{sha}").status_code == 404


def test_without_a_session_the_page_asks_to_sign_in(desk):
    cid = new_case(desk)
    r = desk.get(f"/desk/cases/{cid}/evidence")
    assert r.status_code == 302 and r.headers["Location"].startswith("/desk/login")
