"""Directives at one node: validation, roles, update/cancel, plans, the one error shape
(R3.1-R3.4; CONTRACT §6). Every test here runs on SQLite and on PostgreSQL (``db_url``)."""
from __future__ import annotations

import json

import pytest

from node import directives
from node.directives import Actor
from node.directives.models import Directive, DirectiveMessage
from replication.models import OutboxEntry
from tests.conftest import count_rows

GOOD = {"title": "食物中毒应急处置", "body": "请立即赶赴现场处置。", "severity": "severe", "urgency": "immediate",
        "category": "food_safety", "targets": ["440305001"], "ack_within_minutes": 30}


def body(**changes):
    doc = dict(GOOD)
    for k, v in changes.items():
        if v is _DROP:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


_DROP = object()


def assert_error(resp, status: int, field: str | None = None, code: str | None = None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert set(err) == {"code", "message", "field"}
    if field is not None:
        assert err["field"] == field
    if code is not None:
        assert err["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["message"]), "message is Chinese first"
    return err


def stored(client) -> dict[str, int]:
    return count_rows(client.node, Directive, DirectiveMessage, OutboxEntry)


def test_issue_returns_201_with_id_and_progress(app_client):
    resp = app_client.post("/api/v1/directives", json=GOOD, role="leader")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["id"].startswith("440305-D20260930-")
    assert doc["issuer"] == "440305" and doc["role_here"] == "issuer" and doc["version"] == 1
    assert doc["issued_at"].endswith("+08:00") and doc["ack_due_at"] == "2026-09-30T09:30:00+08:00"
    # the station is not linked: the issuer's view says so instead of losing it
    assert doc["progress"]["targets"] == 1
    assert doc["progress"]["nodes"]["440305001"]["status"] == "no_route"
    got = app_client.get(f"/api/v1/directives/{doc['id']}", role="analyst").get_json()
    assert got["title"] == GOOD["title"]
    listed = app_client.get("/api/v1/directives", role="handler").get_json()["items"]
    assert [d["id"] for d in listed] == [doc["id"]]


@pytest.mark.parametrize("field,value,message", [
    ("title", _DROP, "title is required"),
    ("title", "   ", "title is required"),
    ("body", _DROP, "body is required"),
    ("body", "", "body is required"),
    ("severity", _DROP, "severity is required"),
    ("severity", "catastrophic", "invalid severity"),
    ("urgency", "now", "invalid urgency"),
    ("category", "weather", "invalid category"),
    ("ack_within_minutes", 0, "must be 1.."),
    ("ack_within_minutes", 1.5, "whole number"),
    ("ack_within_minutes", "30", "whole number"),
    ("exercise", "yes", "must be a boolean"),
    ("plan", "earthquake", "unknown emergency plan"),
])
def test_bad_input_is_422_naming_the_field_and_stores_nothing(app_client, field, value, message):
    before = stored(app_client)
    resp = app_client.post("/api/v1/directives", json=body(**{field: value}), role="leader")
    err = assert_error(resp, 422, field)
    assert message in err["message"]
    assert stored(app_client) == before


@pytest.mark.parametrize("targets,field,message", [
    (["440300"], "targets[0]", "directives travel only down"),          # upward: the county's parent
    (["000000"], "targets[0]", "directives travel only down"),          # upward: HQ
    (["440306"], "targets[0]", "outside the issuer's subtree"),         # sideways: a sibling county
    (["440305001", "330106001"], "targets[1]", "outside the issuer's subtree"),  # another province
    (["440305"], "targets[0]", "not the issuer itself"),
    (["999999"], "targets[0]", "unknown node code"),
    ([], "targets", "non-empty list"),
    ("440305001", "targets", "non-empty list"),
    ([7], "targets[0]", "must be a node code"),
])
def test_targets_outside_the_subtree_are_refused(app_client, targets, field, message):
    before = stored(app_client)
    resp = app_client.post("/api/v1/directives", json=body(targets=targets), role="leader")
    err = assert_error(resp, 422, field)
    assert message in err["message"]
    assert stored(app_client) == before


def test_unknown_field_is_named(app_client):
    assert_error(app_client.post("/api/v1/directives", json=body(priority=1), role="leader"), 422, "priority")


@pytest.mark.parametrize("role", ["intake", "handler", "supervisor", "discipline", "analyst"])
def test_only_leader_or_admin_issue(app_client, role):
    before = stored(app_client)
    assert_error(app_client.post("/api/v1/directives", json=GOOD, role=role), 403, code="forbidden")
    assert stored(app_client) == before


def test_admin_may_issue(app_client):
    assert app_client.post("/api/v1/directives", json=GOOD, role="admin").status_code == 201


def test_no_token_is_401(app_client):
    assert_error(app_client.post("/api/v1/directives", json=GOOD, role=None), 401)


def test_malformed_body_is_400(app_client):
    resp = app_client.post("/api/v1/directives", data=b"{not json", role="leader",
                           headers={"Content-Type": "application/json"})
    assert_error(resp, 400)


def test_a_station_does_not_issue(tmp_path, make_node, clock):
    from tests.conftest import ApiClient
    station = ApiClient(make_node(tmp_path, "station", "440305001"), clock)
    err = assert_error(station.post("/api/v1/directives", json=body(targets=None), role="leader"), 403,
                       code="no_capability")
    assert "station" in err["message"]


def test_default_target_is_every_descendant(app_client):
    doc = app_client.post("/api/v1/directives", json=body(targets=_DROP), role="leader").get_json()
    assert doc["targets"] == ["*"]
    assert doc["progress"]["targets"] == 0   # no child linked yet: counted as they report


def test_update_and_cancel_at_the_issuer(app_client):
    did = app_client.post("/api/v1/directives", json=GOOD, role="leader").get_json()["id"]
    resp = app_client.post(f"/api/v1/directives/{did}/update",
                           json={"body": "补充：重点排查学校食堂。", "ack_within_minutes": 45, "note": "补充要求"},
                           role="leader")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["version"] == 2 and doc["ack_due_at"] == "2026-09-30T09:45:00+08:00"
    assert [h["msg_type"] for h in doc["history"]] == ["Alert", "Update"]
    doc = app_client.post(f"/api/v1/directives/{did}/cancel", json={"reason": "经核实为误报"}, role="leader").get_json()
    assert doc["status"] == "cancelled" and doc["version"] == 3
    assert [h["msg_type"] for h in doc["history"]] == ["Alert", "Update", "Cancel"]


def test_update_refusals(app_client):
    did = app_client.post("/api/v1/directives", json=GOOD, role="leader").get_json()["id"]
    assert_error(app_client.post("/api/v1/directives/440305-D20260930-9999/update", json={"body": "x"},
                                 role="leader"), 404, code="not_found")
    assert_error(app_client.post(f"/api/v1/directives/{did}/update", json={"targets": ["440305002"]},
                                 role="leader"), 422, "targets")
    assert_error(app_client.post(f"/api/v1/directives/{did}/update", json={"body": GOOD["body"]},
                                 role="leader"), 422)           # nothing changes
    assert_error(app_client.post(f"/api/v1/directives/{did}/update", json={"body": "x"}, role="handler"), 403)
    app_client.post(f"/api/v1/directives/{did}/cancel", json={}, role="leader")
    before = stored(app_client)
    assert_error(app_client.post(f"/api/v1/directives/{did}/update", json={"body": "x"}, role="leader"), 409,
                 code="cancelled")
    assert_error(app_client.post(f"/api/v1/directives/{did}/cancel", json={}, role="leader"), 409, code="cancelled")
    assert stored(app_client) == before


def test_the_issuer_is_not_a_target(app_client):
    did = app_client.post("/api/v1/directives", json=GOOD, role="leader").get_json()["id"]
    assert_error(app_client.post(f"/api/v1/directives/{did}/ack", json={"note": "收到"}, role="leader"), 409,
                 code="not_target")
    assert_error(app_client.post(f"/api/v1/directives/{did}/reports", json={"text": "已处置"}, role="leader"), 409,
                 code="not_target")


def test_unknown_directive_is_404(app_client):
    assert_error(app_client.get("/api/v1/directives/440305-D20260930-0042", role="leader"), 404)
    assert_error(app_client.post("/api/v1/directives/440305-D20260930-0042/ack", json={}, role="leader"), 404)


def test_issue_from_a_plan_prefills_and_attaches_steps(app_client):
    resp = app_client.post("/api/v1/directives", json={"plan": "food_poisoning", "targets": ["440305001"]},
                           role="leader")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["title"] == "启动食物中毒事件应急处置预案"
    assert doc["severity"] == "severe" and doc["ack_within_minutes"] == 30 and doc["report_within_minutes"] == 120
    assert doc["plan"]["id"] == "food_poisoning" and doc["plan"]["version"] == 1
    assert doc["plan"]["steps"][0]["title"] == "签收并赶赴现场"
    assert "county" in doc["plan"]["duties"]
    # explicit fields win over the plan's
    doc = app_client.post("/api/v1/directives", json={"plan": "food_poisoning", "title": "某校食物中毒",
                                                      "ack_within_minutes": 15, "targets": ["440305001"]},
                          role="leader").get_json()
    assert doc["title"] == "某校食物中毒" and doc["ack_within_minutes"] == 15


def test_plans_endpoint(app_client):
    items = app_client.get("/api/v1/plans", role="leader").get_json()["items"]
    assert {p["id"] for p in items} >= {"food_poisoning", "product_safety", "mass_complaint"}
    one = app_client.get("/api/v1/plans/mass_complaint", role="leader").get_json()
    assert one["event_type"] == "群体性投诉" and one["versions"] == [1]
    assert_error(app_client.get("/api/v1/plans/nope", role="leader"), 404)


def test_the_issue_document_is_signed_and_queued_in_the_same_transaction(tmp_path, make_node):
    """With a linked child, the directive's outbox row exists as soon as the API answers."""
    from federation.models import Link
    from federation.storage import write_tx
    node = make_node(tmp_path, "county", "440305")
    with node.activate():
        with write_tx(node.db):
            Link.create(code="440305001", level="station", role="child", name="粤海所", url="http://s.test",
                        created_at=node.now())
        doc = directives.issue(node, GOOD, Actor("lead", "leader", "李四"))
        rows = list(OutboxEntry.select())
        assert [(r.dest, r.channel, r.doc_kind) for r in rows] == [("440305001", "directives", "directive.issue")]
        signed = json.loads(rows[0].body)
        assert signed["origin"] == "440305" and signed["dest"] == "440305" and signed["sig"]["key_id"]
        assert signed["body"]["directive_id"] == doc["id"] and signed["body"]["issued_by"] == "李四"
        assert doc["progress"]["nodes"]["440305001"]["status"] == "pending"


def test_category_may_be_a_goods_code_of_the_category_table(app_client):
    doc = app_client.post("/api/v1/directives", json=body(category="G0101"), role="leader").get_json()
    assert doc["category"] == "G0101" and doc["category_name"] == "预包装食品"
    xml = app_client.get(f"/cap/v1/directives/{doc['id']}.xml", role="leader").data
    assert b"<category>Health</category>" in xml
    assert_error(app_client.post("/api/v1/directives", json=body(category="Z99"), role="leader"), 422, "category")
