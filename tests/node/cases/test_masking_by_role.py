"""Masking by role (issue 13 item 3) and the recorded full read, ``pii.read`` (item 4): the
case's handler and intake read the complainant in full; supervisors, leaders, analysts (and
discipline on ordinary cases) read ``张**``, ``138****0000`` unless they open it with a reason,
which writes one audit entry; reports against staff exist for ``discipline`` only. The same on
the API, the desk, the CLI and the exports (docs/privacy-access.md).

Every test runs on SQLite and on PostgreSQL (``make_node``).
"""
from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest
from click.testing import CliRunner

from node.audit import list_entries
from node.cases import Actor, create_case, export_cases
from node.cases.personal_view import sees_in_full
from tests.conftest import ApiClient
from tests.node.cases.examples import complaint, staff_report
from tests.node.desk.conftest import Desk

CASES = "/api/v1/cases"
FULL = {"name": "张三", "phone": "13800000000", "address": "深圳市南山区科技园"}
MASKED = {"name": "张**", "phone": "138****0000", "address": "深圳市南山区***"}
# the matrix of docs/privacy-access.md for a case received and handled at this node
MATRIX = {"handler": True, "admin": True, "intake": True, "supervisor": False, "leader": False,
          "analyst": False, "discipline": False}
REASON = "回访核实投诉人身份"


@pytest.fixture
def node(tmp_path, make_node):
    return make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")


@pytest.fixture
def api(node, clock) -> ApiClient:
    return ApiClient(node, clock)


def new_case(node, body: dict | None = None) -> dict:
    with node.activate():
        return create_case(node, body or complaint(
            urgency="urgent", description="请拨 13800000000 联系我，身份证 440305199001011234。"), Actor("intake0", "intake"))


def person(case: dict) -> dict:
    c = case["complainant"]
    return {k: c.get(k) for k in ("name", "phone", "address")}


def reads(node) -> list[dict]:
    return list_entries(node, action="pii.read")


def expect(full: bool, case: dict) -> None:
    if full:
        assert person(case) == FULL and "masked" not in case["complainant"]
        assert "13800000000" in case["description"]
    else:
        assert person(case) == MASKED and case["complainant"]["masked"] is True
        assert "13800000000" not in case["description"] and "138****0000" in case["description"]
        assert "440305199001011234" not in case["description"]


# -- the API ------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(MATRIX))
def test_the_api_shows_the_complainant_in_full_or_masked_by_role(api, node, role):
    case = new_case(node)
    got = api.get(f"{CASES}/{case['id']}", role=role)
    assert got.status_code == 200
    expect(MATRIX[role], got.get_json())
    listed = api.get(f"{CASES}?q=冰箱", role=role).get_json()["items"]      # list and search
    assert [c["id"] for c in listed] == [case["id"]]
    expect(MATRIX[role], listed[0])
    assert reads(node) == []                                                  # reading as allowed is not a pii.read


def test_the_leadership_board_and_an_action_answer_are_masked_for_a_leader(api, node):
    case = new_case(node)
    board = api.get("/api/v1/leadership", role="leader").get_json()
    assert [c["id"] for c in board["items"]] == [case["id"]]
    expect(False, board["items"][0])
    urged = api.post(f"{CASES}/{case['id']}/actions", {"action": "urge", "note": "请加快办理"}, role="leader")
    assert urged.status_code == 200, urged.get_json()
    expect(False, urged.get_json())
    accepted = api.post(f"{CASES}/{case['id']}/actions", {"action": "accept", "mode": "mediation"}, role="handler")
    assert accepted.status_code == 200, accepted.get_json()
    expect(True, accepted.get_json())


@pytest.mark.parametrize("role", ["analyst", "supervisor", "leader"])
def test_opening_with_a_reason_returns_the_full_case_and_records_one_pii_read(api, node, role):
    case = new_case(node)
    got = api.post(f"{CASES}/{case['id']}/personal", {"reason": REASON}, role=role)
    assert got.status_code == 200, got.get_json()
    expect(True, got.get_json())
    entries = reads(node)
    assert len(entries) == 1
    assert entries[0]["actor"] == f"{role}1" and entries[0]["target"] == case["id"]
    assert entries[0]["detail"]["reason"] == REASON and entries[0]["detail"]["via"] == "api"
    # opening once does not unmask the next plain read
    expect(False, api.get(f"{CASES}/{case['id']}", role=role).get_json())
    assert len(reads(node)) == 1


@pytest.mark.parametrize("body, message", [
    ({}, "reason is required"),
    ({"reason": ""}, "reason is required"),
    ({"reason": "   "}, "reason is required"),
    ({"reason": "看看"}, "4-500 characters"),
    ({"reason": "x" * 501}, "4-500 characters"),
    ({"reason": 12345}, "reason is required"),
    ({"reason": "核实\x00身份信息"}, "control characters"),
])
def test_opening_without_a_usable_reason_is_400_naming_reason_and_records_nothing(api, node, body, message):
    case = new_case(node)
    got = api.post(f"{CASES}/{case['id']}/personal", body, role="analyst")
    assert got.status_code == 400
    err = got.get_json()["error"]
    assert err["field"] == "reason" and message in err["message"], err
    assert "13800000000" not in got.get_data(as_text=True)
    assert reads(node) == []


def test_opening_an_unknown_case_or_without_a_token_records_nothing(api, node):
    new_case(node)
    assert api.post(f"{CASES}/440305-20260929-009999/personal", {"reason": REASON}, role="analyst").status_code == 404
    assert api.post(f"{CASES}/440305-20260929-000001/personal", {"reason": REASON}, role=None).status_code == 401
    assert reads(node) == []


# -- reports against staff: discipline only ------------------------------------------------------
def test_a_staff_report_exists_for_discipline_only(api, node):
    report = new_case(node, staff_report(complainant={"name": "赵六", "phone": "13700000000"}))
    ordinary = new_case(node)
    got = api.get(f"{CASES}/{report['id']}", role="discipline")
    assert got.status_code == 200 and got.get_json()["complainant"]["phone"] == "13700000000"
    assert report["id"] in [c["id"] for c in api.get(CASES, role="discipline").get_json()["items"]]
    for role in ("analyst", "supervisor", "leader", "handler", "intake", "admin"):
        assert api.get(f"{CASES}/{report['id']}", role=role).status_code == 404, role
        for query in ("", "?q=执法人员收受", "?department=discipline"):
            ids = [c["id"] for c in api.get(f"{CASES}{query}", role=role).get_json()["items"]]
            assert report["id"] not in ids, (role, query)
        opened = api.post(f"{CASES}/{report['id']}/personal", {"reason": REASON}, role=role)
        assert opened.status_code == 404, role
        assert "13700000000" not in opened.get_data(as_text=True)
    assert reads(node) == []
    # discipline reads an ordinary case masked like any reader who is not its handler
    expect(False, api.get(f"{CASES}/{ordinary['id']}", role="discipline").get_json())


# -- who counts as handler or intake: copies and the accepting node ----------------------------------
@pytest.mark.parametrize("role, case, full", [
    ("handler", {"held_as": "handler", "handling_node": "440305", "accepting_node": "440000"}, True),
    ("handler", {"held_as": "copy", "handling_node": "440306", "accepting_node": "440305"}, False),
    ("admin", {"held_as": "copy", "handling_node": "440306", "accepting_node": "440305"}, False),
    ("intake", {"held_as": "copy", "handling_node": "440306", "accepting_node": "440305"}, True),
    ("intake", {"held_as": "copy", "handling_node": "440306", "accepting_node": "440000"}, False),
    ("intake", {"held_as": "handler", "handling_node": "440305", "accepting_node": "440000"}, True),
    ("discipline", {"held_as": "handler", "handling_node": "440305", "department": "discipline"}, True),
    ("discipline", {"held_as": "copy", "handling_node": "440300", "department": "discipline"}, False),
    ("handler", {"held_as": "handler", "handling_node": "440305", "department": "discipline"}, False),
    ("supervisor", {"held_as": "handler", "handling_node": "440305", "accepting_node": "440305"}, False),
    ("leader", {"held_as": "handler", "handling_node": "440305", "accepting_node": "440305"}, False),
    ("analyst", {"held_as": "handler", "handling_node": "440305", "accepting_node": "440305"}, False),
])
def test_the_matrix_for_copies_and_the_accepting_node(node, role, case, full):
    assert sees_in_full(node, {"department": "consumer_protection", **case}, Actor("u", role)) is full


# -- the desk ------------------------------------------------------------------------------------
def signed_in(node, clock, role: str) -> Desk:
    desk = Desk(node, clock)
    desk.user(f"desk-{role}", role)
    desk.sign_in(f"desk-{role}")
    return desk


def dd_after(html: str, label: str) -> str:
    found = re.search(rf"<dt>{label}</dt><dd>(.*?)</dd>", html, re.S)
    assert found, label
    return unescape(found.group(1)).strip()


@pytest.mark.parametrize("role", list(MATRIX))
def test_the_case_page_shows_full_or_masked_with_a_show_in_full_control(node, clock, role):
    case = new_case(node)
    desk = signed_in(node, clock, role)
    html = desk.text(desk.get(f"/desk/cases/{case['id']}"))
    if MATRIX[role]:
        assert dd_after(html, "联系电话") == "13800000000" and dd_after(html, "投诉人 / 举报人") == "张三"
        assert 'id="form-personal"' not in html
    else:
        assert dd_after(html, "联系电话") == "138****0000" and dd_after(html, "投诉人 / 举报人") == "张**"
        assert "13800000000" not in html and "张三" not in html
        assert 'id="form-personal"' in html and "查看完整信息" in html


def test_show_in_full_on_the_desk_asks_for_a_reason_and_records_it(node, clock):
    case = new_case(node)
    desk = signed_in(node, clock, "supervisor")
    desk.get(f"/desk/cases/{case['id']}")
    refused = desk.post(f"/desk/cases/{case['id']}/personal", {"reason": ""})
    html = desk.text(refused)
    assert refused.status_code == 400 and 'id="e-reason"' in html and "理由" in html
    assert "13800000000" not in html and reads(node) == []
    without_csrf = desk.post(f"/desk/cases/{case['id']}/personal", {"reason": REASON}, csrf=False)
    assert without_csrf.status_code == 400 and reads(node) == []
    shown = desk.post(f"/desk/cases/{case['id']}/personal", {"reason": REASON})
    html = desk.text(shown)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert dd_after(html, "联系电话") == "13800000000" and 'id="personal-revealed"' in html
    entries = reads(node)
    assert [(e["actor"], e["target"], e["detail"]["reason"], e["detail"]["via"]) for e in entries] == [
        ("desk-supervisor", case["id"], REASON, "desk")]
    # the page afterwards is masked again
    assert dd_after(desk.text(desk.get(f"/desk/cases/{case['id']}")), "联系电话") == "138****0000"


def test_the_printed_case_form_is_masked_for_a_supervisor_and_whole_for_the_handler(node, clock):
    from docx import Document
    case = new_case(node)

    def cells(role: str) -> str:
        resp = signed_in(node, clock, role).get(f"/desk/cases/{case['id']}/form.docx")
        assert resp.status_code == 200
        doc = Document(io.BytesIO(resp.data))
        return "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert "13800000000" in cells("handler")
    supervisor = cells("supervisor")
    assert "13800000000" not in supervisor and "张三" not in supervisor and "张**" in supervisor


def test_an_action_page_shown_to_a_supervisor_is_masked(node, clock):
    case = new_case(node)
    desk = signed_in(node, clock, "supervisor")
    desk.get(f"/desk/cases/{case['id']}")
    html = desk.text(desk.post(f"/desk/cases/{case['id']}/actions", {"action": "urge", "note": "请加快"}))
    assert "13800000000" not in html and "张三" not in html


# -- the exports -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(MATRIX))
def test_the_case_export_never_carries_a_complainant(node, clock, role):
    from openpyxl import load_workbook
    case = new_case(node)
    with node.activate():
        items = export_cases(node, {}, Actor("u", role))
    expect(MATRIX[role], items[0])
    resp = signed_in(node, clock, role).get("/desk/cases/export.xlsx")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).active
    text = "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None)
    assert case["id"] in text
    for value in (*FULL.values(), *MASKED.values()):
        assert value not in text


# -- the CLI -------------------------------------------------------------------------------------
def cli(node, *args: str):
    from admin_cli.cli import cli as root
    return CliRunner().invoke(root, ["--home", str(node.config.home_path), "case", *args])


def test_the_cli_masks_unless_given_a_reason_which_it_records(node):
    case = new_case(node)
    shown = cli(node, "show", case["id"], "--json")
    assert shown.exit_code == 0, shown.output
    expect(False, json.loads(shown.output))
    text = cli(node, "show", case["id"])
    assert text.exit_code == 0 and "138****0000" in text.output and "13800000000" not in text.output
    listed = cli(node, "list", "--json")
    assert listed.exit_code == 0 and "13800000000" not in listed.output
    expect(False, json.loads(listed.output)["items"][0])
    assert reads(node) == []
    refused = cli(node, "show", case["id"], "--reason", "看看")
    assert refused.exit_code == 2 and "--reason" in refused.output and "13800000000" not in refused.output
    assert reads(node) == []
    opened = cli(node, "show", case["id"], "--reason", REASON, "--json")
    assert opened.exit_code == 0, opened.output
    expect(True, json.loads(opened.output))
    entries = reads(node)
    assert len(entries) == 1 and entries[0]["actor"].startswith("cli") and entries[0]["target"] == case["id"]
    assert entries[0]["detail"] == {"reason": REASON, "role": "admin", "via": "cli"}

