"""What an outside tester found against a serving county node (issue 13 "Found from outside",
item 8's classic inputs): each probe now gets a clear 4xx naming the field, and what the node
writes for others (Atom, CAP XML, headers) stays well-formed. Every test runs on SQLite and on
PostgreSQL (``app_client`` / ``make_node`` are parametrized by backend)."""
from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest

from node.directives import cap
from tests.node.cases.examples import complaint

CASES = "/api/v1/cases"
DIRECTIVE = {"title": "食物中毒应急处置", "body": "请立即赶赴现场处置。", "severity": "severe", "urgency": "immediate",
             "category": "food_safety", "targets": ["440305001"], "ack_within_minutes": 30}


def _error(resp, status: int, field: str | None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:400]
    err = resp.get_json()["error"]
    assert err["field"] == field, err
    return err


def _seed(app_client, n: int = 3) -> list[str]:
    ids = []
    for i in range(n):
        r = app_client.post(CASES, complaint(summary=f"第{i}号投诉：冰箱不制冷"))
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    return ids


# -- 1. cursors: opaque, signed, tied to their query ------------------------------------------------
def _first_cursor(app_client, query: str = "") -> str:
    doc = app_client.get(f"{CASES}?limit=1{query}").get_json()
    assert doc["next_cursor"], doc
    return doc["next_cursor"]


def test_a_cursor_still_pages_through_every_case(app_client):
    ids = _seed(app_client)
    seen, cursor = [], ""
    for _ in range(5):
        doc = app_client.get(f"{CASES}?limit=1&cursor={cursor}").get_json()
        seen += [c["id"] for c in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize("forge", [
    # the old unsigned form with a number no database column holds (was a 500: OverflowError)
    lambda good: base64.urlsafe_b64encode(json.dumps({"pk": 10 ** 30}).encode()).decode().rstrip("="),
    lambda good: base64.urlsafe_b64encode(json.dumps({"pk": 1}).encode()).decode().rstrip("="),
    lambda good: good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),      # signature changed
    lambda good: "A" + good[1:] if good[0] != "A" else "B" + good[1:],   # position changed
    lambda good: good + ".x",
    lambda good: "9" * 5000,
], ids=["huge-int", "unsigned", "bad-signature", "tampered-body", "extra-part", "long-digits"])
def test_a_forged_cursor_is_a_400_naming_cursor(app_client, forge):
    _seed(app_client)
    good = _first_cursor(app_client)
    resp = app_client.get(f"{CASES}?limit=1&cursor={forge(good)}")
    err = _error(resp, 400, "cursor")
    assert len(resp.data) < 1000 and "9999" not in err["message"]


def test_a_cursor_of_another_query_is_refused(app_client):
    _seed(app_client)
    cursor = _first_cursor(app_client, "&kind=complaint")
    assert app_client.get(f"{CASES}?limit=1&kind=complaint&cursor={cursor}").status_code == 200
    _error(app_client.get(f"{CASES}?limit=1&cursor={cursor}"), 400, "cursor")
    _error(app_client.get(f"{CASES}?limit=1&kind=complaint&q=冰箱&cursor={cursor}"), 400, "cursor")


def test_a_cursor_of_another_node_is_refused(app_client, tmp_path, make_node, clock):
    from tests.conftest import ApiClient
    _seed(app_client)
    cursor = _first_cursor(app_client)
    other = ApiClient(make_node(tmp_path / "other", "county", "440306"), clock)
    _seed(other)
    _error(other.get(f"{CASES}?limit=1&cursor={cursor}"), 400, "cursor")


def test_a_desk_order_cursor_is_signed_too(app_client):
    from node.cases import search
    from node.errors import NodeError
    _seed(app_client)
    node = app_client.node
    actor = type("Actor", (), {"role": "admin", "login": "t"})()
    with node.activate():
        page = search.search_cases(node, {}, actor, sort="received", limit=1)
        nxt = search.search_cases(node, {}, actor, sort="received", limit=1, cursor=page["next_cursor"])
        assert nxt["items"][0]["id"] != page["items"][0]["id"]
        forged = base64.urlsafe_b64encode(json.dumps(
            {"sort": "received", "seg": 0, "key": ["2026-09-29", "2026-09-29T02:00:00+00:00"],
             "pk": 2 ** 70}).encode()).decode().rstrip("=")
        for bad in (forged, page["next_cursor"][:-1]):
            with pytest.raises(NodeError) as exc:
                search.search_cases(node, {}, actor, sort="received", limit=1, cursor=bad)
            assert exc.value.status == 400 and exc.value.field == "cursor"
        with pytest.raises(NodeError) as exc:      # a cursor of one order is refused by another
            search.search_cases(node, {}, actor, sort="urgency", limit=1, cursor=page["next_cursor"])
        assert exc.value.field == "cursor"


# -- 2. control characters in warnings and directives; XML that always parses -----------------------
@pytest.mark.parametrize("field, value", [
    ("title", "警惕\x00低价旅游"), ("title", "警惕\x1b[31m低价"), ("title", "两行\n标题"),
    ("body", "正文\x07响铃"), ("body", "正文\x0c换页"), ("body", "\x7f"), ("body", "正文\u202e反转"),
])
def test_control_characters_in_a_warning_are_refused(app_client, field, value):
    payload = {"title": "警惕低价旅游", "body": "……", field: value}
    before = app_client.count_rows()
    _error(app_client.post("/api/v1/warnings", json=payload, role="leader"), 422, field)
    assert app_client.count_rows() == before


def test_newlines_and_tabs_in_a_body_are_kept(app_client):
    resp = app_client.post("/api/v1/warnings", json={"title": "警惕低价旅游", "body": "第一段\r\n\t第二段\n"},
                           role="leader")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["body"] == "第一段\n\t第二段"


@pytest.mark.parametrize("field, value", [("title", "指令\x00"), ("body", "请\x08处置"), ("title", "a\x85b")])
def test_control_characters_in_a_directive_are_refused(app_client, field, value):
    _error(app_client.post("/api/v1/directives", json={**DIRECTIVE, field: value}, role="leader"), 422, field)


def test_a_withdrawal_reason_with_a_nul_is_refused(app_client):
    wid = app_client.post("/api/v1/warnings", json={"title": "警惕", "body": "……"}, role="leader").get_json()["id"]
    _error(app_client.post(f"/api/v1/warnings/{wid}/withdraw", json={"reason": "误发\x00"}, role="leader"),
           422, "reason")


def test_feeds_parse_even_when_a_stored_warning_holds_control_characters(app_client):
    """A warning from above is stored as it arrived; the writers must still emit XML."""
    from node.directives.models import PublicWarning
    wid = app_client.post("/api/v1/warnings", json={"title": "警惕", "body": "……"}, role="leader").get_json()["id"]
    with app_client.node.activate():
        (PublicWarning.update(title="坏\x01标题\x1f", body="坏\x0b正文\ufffe")
         .where(PublicWarning.warning_id == wid).execute())
    atom = app_client.get("/public/v1/warnings.atom", role=None)
    assert atom.status_code == 200
    root = ET.fromstring(atom.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert root.find("a:entry/a:title", ns).text.endswith("坏标题")
    capxml = app_client.get(f"/cap/v1/warnings/{wid}.xml", role=None)
    assert capxml.status_code == 200
    cap.validate(capxml.data)


def test_the_cap_writer_drops_characters_xml_cannot_hold():
    assert cap.xml_safe("a\x00b\x01c\td\ne\rf\ufffeg\U0001F600") == "abc\td\ne\rfg\U0001F600"


# -- 3. error messages echo at most a short piece of the bad value ----------------------------------
HUGE = "9" * 300_000


@pytest.mark.parametrize("method, path, role, body", [
    ("post", CASES, "intake", complaint(amount=HUGE)),
    ("post", CASES, "intake", complaint(received_at=HUGE)),
    ("post", CASES, "intake", {**complaint(), "x" * 300_000: 1}),
    ("post", CASES, "intake", complaint(category=HUGE)),
    ("post", CASES, "intake", complaint(channel=HUGE)),
    ("post", "/api/v1/directives", "leader", {**DIRECTIVE, "severity": HUGE}),
    ("post", "/api/v1/directives", "leader", {**DIRECTIVE, "targets": [HUGE]}),
    ("post", "/api/v1/warnings", "leader", {"title": "t", "body": "b", "kind": HUGE}),
    ("get", f"/api/v1/stats?from={HUGE[:60_000]}", "analyst", None),
    ("get", f"{CASES}?status={HUGE[:60_000]}", "handler", None),
    ("get", f"{CASES}?{'z' * 60_000}=1", "handler", None),
])
def test_a_huge_bad_value_gives_a_short_reply(app_client, method, path, role, body):
    if method == "post":
        resp = app_client.post(path, json=body, role=role)
    else:
        resp = app_client.get(path, role=role)
    assert 400 <= resp.status_code < 500, resp.status_code
    assert len(resp.data) < 2_000, resp.get_data(as_text=True)[:300]


def test_an_echoed_value_is_cut_with_an_ellipsis(app_client):
    err = _error(app_client.post(CASES, complaint(amount="x" * 100)), 422, "amount")
    assert "x" * 40 + "…" in err["message"] and "x" * 41 not in err["message"]


# -- 4. money exactly; bidi and zero-width characters ----------------------------------------------
@pytest.mark.parametrize("amount", [" 12", "12.00\n", "12 ", "\t12.5", "12.00\r", "+12", "1_000", "１２"])
def test_money_must_be_exact(app_client, amount):
    before = app_client.count_rows()
    _error(app_client.post(CASES, complaint(amount=amount)), 422, "amount")
    assert app_client.count_rows() == before


@pytest.mark.parametrize("where, field", [
    ({"summary": "冰箱\u202e不制冷"}, "summary"),
    ({"summary": "冰箱\u200b不制冷"}, "summary"),
    ({"description": "\u2066隔离\u2069"}, "description"),
    ({"complainant": {"name": "张\u202a三", "phone": "13800000000", "address": "深圳", "anonymous": False}},
     "complainant.name"),
    ({"respondent": {"name": "某某\ufeff公司", "region_code": "440305"}}, "respondent.name"),
])
def test_bidi_and_zero_width_characters_are_refused(app_client, where, field):
    err = _error(app_client.post(CASES, complaint(**where)), 422, field)
    assert "U+" in err["message"]


# -- 5. JSON endpoints take JSON only --------------------------------------------------------------
@pytest.mark.parametrize("path, role, content_type", [
    (CASES, "intake", "text/plain"), (CASES, "intake", None), (CASES, "intake", "application/x-www-form-urlencoded"),
    ("/api/v1/directives", "leader", "text/plain"), ("/api/v1/warnings", "leader", "text/plain;charset=utf-8"),
    ("/federation/v1/join", None, "text/plain"),
])
def test_a_body_that_is_not_declared_json_is_a_415(app_client, path, role, content_type):
    body = json.dumps(complaint() if path == CASES else DIRECTIVE).encode()
    headers = app_client.headers(role)
    if content_type:
        headers["Content-Type"] = content_type
    before = app_client.count_rows()
    resp = app_client.client.post(path, data=body, headers=headers)
    assert resp.status_code == 415, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == "unsupported_media_type"
    assert app_client.count_rows() == before


def test_json_with_a_charset_is_accepted(app_client):
    resp = app_client.client.post(CASES, data=json.dumps(complaint()).encode(),
                                  headers={**app_client.headers("intake"),
                                           "Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 201


# -- 6. one parser for limit ----------------------------------------------------------------------
LISTS = [(CASES, "handler"), ("/api/v1/directives", "leader"), ("/public/v1/warnings", None),
         ("/public/v1/warnings.atom", None), ("/api/v1/stats/rejections", "analyst")]


@pytest.mark.parametrize("path, role", LISTS)
@pytest.mark.parametrize("limit", ["-1", "0", "ten", "1.5", " 5", "99999999999999999999", "9" * 5000])
def test_a_bad_limit_is_a_400_on_every_list(app_client, path, role, limit):
    _error(app_client.get(f"{path}?limit={limit}", role=role), 400, "limit")


@pytest.mark.parametrize("path, role", LISTS)
def test_a_good_limit_is_taken_and_more_than_the_most_is_cut(app_client, path, role):
    for limit in ("1", "200", "500", ""):
        assert app_client.get(f"{path}?limit={limit}", role=role).status_code == 200, limit


# -- 7. the 413 states the limit of the path ---------------------------------------------------------
def test_the_join_413_names_its_own_limit(app_client):
    config = app_client.node.config
    limit = config.replication.max_batch_bytes + 256 * 1024
    resp = app_client.client.post("/federation/v1/join", data=b"x" * (limit + 1),
                                  headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    msg = resp.get_json()["error"]["message"]
    assert f"{limit:,}" in msg and "1 MiB" not in msg
    resp = app_client.client.post(CASES, data=b"x" * (config.max_body_bytes + 1),
                                  headers={**app_client.headers("intake"), "Content-Type": "application/json"})
    assert resp.status_code == 413 and f"{config.max_body_bytes:,}" in resp.get_json()["error"]["message"]


# -- 9. security headers ------------------------------------------------------------------------------
def test_an_authenticated_api_reply_is_not_stored_nor_sniffed(app_client):
    for resp in (app_client.get(CASES), app_client.get(f"{CASES}/nope"), app_client.get("/api/v1/stats", role="analyst")):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in resp.headers["Cache-Control"]
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/health", "/api/v1/categories", "/public/v1/warnings",
                                  "/public/v1/warnings.atom", "/no/such/path", "/openapi.json"])
def test_every_reply_carries_nosniff(app_client, path):
    resp = app_client.client.get(path)
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", (path, resp.status_code)


@pytest.mark.parametrize("path", ["/desk/login", "/public/", "/public/warnings"])
def test_pages_carry_csp_referrer_policy_and_no_store(app_client, path):
    resp = app_client.client.get(path)
    assert resp.status_code == 200, path
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


# -- 10. full-width digits in a phone ----------------------------------------------------------------
def test_full_width_digits_in_a_phone_are_refused_with_a_clear_message(app_client):
    body = complaint(complainant={"name": "张三", "phone": "１３８００００００００", "address": "深圳", "anonymous": False})
    err = _error(app_client.post(CASES, body), 422, "complainant.phone")
    assert "全角" in err["message"] and "half-width" in err["message"]


# -- 11. q is taken literally -------------------------------------------------------------------------
@pytest.mark.parametrize("q", ['"', '""', '"冰箱', "冰箱*", "*", "NEAR", "冰箱 NEAR 制冷", "NEAR(冰箱 制冷)",
                               "%", "_", "%冰%", "冰_", "\\", "'", "a OR b", "冰箱 AND NOT 制冷", "^冰箱",
                               "summary:冰箱", "(冰箱", "-冰箱", "{冰箱}", "冰箱\\%"])
def test_search_operators_and_wildcards_are_literal(app_client, q):
    _seed(app_client, 1)
    resp = app_client.get(CASES, query_string={"q": q})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["items"] == []


@pytest.mark.parametrize("q", ["50%", "a_b", '说"好"的', "NEAR", "买*送", "x OR y"])
def test_search_finds_operators_as_text(app_client, q):
    _seed(app_client, 1)
    want = app_client.post(CASES, complaint(summary=f"宣传{q}活动")).get_json()["id"]
    app_client.post(CASES, complaint(summary="宣传500活动 ab a b xy"))
    got = [c["id"] for c in app_client.get(CASES, query_string={"q": q}).get_json()["items"]]
    assert got == [want]
