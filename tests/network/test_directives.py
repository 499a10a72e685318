"""Directives across the tree in the in-process harness (R3.1-R3.4, R4.4; CONTRACT §6;
RELIABILITY rules 12, 15-18, F22).

Trees are built through ``init`` and invite/join; documents travel only through signed
replication. Every test runs on SQLite and on PostgreSQL (``network_db_url``).
"""
from __future__ import annotations

import json

import pytest

from federation import keys as fkeys
from federation.docsign import sign_document
from node import directives
from node.accounts import service as users
from node.directives import cap
from node.directives.models import Directive, DirectiveProgress, DirectiveReport, PublicWarning
from node.network.transport import replicator
from replication import documents, outbox, sender
from replication.models import OutboxEntry, Quarantine
from tests.network.conftest import build
from tests.network.harness import Faults, Network

GUANGDONG = ["440000", "440300", "440305", "440305001"]
ZHEJIANG = ["330000", "330100", "330106"]


# -- helpers ---------------------------------------------------------------------------------
class Staff:
    """A leader token at every node of a network, and API calls through each node's app."""

    def __init__(self, net: Network):
        self.net = net
        self.tokens: dict[str, str] = {}

    def token(self, code: str) -> str:
        if code not in self.tokens:
            node = self.net.nodes[code]
            with node.activate():
                self.tokens[code] = users.add_user("leader1", "leader", node.now(), "王局长")
        return self.tokens[code]

    def call(self, code: str, method: str, path: str, json_body=None):
        headers = {"Authorization": f"Bearer {self.token(code)}"}
        return self.net.clients[code].open(path, method=method, headers=headers, json=json_body)

    def issue(self, code: str, **fields) -> str:
        payload = {"title": "食物中毒应急处置", "body": "请立即赶赴现场，封存可疑食品并报告。", "severity": "severe",
                   "ack_within_minutes": 600, **fields}
        resp = self.call(code, "POST", "/api/v1/directives", payload)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()["id"]

    def get(self, code: str, did: str):
        return self.call(code, "GET", f"/api/v1/directives/{did}")

    def progress(self, code: str, did: str) -> dict:
        resp = self.get(code, did)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["progress"]

    def ack(self, code: str, did: str, name: str = "张三", note: str = "收到"):
        return self.call(code, "POST", f"/api/v1/directives/{did}/ack", {"name": name, "note": note})


def dirty(net: Network) -> int:
    total = 0
    for code, node in net.nodes.items():
        if code in net.down:
            continue
        with node.activate():
            total += DirectiveProgress.select().where(DirectiveProgress.dirty).count()
    return total


def settle(net: Network, *, faults: bool = False, rounds: int = 300) -> None:
    """Sync every live node, sending owed progress snapshots first (the ``serve`` job does
    it on a timer), until no outbox holds anything and no snapshot is owed."""
    for _ in range(rounds):
        for code in list(net.nodes):
            if code in net.down:
                continue
            node = net.nodes[code]
            with node.activate():
                directives.flush_progress(node)
                # as `n12315 sync` does (past any backoff), on the one channel directives use
                sender.sync_all(replicator(node), force=True, channels=("directives",))
        if faults:
            net.release_held()          # held requests arrive late, out of order (F4)
        if all(reachable_backlog(net, c) == 0 for c in net.nodes if c not in net.down) and dirty(net) == 0:
            return
    raise AssertionError(f"the network did not settle (seed {net.seed})")


def reachable_backlog(net: Network, code: str) -> int:
    """Directive-channel outbox rows of ``code`` for peers it can reach now (rows for a node
    that is down or cut off wait there until it is back: that is the point)."""
    cut = set(net.down) | net.partitioned_pairs.get(code, set())
    node = net.nodes[code]
    with node.activate():
        return (OutboxEntry.select()
                .where(OutboxEntry.dest.not_in(list(cut) or [""]) & (OutboxEntry.channel == "directives"))
                .count())


def rows(net: Network, code: str, model) -> int:
    node = net.nodes[code]
    with node.activate():
        return model.select().count()


def quarantined(net: Network, code: str) -> list[str]:
    node = net.nodes[code]
    with node.activate():
        return [q.error for q in Quarantine.select()]


@pytest.fixture
def staff(tree) -> Staff:
    return Staff(tree)


# -- the done-when cases ---------------------------------------------------------------------
def test_guangdong_subtree_reached_with_a_node_offline_and_never_zhejiang(tree, staff):
    tree.down.add("440305001")                      # the station is offline at issue time
    did = staff.issue("000000", targets=["440000/*"])
    settle(tree)
    p = staff.progress("000000", did)
    # the county knows its station as a child: counted, not yet delivered
    assert (p["targets"], p["delivered"], p["acknowledged"]) == (4, 3, 0)
    assert p["nodes"]["440305001"]["status"] == "pending"
    tree.down.discard("440305001")                  # back: the county's outbox held it
    settle(tree)
    for code in GUANGDONG:
        doc = staff.get(code, did).get_json()
        assert doc["mine"]["target"] is True and doc["mine"]["delivered_at"], code
    for code in ZHEJIANG:
        assert staff.get(code, did).status_code == 404
        assert rows(tree, code, Directive) == 0
    for code in GUANGDONG:
        assert staff.ack(code, did, name=f"值班员{code[-3:]}").status_code == 200
    settle(tree)
    p = staff.progress("000000", did)
    assert (p["targets"], p["delivered"], p["acknowledged"], p["complete"]) == (4, 4, 4, True)
    assert set(p["nodes"]) == set(GUANGDONG) and p["overdue"] == []
    assert p["nodes"]["440305001"]["acknowledged_by"] == "值班员001"
    # HQ relayed it into Guangdong only
    hq = tree.nodes["000000"]
    with hq.activate():
        from node.directives.models import DirectiveRelay
        assert [r.child for r in DirectiveRelay.children_of(did)] == ["440000"]


def test_every_acknowledgement_reaches_hq_exactly_under_faults(tree, staff):
    tree.faults["*"] = Faults(drop_request=0.2, drop_response=0.2, duplicate=0.3, hold=0.1)
    did = staff.issue("000000")                     # default: every node below HQ
    settle(tree, faults=True)
    below = GUANGDONG + ZHEJIANG
    for code in below:
        assert staff.ack(code, did).status_code == 200
    for code in ("440305001", "330106"):
        resp = staff.call(code, "POST", f"/api/v1/directives/{did}/reports",
                          {"text": "已检查辖区餐饮单位。", "counts": {"shops_inspected": 5, "goods_sealed_kg": 2}})
        assert resp.status_code == 201
    settle(tree, faults=True)
    assert tree.stats["duplicated"] + tree.stats["dropped_requests"] + tree.stats["dropped_responses"] > 0
    p = staff.progress("000000", did)
    assert (p["targets"], p["delivered"], p["acknowledged"], p["reported"]) == (7, 7, 7, 2)
    assert p["report_totals"] == {"goods_sealed_kg": 4, "shops_inspected": 10}
    reports = staff.get("000000", did).get_json()["reports"]
    assert sorted(r["node"] for r in reports) == ["330106", "440305001"]      # each exactly once
    sub = staff.progress("440000", did)                                      # a province sees its subtree
    assert (sub["targets"], sub["acknowledged"], sub["reported"]) == (4, 4, 1)
    assert set(sub["nodes"]) == set(GUANGDONG)


def test_a_late_older_snapshot_never_replaces_a_newer_one(tree, staff):
    did = staff.issue("000000", targets=["440305001"])
    settle(tree)
    staff.ack("440305001", did)
    settle(tree)
    county = tree.nodes["440305"]
    with county.activate():
        own = DirectiveProgress.get((DirectiveProgress.directive_id == did) & (DirectiveProgress.node == "440305"))
        stale = {**json.loads(own.payload), "version": 1, "acknowledged": 0}
        rep = replicator(county)
        from federation.storage import write_tx
        with write_tx(county.db):
            doc = documents.create("directive.progress", channel="directives", origin="440305", dest="440300",
                                   body=stale, keypair=county.keypair, now=county.now())
            outbox.enqueue(rep, "440300", "directives", doc, ["440305"], county.now())
    settle(tree)
    assert staff.progress("440300", did)["acknowledged"] == 1
    assert staff.progress("000000", did)["acknowledged"] == 1


def test_a_snapshot_speaking_for_another_subtree_is_refused(tree, staff):
    did = staff.issue("000000", targets=["440305001"])
    settle(tree)
    county = tree.nodes["440305"]
    with county.activate():
        forged = {"directive_id": did, "node": "440305", "version": 99, "as_of": "2026-09-29T10:00:00+08:00",
                  "targets": 2, "delivered": 2, "acknowledged": 2, "reported": 0, "report_totals": {},
                  "truncated": False, "nodes": {"440305001": {"target": True, "status": "acknowledged"},
                                                "330106": {"target": True, "status": "acknowledged"}}}
        from federation.storage import write_tx
        with write_tx(county.db):
            doc = documents.create("directive.progress", channel="directives", origin="440305", dest="440300",
                                   body=forged, keypair=county.keypair, now=county.now())
            outbox.enqueue(replicator(county), "440300", "directives", doc, ["440305"], county.now())
    tree.sync("440305")
    assert any("own subtree" in e for e in quarantined(tree, "440300"))
    assert staff.progress("440300", did)["acknowledged"] == 0


def test_a_county_cannot_issue_to_its_parent(tree, staff):
    resp = staff.call("440305", "POST", "/api/v1/directives",
                      {"title": "t", "body": "b", "severity": "minor", "targets": ["440300"]})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "targets[0]"
    # and a directive pushed upward by hand is refused by the parent
    county = tree.nodes["440305"]
    with county.activate():
        from federation.storage import write_tx
        rep = replicator(county)
        with write_tx(county.db):
            body = {"directive_id": "440305-D20260929-0001", "version": 1, "msg_type": "Alert", "issuer": "440305",
                    "title": "t", "body": "b", "severity": "minor", "urgency": "immediate", "category": "other",
                    "targets": ["*"], "ack_within_minutes": 30, "issued_at": "2026-09-29T10:00:00+08:00",
                    "ack_due_at": "2026-09-29T10:30:00+08:00", "sent_at": "2026-09-29T10:00:00+08:00"}
            doc = documents.create("directive.issue", channel="directives", origin="440305", dest="440305",
                                   body=body, keypair=county.keypair, now=county.now())
            outbox.enqueue(rep, "440300", "directives", doc, ["440305"], county.now())
    tree.sync("440305")
    assert rows(tree, "440300", Directive) == 0
    assert any("travel only down" in e for e in quarantined(tree, "440300"))


def _push_forged(net: Network, sender: str, receiver: str, doc: dict, route: list[str]) -> None:
    node = net.nodes[sender]
    with node.activate():
        from federation.storage import write_tx
        rep = replicator(node)
        with write_tx(node.db):
            outbox.enqueue(rep, receiver, "directives", doc, route, node.now())
    net.sync(sender)


def _forged_body(directive_id: str) -> dict:
    return {"directive_id": directive_id, "version": 1, "msg_type": "Alert", "issuer": "000000",
            "issuer_name": "国家市场监督管理总局", "title": "伪造指令", "body": "x", "severity": "extreme",
            "urgency": "immediate", "category": "other", "targets": ["*"], "ack_within_minutes": 30,
            "issued_at": "2026-09-29T10:00:00+08:00", "ack_due_at": "2026-09-29T10:30:00+08:00",
            "sent_at": "2026-09-29T10:00:00+08:00"}


def test_a_county_claiming_to_be_hq_is_refused(tree):
    county = tree.nodes["440305"]
    # signed with the county's own key, naming HQ as origin
    doc = documents.create("directive.issue", channel="directives", origin="000000", dest="000000",
                           body=_forged_body("000000-D20260929-0999"), keypair=county.keypair, now=county.now())
    _push_forged(tree, "440305", "440305001", doc, ["000000", "440305"])
    assert rows(tree, "440305001", Directive) == 0
    errors = quarantined(tree, "440305001")
    assert errors and "bad_signature" in errors[0]


def test_a_signature_that_does_not_verify_is_refused(tree):
    county, hq = tree.nodes["440305"], tree.nodes["000000"]
    # the county claims HQ's key id but can only sign with its own private key
    fake = fkeys.KeyPair(key_id=hq.keypair.key_id, private=county.keypair.private,
                         public_b64=county.keypair.public_b64)
    unsigned = {"v": 1, "kind": "directive.issue", "id": "forged-1", "channel": "directives", "origin": "000000",
                "dest": "000000", "created_at": county.now().isoformat(), "body": _forged_body("000000-D20260929-0998")}
    _push_forged(tree, "440305", "440305001", sign_document(unsigned, fake), ["000000", "440305"])
    assert rows(tree, "440305001", Directive) == 0
    assert any("bad_signature" in e or "does not match" in e for e in quarantined(tree, "440305001"))


def test_a_relay_cannot_alter_a_directive(tree, staff):
    did = staff.issue("000000", targets=["440305001"])
    settle(tree)
    pref = tree.nodes["440300"]
    with pref.activate():
        original = directives.messages(did)[0]
    altered = json.loads(json.dumps(original))
    altered["body"]["title"] = "被篡改的标题"
    altered["id"] = "altered-1"
    _push_forged(tree, "440300", "440305", altered, ["000000", "440000", "440300"])
    assert any("bad_signature" in e or "does not match" in e for e in quarantined(tree, "440305"))
    assert staff.get("440305", did).get_json()["title"] == "食物中毒应急处置"


def test_acknowledgement_and_report_refusals(tree, staff):
    did = staff.issue("000000", targets=["440305001"])
    settle(tree)
    relay = staff.ack("440300", did)                # a relay on the way, not a target
    assert relay.status_code == 409 and relay.get_json()["error"]["code"] == "not_target"
    assert staff.ack("440305001", did).status_code == 200
    twice = staff.ack("440305001", did)
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_acknowledged"
    # only the issuer updates or cancels
    resp = staff.call("440305", "POST", f"/api/v1/directives/{did}/cancel", {})
    assert resp.status_code == 403
    assert staff.call("000000", "POST", f"/api/v1/directives/{did}/cancel", {"reason": "误报"}).status_code == 200
    settle(tree)
    assert staff.get("440305001", did).get_json()["status"] == "cancelled"
    late = staff.call("440305001", "POST", f"/api/v1/directives/{did}/reports", {"text": "已处置"})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "cancelled"
    assert rows(tree, "440305001", DirectiveReport) == 0
    again = staff.call("000000", "POST", f"/api/v1/directives/{did}/update", {"body": "新要求"})
    assert again.status_code == 409


def test_updates_and_cancel_reach_every_target_and_render_as_cap_there(tree, staff):
    did = staff.issue("000000", targets=["440000/*"], plan="food_poisoning")
    settle(tree)
    resp = staff.call("000000", "POST", f"/api/v1/directives/{did}/update",
                      {"body": "补充：重点排查学校食堂和集体用餐配送单位。", "note": "扩大排查范围"})
    assert resp.status_code == 200
    settle(tree)
    doc = staff.get("440305001", did).get_json()
    assert doc["version"] == 2 and doc["body"].startswith("补充") and doc["plan"]["id"] == "food_poisoning"
    xml = staff.call("440305001", "GET", f"/cap/v1/directives/{did}.xml").data
    cap.validate(xml)
    assert b"<msgType>Update</msgType>" in xml and b"<references>" in xml
    staff.call("000000", "POST", f"/api/v1/directives/{did}/cancel", {"reason": "事件已处置完毕"})
    settle(tree)
    for code in GUANGDONG:
        assert staff.get(code, did).get_json()["status"] == "cancelled"
    xml = staff.call("440305001", "GET", f"/cap/v1/directives/{did}.xml").data
    cap.validate(xml)
    assert b"<msgType>Cancel</msgType>" in xml
    # no overdue list for a cancelled directive
    assert staff.progress("000000", did)["overdue"] == []


def test_acknowledgements_export_as_cap_ack(tree, staff):
    did = staff.issue("000000", targets=["440305001"])
    settle(tree)
    staff.ack("440305001", did, name="赵六", note="已部署")
    settle(tree)
    for code in ("440305001", "440305", "000000"):
        resp = staff.call(code, "GET", f"/cap/v1/directives/{did}/acks/440305001.xml")
        assert resp.status_code == 200, (code, resp.get_data(as_text=True))
        cap.validate(resp.data)
        assert b"<msgType>Ack</msgType>" in resp.data and "赵六".encode() in resp.data
    assert staff.call("000000", "GET", f"/cap/v1/directives/{did}/acks/330106.xml").status_code == 404


def test_reports_flow_up_and_intermediate_nodes_see_their_subtree(tree, staff):
    did = staff.issue("000000", targets=["440300/*"], report_within_minutes=120)
    settle(tree)
    resp = staff.call("440305001", "POST", f"/api/v1/directives/{did}/reports", {
        "text": "检查餐饮单位 8 家，封存可疑食品 15 公斤。", "counts": {"shops_inspected": 8, "goods_sealed_kg": 15},
        "attachments": [{"name": "现场照片.jpg", "size": 204800, "mime_type": "image/jpeg"}], "name": "孙七"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    report = resp.get_json()
    assert report["attachments"][0]["name"] == "现场照片.jpg" and report["reported_by"] == "孙七"
    settle(tree)
    hq = staff.get("000000", did).get_json()
    assert [r["text"] for r in hq["reports"]] == ["检查餐饮单位 8 家，封存可疑食品 15 公斤。"]
    assert hq["progress"]["reported"] == 1 and hq["progress"]["report_totals"]["shops_inspected"] == 8
    # the first report also signed for it
    assert hq["progress"]["nodes"]["440305001"]["status"] == "acknowledged"
    county = staff.progress("440305", did)
    assert set(county["nodes"]) == {"440305", "440305001"} and county["targets"] == 2
    pref = staff.progress("440300", did)
    assert pref["targets"] == 3 and pref["reported"] == 1
    assert len(staff.get("440300", did).get_json()["reports"]) == 1
    assert staff.get("440000", did).get_json()["role_here"] == "relay"
    bad = staff.call("440305", "POST", f"/api/v1/directives/{did}/reports", {"text": "x", "counts": {"n": 1.5}})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "counts.n"


def test_overdue_acknowledgements_raise_escalating_reminders(tree, staff):
    did = staff.issue("000000", targets=["440300/*"], ack_within_minutes=30)
    settle(tree)
    staff.ack("440300", did)
    staff.ack("440305", did)
    settle(tree)
    tree.clock.advance(31 * 60)
    station, county = tree.nodes["440305001"], tree.nodes["440305"]
    with station.activate():
        mine = directives.check_overdue(station)
    with county.activate():
        about_child = directives.check_overdue(county)
    assert [(r["node"], r["level"], r["about"]) for r in mine] == [("440305001", 1, "self")]
    assert [(r["node"], r["level"], r["about"]) for r in about_child] == [("440305001", 1, "child")]
    p = staff.progress("000000", did)
    assert p["overdue"] == ["440305001"] and p["overdue_count"] == 1
    tree.clock.advance(30 * 60)
    with county.activate():
        assert [r["level"] for r in directives.check_overdue(county)] == [2]
        assert directives.check_overdue(county) == []               # idempotent
    reminders = staff.get("440305", did).get_json()["reminders"]
    assert [r["level_name"] for r in reminders] == ["提醒", "催办"]
    staff.ack("440305001", did)
    settle(tree)
    assert staff.progress("000000", did)["overdue"] == []


def test_directive_from_an_especially_urgent_case(tree, staff):
    from tests.node.cases.examples import complaint
    pref = "440300"
    node = tree.nodes[pref]
    with node.activate():
        token = users.add_user("intake1", "intake", node.now())
    headers = {"Authorization": f"Bearer {token}"}
    urgent = complaint(urgency="critical", summary="某学校食堂多名学生就餐后呕吐", category="G0101",
                       description="家长王女士来电，回电13912345678，孩子身份证440305201001011234")
    resp = tree.clients[pref].post("/api/v1/cases", json=urgent, headers=headers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    case_id = resp.get_json()["id"]
    general = tree.clients[pref].post("/api/v1/cases", json=complaint(), headers=headers).get_json()["id"]
    refused = staff.call(pref, "POST", f"/api/v1/directives/from-case/{general}", {})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "urgency"
    resp = staff.call(pref, "POST", f"/api/v1/directives/from-case/{case_id}", {"plan": "food_poisoning"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["case_id"] == case_id and doc["targets"] == ["440305"] and doc["category"] == "food_safety"
    assert doc["plan"]["id"] == "food_poisoning" and "多名学生" in doc["title"]
    # the directive reaches the whole target subtree: numbers typed into the description are starred
    assert "139****5678" in doc["body"] and "13912345678" not in doc["body"]
    assert "440305201001011234" not in doc["body"]
    settle(tree)
    at_county = staff.get("440305", doc["id"]).get_json()
    assert at_county["case_id"] == case_id and at_county["mine"]["target"] is True
    assert staff.get("440305001", doc["id"]).status_code == 404          # the county itself is 属地
    listed = staff.call(pref, "GET", f"/api/v1/directives?case_id={case_id}").get_json()["items"]
    assert [d["id"] for d in listed] == [doc["id"]]


def test_warnings_travel_down_appear_on_public_feeds_and_can_be_withdrawn(tree, staff):
    resp = staff.call("440000", "POST", "/api/v1/warnings",
                      {"kind": "warning", "title": "警惕“职业闭店”预付卡陷阱", "body": "办理预付卡前核实经营者资质。",
                       "category": "consumer_rights"})
    assert resp.status_code == 201
    wid = resp.get_json()["id"]
    settle(tree)
    for code in GUANGDONG:
        feed = tree.clients[code].get("/public/v1/warnings").get_json()["items"]
        assert [w["id"] for w in feed] == [wid], code
    for code in ZHEJIANG + ["000000"]:
        assert tree.clients[code].get("/public/v1/warnings").get_json()["items"] == []
    atom = tree.clients["440305001"].get("/public/v1/warnings.atom")
    assert atom.mimetype == "application/atom+xml" and "预付卡".encode() in atom.data
    page = tree.clients["440305001"].get("/public/")
    assert page.status_code == 200 and "预付卡" in page.get_data(as_text=True)
    assert staff.call("440305001", "POST", f"/api/v1/warnings/{wid}/withdraw", {}).status_code == 403
    assert staff.call("440000", "POST", f"/api/v1/warnings/{wid}/withdraw", {"reason": "已更正"}).status_code == 200
    settle(tree)
    for code in GUANGDONG:
        assert tree.clients[code].get("/public/v1/warnings").get_json()["items"] == []
    xml = tree.clients["440305001"].get(f"/cap/v1/warnings/{wid}.xml").data
    cap.validate(xml)
    assert b"<msgType>Cancel</msgType>" in xml
    assert rows(tree, "330106", PublicWarning) == 0


# -- F22: a directive to every station while 5 % are cut off ----------------------------------
F22_COUNTIES = {"440300": ["440305", "440306"], "440100": ["440103", "440104"]}


@pytest.fixture
def wide(tmp_path, seed, network_db_url):
    """HQ → Guangdong → 2 prefectures → 4 counties → 20 stations (5 per county)."""
    net = Network(tmp_path, seed=seed, db_url_for=network_db_url)
    spec = [("hq", "000000"), ("province", "440000")]
    parents = {"440000": "000000"}
    for pref, counties in F22_COUNTIES.items():
        spec.append(("prefecture", pref))
        parents[pref] = "440000"
        for county in counties:
            spec.append(("county", county))
            parents[county] = pref
            for i in range(1, 6):
                station = f"{county}{i:03d}"
                spec.append(("station", station))
                parents[station] = county
    build(net, spec, parents)
    yield net
    net.close()


def test_f22_directive_to_every_station_while_some_are_cut_off(wide):
    staff = Staff(wide)
    stations = sorted(c for c in wide.nodes if len(c) == 9)
    assert len(stations) == 20
    cut = stations[7]                                # 1 of 20: 5 %
    county = cut[:6]
    wide.partition(county, cut)
    wide.down.add(cut)
    wide.faults["*"] = Faults(drop_request=0.1, duplicate=0.2)
    did = staff.issue("000000", targets=stations)
    settle(wide, faults=True)
    p = staff.progress("000000", did)
    assert (p["targets"], p["delivered"]) == (20, 19)
    for code in stations:
        if code != cut:
            assert staff.ack(code, did).status_code == 200
    settle(wide, faults=True)
    p = staff.progress("000000", did)
    assert (p["targets"], p["delivered"], p["acknowledged"]) == (20, 19, 19)
    assert [c for c, e in p["nodes"].items() if e["status"] != "acknowledged"] == [cut]
    wide.down.discard(cut)
    wide.heal(county, cut)
    settle(wide, faults=True)
    assert staff.ack(cut, did).status_code == 200
    settle(wide, faults=True)
    p = staff.progress("000000", did)
    assert (p["targets"], p["delivered"], p["acknowledged"], p["complete"]) == (20, 20, 20, True)
    assert sorted(p["nodes"]) == stations          # stations only: the relays are not targets
    for code in ("440300", "440305"):
        assert staff.get(code, did).get_json()["role_here"] == "relay"
    with wide.nodes["000000"].activate():
        assert OutboxEntry.select().count() == 0


# -- the CLI (admin_cli/directives.py) over the same homes -------------------------------------
def _cli(home, *args: str):
    from click.testing import CliRunner

    from admin_cli.cli import cli
    return CliRunner().invoke(cli, ["--home", str(home), *args])


def test_cli_issue_show_ack_report(pair):
    county_home = pair.nodes["440305"].config.home
    station_home = pair.nodes["440305001"].config.home
    res = _cli(county_home, "directive", "issue", "--title", "排查集体用餐配送单位", "--body", "立即排查并报告。",
               "--severity", "severe", "--target", "440305001", "--ack-within", "30", "--by", "李局长")
    assert res.exit_code == 0, res.output
    did = res.stdout.strip().splitlines()[-1]
    assert did.startswith("440305-D")
    settle(pair)
    res = _cli(station_home, "directive", "ack", did, "--by", "张三", "--note", "收到")
    assert res.exit_code == 0 and "张三" in res.stdout
    res = _cli(station_home, "directive", "report", did, "--text", "已排查 4 家", "--count", "shops_inspected=4",
               "--attachment", "检查记录.pdf:52000")
    assert res.exit_code == 0, res.output
    settle(pair)
    res = _cli(county_home, "directive", "show", did)
    assert res.exit_code == 0, res.output
    assert "节点代码" in res.stdout and "签收人" in res.stdout and "已签收" in res.stdout and "张三" in res.stdout
    assert "shops_inspected 4" in res.stdout
    doc = json.loads(_cli(county_home, "directive", "show", did, "--json").stdout)
    assert doc["progress"]["acknowledged"] == 1 and doc["reports"][0]["attachments"][0]["size"] == 52000
    listed = json.loads(_cli(county_home, "directive", "list", "--json").stdout)
    assert [d["id"] for d in listed["items"]] == [did]
    cap.validate(_cli(station_home, "directive", "cap", did).stdout.encode("utf-8"))
    plans = json.loads(_cli(county_home, "directive", "plans", "--json").stdout)
    assert {p["id"] for p in plans["items"]} >= {"food_poisoning", "mass_complaint", "product_safety"}


def test_cli_refusals_are_one_line_on_stderr(pair):
    import os
    import subprocess
    import sys
    county_home = pair.nodes["440305"].config.home

    def run(*args: str):
        return subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(county_home), *args],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ))

    for args, fragment, code in ((("directive", "issue", "--body", "b", "--severity", "minor"), "title is required", 2),
                                 (("directive", "issue", "--title", "t", "--body", "b", "--severity", "minor",
                                   "--target", "440300"), "travel only down", 2),
                                 (("directive", "ack", "440305-D20260929-0077"), "no directive", 1)):
        proc = run(*args)
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        assert proc.returncode == code and len(lines) == 1 and fragment in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert rows(pair, "440305", Directive) == 0
