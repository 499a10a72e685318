"""CAP 1.2 renderings validate against the OASIS schema (CONTRACT §6; R3.1, R4.4, R6.4).

Every rendering the node produces — a directive's Alert, Update and Cancel, an
acknowledgement as Ack, a public warning and its withdrawal — is checked with ``xmlschema``
against ``node/data/cap/CAP-v1.2.xsd`` (a copy of ``shared/data/cap/CAP-v1.2.xsd``), and
so are the endpoints. Timestamps carry ``+08:00``, never ``Z``; areas carry geocodes.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC
from pathlib import Path

import pytest

from node.directives import cap

NS = {"cap": cap.NS}
CONTENT = {
    "directive_id": "000000-D20260929-0001", "version": 1, "msg_type": "Alert", "issuer": "000000",
    "issuer_name": "国家市场监督管理总局", "issued_by": "李四", "title": "食物中毒应急处置",
    "body": "请立即处置。", "severity": "severe", "urgency": "immediate", "certainty": "observed",
    "category": "food_safety", "targets": ["440000/*", "440305001"], "ack_within_minutes": 30,
    "report_within_minutes": 120, "issued_at": "2026-09-29T10:00:00+08:00", "sent_at": "2026-09-29T10:00:00+08:00",
    "ack_due_at": "2026-09-29T10:30:00+08:00", "report_due_at": "2026-09-29T12:00:00+08:00",
    "plan": {"id": "food_poisoning", "version": 1, "event_type": "食物中毒事件",
             "steps": [{"order": 1, "title": "签收", "detail": "签收并赶赴现场", "within_minutes": 30}]},
    "case_id": "440305-20260929-000001", "exercise": False,
}
AREAS = [{"desc": "广东省（含下级）", "codes": ["440000"]}, {"desc": "粤海所", "codes": ["440305001"]}]


def parse(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def times(xml: bytes) -> list[str]:
    root = parse(xml)
    return [el.text or "" for el in root.iter() if el.tag.split("}")[1] in ("sent", "effective", "onset", "expires")]


def test_the_schema_is_the_shared_copy():
    shared = Path(__file__).resolve().parents[4] / "shared" / "data" / "cap" / "CAP-v1.2.xsd"
    if not shared.exists():
        pytest.skip("shared reference data not present")
    assert hashlib.sha256(cap.XSD_PATH.read_bytes()).hexdigest() == hashlib.sha256(shared.read_bytes()).hexdigest()


def test_alert_is_valid_with_offset_times_and_geocodes():
    xml = cap.directive_alert(CONTENT, [{"version": 1, "sent_at": CONTENT["sent_at"]}], AREAS)
    cap.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:identifier", namespaces=NS) == "000000-D20260929-0001"
    assert root.find("cap:references", NS) is None
    assert root.findtext("cap:incidents", namespaces=NS) == "440305-20260929-000001"
    assert all(t.endswith("+08:00") for t in times(xml)) and b"Z<" not in xml
    codes = [(g.findtext("cap:valueName", namespaces=NS), g.findtext("cap:value", namespaces=NS))
             for g in root.iter(f"{{{cap.NS}}}geocode")]
    assert codes == [("GB/T2260", "440000"), ("n12315-station", "440305001")]
    info = root.find("cap:info", NS)
    assert info.findtext("cap:category", namespaces=NS) == "Health"
    assert info.findtext("cap:event", namespaces=NS) == "食物中毒事件"
    assert "签收并赶赴现场" in info.findtext("cap:instruction", namespaces=NS)


def test_update_and_cancel_reference_the_earlier_messages():
    history = [{"version": 1, "sent_at": "2026-09-29T10:00:00+08:00"},
               {"version": 2, "sent_at": "2026-09-29T10:20:00+08:00"},
               {"version": 3, "sent_at": "2026-09-29T11:00:00+08:00"}]
    update = {**CONTENT, "version": 2, "msg_type": "Update", "sent_at": "2026-09-29T10:20:00+08:00", "note": "补充"}
    xml = cap.directive_alert(update, history, AREAS)
    cap.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:msgType", namespaces=NS) == "Update"
    assert root.findtext("cap:identifier", namespaces=NS) == "000000-D20260929-0001-v2"
    assert root.findtext("cap:references", namespaces=NS) == \
        "n12315:000000,000000-D20260929-0001,2026-09-29T10:00:00+08:00"
    cancel = {**update, "version": 3, "msg_type": "Cancel", "sent_at": "2026-09-29T11:00:00+08:00", "reason": "误报"}
    xml = cap.directive_alert(cancel, history, AREAS)
    cap.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert len(root.findtext("cap:references", namespaces=NS).split(" ")) == 2
    assert "误报" in root.findtext("cap:note", namespaces=NS)


def test_ack_message_is_valid():
    xml = cap.ack_alert(CONTENT, "440305001", "粤海所", "2026-09-29T02:10:00+00:00", "张三", "收到",
                        [{"version": 1, "sent_at": CONTENT["sent_at"]}])
    cap.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:msgType", namespaces=NS) == "Ack"
    assert root.findtext("cap:sent", namespaces=NS) == "2026-09-29T10:10:00+08:00"
    assert root.findtext("cap:sender", namespaces=NS) == "n12315:440305001"
    assert "张三" in root.findtext("cap:note", namespaces=NS)


def test_warning_and_its_withdrawal_are_valid():
    w = {"id": "440000-W20260929-abcd1234", "issuer": "440000", "issuer_name": "广东省市场监督管理局",
         "kind": "warning", "kind_name": "消费警示", "title": "谨慎购买预付卡", "body": "……",
         "category": "consumer_rights", "severity": "minor", "published_at": "2026-09-29T10:00:00+08:00",
         "expires_at": "2026-12-31T23:59:59+08:00", "status": "published"}
    area = [{"desc": "广东省", "codes": ["440000"]}]
    xml = cap.warning_alert(w, area)
    cap.validate(xml)
    assert parse(xml).findtext("cap:scope", namespaces=NS) == "Public"
    xml = cap.warning_alert({**w, "status": "withdrawn", "withdrawn_at": "2026-09-30T10:00:00+08:00",
                             "withdraw_reason": "已过时"}, area)
    cap.validate(xml)
    assert parse(xml).findtext("cap:msgType", namespaces=NS) == "Cancel"


@pytest.mark.parametrize("mutate,where", [
    (lambda x: x.replace(b"2026-09-29T10:00:00+08:00</sent>", b"2026-09-29T02:00:00Z</sent>"), "sent"),
    (lambda x: x.replace(b"<msgType>Alert</msgType>", b"<msgType>Order</msgType>"), "msgType"),
    (lambda x: re.sub(rb"<urgency>.*?</urgency>", b"", x), "urgency"),
])
def test_the_validator_catches_what_the_schema_forbids(mutate, where):
    xml = cap.directive_alert(CONTENT, [], AREAS)
    with pytest.raises(cap.CapError):
        cap.validate(mutate(xml))


def test_cap_time_never_uses_z():
    from datetime import datetime
    assert cap.cap_time(datetime(2026, 9, 29, 16, 30, 5, 123456, tzinfo=UTC)) == "2026-09-30T00:30:05+08:00"


def test_endpoints_render_valid_cap(app_client):
    did = app_client.post("/api/v1/directives", json={"plan": "mass_complaint", "targets": ["440305001"]},
                          role="leader").get_json()["id"]
    app_client.post(f"/api/v1/directives/{did}/update", json={"severity": "severe", "note": "规模扩大"}, role="leader")
    app_client.post(f"/api/v1/directives/{did}/cancel", json={"reason": "已平息"}, role="leader")
    types = []
    for path in (f"/cap/v1/directives/{did}.xml", f"/cap/v1/directives/{did}/v1.xml",
                 f"/cap/v1/directives/{did}/v2.xml", f"/cap/v1/directives/{did}/v3.xml"):
        resp = app_client.get(path, role="analyst")
        assert resp.status_code == 200 and resp.mimetype == "application/cap+xml"
        cap.validate(resp.data)
        types.append(parse(resp.data).findtext("cap:msgType", namespaces=NS))
    assert types == ["Cancel", "Alert", "Update", "Cancel"]
    assert app_client.get(f"/cap/v1/directives/{did}.xml", role=None).status_code == 401   # internal orders
    assert app_client.get(f"/cap/v1/directives/{did}/v9.xml", role="leader").status_code == 404
    wid = app_client.post("/api/v1/warnings", json={"title": "警惕低价旅游", "body": "……"}, role="leader").get_json()["id"]
    resp = app_client.get(f"/cap/v1/warnings/{wid}.xml", role=None)      # public
    assert resp.status_code == 200
    cap.validate(resp.data)
