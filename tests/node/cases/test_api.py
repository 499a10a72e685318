"""The case HTTP API (CONTRACT §4, §5): status codes, the one error shape, nothing stored on error.

Runs on SQLite and PostgreSQL (``app_client`` builds its node through ``make_node``).
"""
from __future__ import annotations

import json
from datetime import UTC

import pytest

from tests.node.cases.examples import complaint, consultation, staff_report
from tests.node.cases.test_lifecycle import CONTRACT_FORMS, contract_state

CASES = "/api/v1/cases"


def _without(body: dict, dotted: str) -> dict:
    *parents, last = dotted.split(".")
    target = body
    for p in parents:
        target = target[p]
    del target[last]
    return body


def _with(body: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    target = body
    for p in parents:
        target = target[p]
    target[last] = value
    return body


def assert_error(resp, status: int, code: str | None = None, field: str | None = None,
                 says: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert list(doc) == ["error"] and sorted(doc["error"]) == ["code", "field", "message"]
    if code is not None:
        assert doc["error"]["code"] == code, doc
    if field is not None:
        assert doc["error"]["field"] == field, doc
    if says is not None:
        assert says in doc["error"]["message"], doc
    return doc["error"]


def test_acceptance_example(app_client):
    r = app_client.post(CASES, complaint())
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    assert case["id"] == "440305-20260929-000001"
    assert r.headers["Location"] == f"{CASES}/{case['id']}"
    assert case["deadlines"]["accept_by"] == "2026-10-14"
    assert case["deadlines"]["conclude_by"] is None
    assert case["status"] == "registered" and case["received_at"] == "2026-09-29T10:00:00+08:00"
    assert case["amount"] == "1299.00"
    got = app_client.get(f"{CASES}/{case['id']}", role="analyst")
    # the same case, the complainant masked: an analyst is not its handler (issue 13 item 3)
    shown = got.get_json()
    assert got.status_code == 200 and {**shown, "complainant": None} == {**case, "complainant": None}
    assert shown["complainant"] == {"name": "张**", "phone": "138****0000", "address": "深圳市南山区***",
                                    "anonymous": False, "masked": True}


# Every bad input the issue lists: (what, body-maker, status, code, field, part of the message).
BAD_INPUTS = [
    ("missing kind", lambda: _without(complaint(), "kind"), 422, "required", "kind", "kind"),
    ("missing channel", lambda: _without(complaint(), "channel"), 422, "required", "channel", None),
    ("missing summary", lambda: _without(complaint(), "summary"), 422, "required", "summary", None),
    ("missing category", lambda: _without(complaint(), "category"), 422, "required", "category", None),
    ("missing region", lambda: _without(complaint(), "respondent.region_code"), 422, "required",
     "respondent.region_code", None),
    ("missing complainant phone", lambda: _without(complaint(), "complainant.phone"), 422, "required",
     "complainant.phone", "Order 20 Art. 9"),
    ("unknown field", lambda: complaint(colour="red"), 422, "unknown_field", "colour", "colour"),
    ("unknown nested field", lambda: _with(complaint(), "respondent.legal_rep", "李四"), 422,
     "unknown_field", "respondent.legal_rep", None),
    ("server field", lambda: complaint(status="closed"), 422, "unknown_field", "status", None),
    ("wrong kind", lambda: complaint(kind="question"), 422, "invalid_enum", "kind", "consultation"),
    ("wrong channel", lambda: complaint(channel="fax"), 422, "invalid_enum", "channel", None),
    ("wrong urgency", lambda: complaint(urgency="high"), 422, "invalid_enum", "urgency", None),
    ("wrong report target", lambda: complaint(kind="report", report_target="police"), 422,
     "invalid_enum", "report_target", None),
    ("bad USCC check digit", lambda: _with(complaint(), "respondent.uscc", "914403001922038217"),
     422, "invalid", "respondent.uscc", "校验位"),
    ("USCC with I", lambda: _with(complaint(), "respondent.uscc", "91440300192203821I"),
     422, "invalid", "respondent.uscc", None),
    ("unknown region", lambda: _with(complaint(), "respondent.region_code", "449999"), 422,
     "unknown_division", "respondent.region_code", None),
    ("retired region", lambda: _with(complaint(), "respondent.region_code", "110103"), 422,
     "retired_division", "respondent.region_code", "110101"),
    ("unknown category", lambda: complaint(category="Z99"), 422, "unknown_category", "category", None),
    ("negative amount", lambda: complaint(amount="-1.00"), 422, "invalid", "amount", "负"),
    ("three decimals", lambda: complaint(amount="12.345"), 422, "invalid", "amount", None),
    ("malformed amount", lambda: complaint(amount="一千元"), 422, "invalid", "amount", None),
    ("float amount", lambda: complaint(amount=1299.0), 422, "money_not_string", "amount", "JSON"),
    ("integer amount", lambda: complaint(amount=1299), 422, "money_not_string", "amount", None),
    ("control character", lambda: complaint(summary="冰箱\x07不制冷"), 422, "invalid", "summary",
     "U+0007"),
    ("50k characters", lambda: complaint(description="很" * 50_000), 422, "too_long", "description",
     None),
    ("future received_at", lambda: complaint(received_at="2027-01-01T10:00:00+08:00"), 422,
     "invalid", "received_at", None),
    ("naive received_at", lambda: complaint(received_at="2026-09-29T10:00:00"), 422, "invalid",
     "received_at", None),
    ("anonymous complaint", lambda: _with(complaint(), "complainant.anonymous", True), 422, "invalid",
     "complainant.anonymous", None),
    ("extension of another province", lambda: complaint(extensions={"zj_x": "1"}), 422,
     "unknown_field", "extensions.zj_x", None),
    ("two-track on a consultation", lambda: consultation(also_report=True), 422, "invalid",
     "also_report", None),
    ("two-track not a boolean", lambda: complaint(also_report="yes"), 422, "invalid", "also_report",
     None),
]


@pytest.mark.parametrize("what, make, status, code, field, says", BAD_INPUTS,
                         ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_and_nothing_stored(app_client, what, make, status, code, field, says):
    before = app_client.count_rows()
    r = app_client.post(CASES, make())
    assert_error(r, status, code, field, says)
    assert app_client.count_rows() == before


@pytest.mark.parametrize("raw, says", [
    (b'{"kind": "complaint",', "JSON"),
    (b"[1, 2]", "JSON"),
    (b"", "JSON"),
    (b"\xff\xfe", "JSON"),
])
def test_malformed_body_is_400(app_client, raw, says):
    before = app_client.count_rows()
    r = app_client.post(CASES, data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "malformed", None, says)
    assert app_client.count_rows() == before


def test_body_over_one_mib_is_413(app_client):
    before = app_client.count_rows()
    body = json.dumps(complaint(description="x" * (1024 * 1024))).encode()
    r = app_client.post(CASES, data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large")
    assert app_client.count_rows() == before


def test_no_token_bad_token_wrong_role(app_client):
    before = app_client.count_rows()
    assert_error(app_client.post(CASES, complaint(), role=None), 401, "unauthenticated")
    r = app_client.client.post(CASES, json=complaint(), headers={"Authorization": "Bearer nope"})
    assert_error(r, 401, "unauthenticated")
    assert_error(app_client.post(CASES, complaint(), role="analyst"), 403, "forbidden")
    assert_error(app_client.post(CASES, complaint(), role="leader"), 403, "forbidden")
    assert_error(app_client.get(CASES, role=None), 401)
    assert app_client.count_rows() == before


def test_actions_over_http(app_client):
    cid = app_client.post(CASES, complaint()).get_json()["id"]
    url = f"{CASES}/{cid}/actions"
    r = app_client.post(url, {"action": "accept", "mode": "mediation"}, role="handler")
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    before = app_client.count_rows()
    # illegal transition → 409 naming status and allowed actions
    err = assert_error(app_client.post(url, {"action": "accept"}, role="handler"), 409,
                       "illegal_transition", "action")
    assert "accepted" in err["message"] and "mediate" in err["message"]
    # a role that may not act → 403; no token → 401
    assert_error(app_client.post(url, {"action": "mediate"}, role="supervisor"), 403, "forbidden")
    assert_error(app_client.post(url, {"action": "mediate"}, role="intake"), 403, "forbidden")
    assert_error(app_client.post(url, {"action": "mediate"}, role=None), 401)
    # strict payloads
    assert_error(app_client.post(url, {"action": "mediate", "when": "now"}, role="handler"), 422,
                 "unknown_field", "when")
    assert_error(app_client.post(url, {"action": "dance"}, role="handler"), 422, "invalid_enum", "action")
    assert_error(app_client.post(url, {"action": "conclude", "outcome": "mediated",
                                       "amount_recovered": 10.5}, role="handler"),
                 422, "money_not_string", "amount_recovered")
    assert_error(app_client.post(url, data=b"{", headers={"Content-Type": "application/json"},
                                 role="handler"), 400, "malformed")
    assert_error(app_client.post(f"{CASES}/440305-20260929-999999/actions", {"action": "accept"},
                                 role="handler"), 404, "not_found")
    # route without links
    assert_error(app_client.post(url, {"action": "escalate", "reason": "超出权限"}, role="handler"),
                 409, "no_link", says="本节点尚未建立链路")
    assert app_client.count_rows() == before
    r = app_client.post(url, {"action": "conclude", "outcome": "settled", "amount_recovered": "800.5"},
                        role="admin")
    assert r.status_code == 200 and r.get_json()["amount_recovered"] == "800.50"


@pytest.mark.parametrize("form", CONTRACT_FORMS)
def test_every_action_in_its_contract_form_over_http(app_client, form):
    """``POST /api/v1/cases/<id>/actions`` with exactly the body CONTRACT §5 lists → 200 and
    the case as the user then sees it."""
    kind_body, steps, links, payload, status, handler, says = CONTRACT_FORMS[form]
    with app_client.node.activate():
        cid = contract_state(app_client.node, kind_body, steps, links)
    before = app_client.get(f"{CASES}/{cid}").get_json()
    r = app_client.post(f"{CASES}/{cid}/actions", payload, role="handler")
    assert r.status_code == 200, r.get_json()
    case = r.get_json()
    assert case["status"] == status and case["handling_node"] == handler
    last = case["history"][-1]
    assert last["action"] == payload["action"] and last["actor"] == "handler1"
    assert (last["from_status"], last["to_status"]) == (before["status"], status)
    assert says in last["note"]
    assert app_client.get(f"{CASES}/{cid}").get_json() == case


def test_staff_report_invisible_to_handler(app_client):
    case = app_client.post(CASES, staff_report()).get_json()
    normal = app_client.post(CASES, complaint()).get_json()
    for role in ("handler", "admin", "leader", "supervisor"):
        hidden = app_client.get(f"{CASES}/{case['id']}", role=role)
        missing = app_client.get(f"{CASES}/440305-20260929-888888", role=role)
        assert_error(hidden, 404, "not_found")
        assert hidden.get_json()["error"]["code"] == missing.get_json()["error"]["code"]
        listed = app_client.get(CASES, role=role).get_json()["items"]
        assert [c["id"] for c in listed] == [normal["id"]]
        assert_error(app_client.post(f"{CASES}/{case['id']}/actions", {"action": "verify"},
                                     role="handler"), 404)
    assert app_client.get(f"{CASES}/{case['id']}", role="discipline").status_code == 200


def test_a_staff_report_leaves_no_gap_in_the_ids_other_roles_see(app_client):
    """Issue 13, found from outside: 000001 complaint, 000002 staff report, 000003 complaint
    told the accused unit a report existed. Staff reports count down on a counter of their own."""
    first = app_client.post(CASES, complaint()).get_json()["id"]
    staff = [app_client.post(CASES, staff_report()).get_json()["id"] for _ in range(2)]
    second = app_client.post(CASES, complaint()).get_json()["id"]
    assert [first[-6:], second[-6:]] == ["000001", "000002"]          # consecutive: no gap
    assert [s[-6:] for s in staff] == ["999999", "999998"]
    listed = app_client.get(CASES, role="handler").get_json()["items"]
    assert sorted(c["id"] for c in listed) == [first, second]
    assert set(staff) <= {c["id"] for c in app_client.get(CASES, role="discipline").get_json()["items"]}


def test_two_track_over_http(app_client):
    r = app_client.post(CASES, complaint(also_report=True))
    assert r.status_code == 201
    case = r.get_json()
    other = app_client.get(f"{CASES}/{case['linked_case']}").get_json()
    assert other["kind"] == "report" and other["linked_case"] == case["id"]


def test_search_and_paging_over_http(app_client):
    app_client.post(CASES, complaint(summary="空调安装后漏水", description="师傅上门三次未修好"))
    app_client.post(CASES, complaint(summary="手机屏幕碎裂", description="屏幕自行开裂"))
    two = app_client.get(CASES, query_string={"q": "漏水"}).get_json()["items"]
    four = app_client.get(CASES, query_string={"q": "屏幕碎裂"}).get_json()["items"]
    assert [c["summary"] for c in two] == ["空调安装后漏水"]
    assert [c["summary"] for c in four] == ["手机屏幕碎裂"]
    page = app_client.get(CASES, query_string={"limit": 1}).get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = app_client.get(CASES, query_string={"limit": 1, "cursor": page["next_cursor"]}).get_json()
    assert rest["items"][0]["id"] != page["items"][0]["id"] and rest["next_cursor"] is None
    assert_error(app_client.get(CASES, query_string={"limit": "many"}), 400, "invalid_limit", "limit")
    assert_error(app_client.get(CASES, query_string={"status": "open"}), 422, "invalid_enum", "status")
    assert_error(app_client.get(CASES, query_string={"sort": "id"}), 422, "unknown_field", "sort")


def test_overdue_filter_over_http(app_client):
    from datetime import datetime

    from node.cases import mark_overdue
    cid = app_client.post(CASES, complaint()).get_json()["id"]
    app_client.clock.set(datetime(2026, 10, 15, 1, 0, tzinfo=UTC))
    assert mark_overdue(app_client.node) == 1
    items = app_client.get(CASES, query_string={"overdue": "true"}).get_json()["items"]
    assert [c["id"] for c in items] == [cid] and items[0]["overdue"] is True


def test_leadership_and_status_and_categories(app_client):
    general = app_client.post(CASES, complaint()).get_json()
    urgent = app_client.post(CASES, complaint(summary="电动自行车充电时起火致人受伤")).get_json()
    assert urgent["urgency"] == "urgent" and general["urgency"] == "general"
    board = app_client.get("/api/v1/leadership", role="leader")
    assert board.status_code == 200
    assert [c["id"] for c in board.get_json()["items"]] == [urgent["id"]]
    assert app_client.get("/api/v1/leadership", role="supervisor").status_code == 200
    assert_error(app_client.get("/api/v1/leadership", role="handler"), 403)
    assert_error(app_client.get("/api/v1/leadership", role=None), 401)

    status = app_client.get("/api/v1/status", role="admin")
    assert status.status_code == 200 and status.get_json()["node"]["code"] == "440305"
    assert isinstance(status.get_json()["warnings"], list)
    assert_error(app_client.get("/api/v1/status", role="leader"), 403)

    cats = app_client.get("/api/v1/categories", role=None)
    assert cats.status_code == 200
    items = cats.get_json()["items"]
    by_code = {i["code"]: i for i in items}
    assert by_code["G0303"]["name"] == "家用电器" and by_code["G0303"]["parent"] == "G03"
    assert all(sorted(i) == ["code", "name", "name_en", "parent"] for i in items)


def test_one_error_shape_everywhere(app_client):
    """Walk several endpoints and error kinds; every answer has the one shape (CONTRACT §5)."""
    cid = app_client.post(CASES, complaint()).get_json()["id"]
    answers = [
        app_client.post(CASES, data=b"nope", headers={"Content-Type": "application/json"}),  # 400
        app_client.get(CASES, role=None),                                                    # 401
        app_client.get("/api/v1/status", role="handler"),                                    # 403
        app_client.get(f"{CASES}/no-such-case"),                                             # 404
        app_client.get("/api/v1/no-such-endpoint"),                                          # 404 route
        app_client.client.delete(f"{CASES}/{cid}"),                                          # 405
        app_client.post(f"{CASES}/{cid}/actions", {"action": "conclude"}, role="handler"),   # 409
        app_client.post(CASES, data=b"x" * (1024 * 1024 + 1),
                        headers={"Content-Type": "application/json"}),                       # 413
        app_client.post(CASES, complaint(kind="x")),                                         # 422
        app_client.client.post("/federation/v1/push", data=b"{}"),                           # unsigned
    ]
    statuses = []
    for r in answers:
        statuses.append(r.status_code)
        doc = r.get_json()
        assert r.is_json and list(doc) == ["error"], r.get_data(as_text=True)
        assert sorted(doc["error"]) == ["code", "field", "message"]
        assert isinstance(doc["error"]["code"], str) and doc["error"]["message"]
        assert " / " in doc["error"]["message"]          # Chinese first, then English
    assert statuses[:9] == [400, 401, 403, 404, 404, 405, 409, 413, 422]
    assert statuses[9] in (400, 401)
