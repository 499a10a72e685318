"""Emergency command through the desk pages of several nodes (issue 11 item 7): issue at the
province's page, the county's pending list, acknowledge and report through the county's page,
and the province's live progress fragment — documents travelling only through signed
replication in the in-process harness. Every test runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import re
from html import unescape

import pytest

from node.directives.models import Directive
from tests.network.conftest import build
from tests.network.harness import Network
from tests.network.test_directives import settle
from tests.node.desk.conftest import Desk
from tests.node.directives.test_pages import assert_labelled

CHAIN = [("province", "440000"), ("prefecture", "440300"), ("county", "440305"), ("station", "440305001")]
PARENTS = {"440300": "440000", "440305": "440300", "440305001": "440305"}


@pytest.fixture
def guangdong(tmp_path, seed, network_db_url):
    """Guangdong from the province down to a station."""
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    build(net, CHAIN, PARENTS)
    yield net
    net.close()


def desk_at(net: Network, code: str, role: str) -> Desk:
    desk = Desk(net.nodes[code], net.clock)
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    desk.get("/desk/")
    return desk


def element(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id}"
    return unescape(found.group(1)).strip()


def progress(desk: Desk, did: str) -> dict[str, int]:
    resp = desk.get(f"/desk/directives/{did}/progress", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    page = desk.text(resp)
    return {k: int(element(page, f"progress-{k}")) for k in ("targets", "delivered", "acknowledged", "reported")}


def issue_through_the_page(desk: Desk, **form) -> str:
    fields = {"title": "某学校食堂疑似食物中毒", "body": "请立即赶赴现场核查处置。", "severity": "severe",
              "urgency": "immediate", "category": "food_safety", "ack_within_minutes": "30", **form}
    confirm = desk.post("/desk/directives/new", fields)
    assert confirm.status_code == 200 and 'id="confirm-action"' in desk.text(confirm), desk.text(confirm)[-2000:]
    done = desk.post("/desk/directives/new", {**fields, "confirmed": "1"})
    assert done.status_code == 302, desk.text(done)[-2000:]
    return done.headers["Location"].split("/desk/directives/")[1].split("?")[0]


def test_issue_at_the_province_acknowledge_and_report_at_the_county_watch_progress(guangdong):
    province = desk_at(guangdong, "440000", "leader")
    # the province knows its prefecture by its link; a county it does not list is typed in
    form_page = province.text(province.get("/desk/directives/new"))
    assert 'value="440300"' in form_page and 'value="440300/*"' in form_page
    confirm = province.text(province.post("/desk/directives/new", {
        "title": "某学校食堂疑似食物中毒", "body": "请立即赶赴现场核查处置。", "severity": "severe",
        "targets": ["440305"], "ack_within_minutes": "30"}))
    assert element(confirm, "receiver-count").endswith("1。") and "南山区" in confirm
    did = issue_through_the_page(province, targets=["440305"], plan="food_poisoning")
    assert progress(province, did) == {"targets": 1, "delivered": 0, "acknowledged": 0, "reported": 0}

    settle(guangdong)
    county = desk_at(guangdong, "440305", "handler")
    pending = county.text(county.get("/desk/directives?pending=1"))
    assert did in pending and "某学校食堂疑似食物中毒" in pending
    tile = re.search(r'id="tile-directives">\s*<span class="count">(\d+)<', county.text(county.get("/desk/")))
    assert tile and tile.group(1) == "1"                             # the home tile links to that list
    assert progress(province, did) == {"targets": 1, "delivered": 1, "acknowledged": 0, "reported": 0}

    page = county.text(county.get(f"/desk/directives/{did}"))
    assert 'id="ack-directive"' in page and f'action="/desk/directives/{did}/report"' in page
    assert_labelled(page)
    confirm = county.post(f"/desk/directives/{did}/ack", {"name": "李四", "note": "已安排人员赶赴现场"})
    assert confirm.status_code == 200 and 'id="confirm-action"' in county.text(confirm)
    assert "李四" in county.text(confirm).split('id="consequence"')[1].split("</div>")[0]
    with guangdong.nodes["440305"].activate():
        assert Directive.by_id(did).acknowledged_at is None           # nothing until confirmed
    done = county.post(f"/desk/directives/{did}/ack", {"name": "李四", "note": "已安排人员赶赴现场", "confirmed": "1"})
    assert done.status_code == 302
    assert did not in county.text(county.get("/desk/directives?pending=1"))
    page = county.text(county.get(f"/desk/directives/{did}"))
    assert 'id="ack-directive"' not in page and "李四" in element(page, "mine-status")

    settle(guangdong)
    assert progress(province, did) == {"targets": 1, "delivered": 1, "acknowledged": 1, "reported": 0}
    fragment = province.text(province.get(f"/desk/directives/{did}/progress"))
    assert "李四" in fragment and 'id="node-440305"' in fragment

    # a report with the plan's figures, confirmed, travels up too
    report = {"text": "已封存可疑食品 12 千克，抽样 3 批次。", "counts.goods_sealed_kg": "12",
              "counts.samples_taken": "3", "name": "李四"}
    confirm = county.post(f"/desk/directives/{did}/report", report)
    assert 'id="confirm-action"' in county.text(confirm)
    assert county.post(f"/desk/directives/{did}/report", {**report, "confirmed": "1"}).status_code == 302
    settle(guangdong)
    assert progress(province, did)["reported"] == 1
    page = province.text(province.get(f"/desk/directives/{did}"))
    assert "已封存可疑食品 12 千克" in page and "封存物品（千克） 12" in page


def test_the_fragment_shows_the_numbers_of_progress_view_as_the_tree_acknowledges(guangdong):
    from node import directives
    province = desk_at(guangdong, "440000", "supervisor")
    leader = desk_at(guangdong, "440000", "leader")
    did = issue_through_the_page(leader, targets=["440300/*"])
    settle(guangdong)
    for code in ("440305", "440305001"):
        signer = desk_at(guangdong, code, "handler")
        assert signer.post(f"/desk/directives/{did}/ack", {"confirmed": "1"}).status_code == 302
        settle(guangdong)
        node = guangdong.nodes["440000"]
        with node.activate():
            view = directives.progress_view(node, Directive.by_id(did))
        shown = progress(province, did)
        assert shown == {k: view[k] for k in ("targets", "delivered", "acknowledged", "reported")}
    assert shown == {"targets": 3, "delivered": 3, "acknowledged": 2, "reported": 0}
    page = province.text(province.get(f"/desk/directives/{did}"))
    # the prefecture is delivered, not signed for; the station has signed
    assert re.search(r'id="node-440300"[^>]*>(?:(?!</tr>).)*已送达', page, re.S)
    assert re.search(r'id="node-440305001"[^>]*>(?:(?!</tr>).)*已签收', page, re.S)


def test_a_relay_sees_its_subtree_but_does_not_sign(guangdong):
    province = desk_at(guangdong, "440000", "admin")
    did = issue_through_the_page(province, targets=["440305001"])
    settle(guangdong)
    prefecture = desk_at(guangdong, "440300", "leader")
    page = prefecture.text(prefecture.get(f"/desk/directives/{did}"))
    assert 'id="ack-directive"' not in page and f'action="/desk/directives/{did}/cancel"' not in page
    assert int(element(page, "progress-targets")) == 1
    refused = prefecture.post(f"/desk/directives/{did}/ack", {"confirmed": "1"})
    assert refused.status_code == 409
    station = desk_at(guangdong, "440305001", "intake")
    assert did in station.text(station.get("/desk/directives?pending=1"))


def test_a_bad_report_comes_back_beside_its_field_and_cancel_reaches_the_county(guangdong):
    province = desk_at(guangdong, "440000", "leader")
    did = issue_through_the_page(province, targets=["440300/*"], plan="food_poisoning")
    settle(guangdong)
    county = desk_at(guangdong, "440305", "supervisor")
    bad = county.post(f"/desk/directives/{did}/report", {"text": "已处置", "counts.samples_taken": "2.5"})
    assert bad.status_code == 422 and "非负整数" in element(county.text(bad), "report-counts-error")
    empty = county.post(f"/desk/directives/{did}/report", {"text": " "})
    assert empty.status_code == 422 and "反馈内容为必填项" in element(county.text(empty), "report-text-error")
    with guangdong.nodes["440305"].activate():
        assert Directive.by_id(did).report_count == 0
    assert province.post(f"/desk/directives/{did}/cancel", {"reason": "误报", "confirmed": "1"}).status_code == 302
    settle(guangdong)
    page = county.text(county.get(f"/desk/directives/{did}"))
    assert element(page, "directive-status") == "已撤销" and 'id="ack-directive"' not in page
    late = county.post(f"/desk/directives/{did}/ack", {"confirmed": "1"})
    assert late.status_code == 409 and "已撤销" in element(county.text(late), "action-error")
    assert did not in county.text(county.get("/desk/directives?pending=1"))


def test_a_case_becomes_a_directive_to_where_it_happened(guangdong):
    from tests.node.cases.examples import complaint
    prefecture = desk_at(guangdong, "440300", "leader")
    node = guangdong.nodes["440300"]
    from node.accounts import service as users
    with node.activate():
        token = users.add_user("intake9", "intake", node.now())
    urgent = complaint(urgency="critical", summary="某学校食堂多名学生就餐后呕吐", category="G0101")
    resp = guangdong.clients["440300"].post("/api/v1/cases", json=urgent, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    case_id = resp.get_json()["id"]
    general = guangdong.clients["440300"].post("/api/v1/cases", json=complaint(),
                                              headers={"Authorization": f"Bearer {token}"}).get_json()["id"]
    refused = prefecture.get(f"/desk/directives/new?case_id={general}")
    assert refused.status_code == 422 and "只有紧急、特别紧急案件" in element(prefecture.text(refused), "case-error")
    page = prefecture.text(prefecture.get(f"/desk/directives/new?case_id={case_id}"))
    assert "【案件转指令】某学校食堂多名学生就餐后呕吐" in page and f'href="/desk/cases/{case_id}"' in page
    form = dict(re.findall(r'<input id="f-(title)" name="title" type="text" value="([^"]*)"', page))
    fields = {"case_id": case_id, "title": unescape(form["title"]), "body": "请属地立即核查。", "severity": "severe",
              "urgency": "immediate", "category": "food_safety", "ack_within_minutes": "20"}
    confirm = prefecture.text(prefecture.post("/desk/directives/new", fields))
    assert case_id in confirm.split('id="consequence"')[1].split("</div>")[0]
    assert element(confirm, "receiver-count").endswith("1。")
    done = prefecture.post("/desk/directives/new", {**fields, "confirmed": "1"})
    assert done.status_code == 302
    did = done.headers["Location"].split("/desk/directives/")[1].split("?")[0]
    with node.activate():
        row = Directive.by_id(did)
        assert (row.case_id, row.targets, row.ack_within_minutes) == (case_id, '["440305"]', 20)
    assert f'href="/desk/cases/{case_id}"' in prefecture.text(prefecture.get(f"/desk/directives/{did}"))
