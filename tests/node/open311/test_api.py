"""Open311 GeoReport v2 over the Flask test client (issue 12 item 5; CONTRACT §10): every
endpoint in JSON and XML, a POST registered as a case with channel open311, the reads that
show only those cases and nobody's personal data, the standard error documents — on SQLite
and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from node.cases import load_categories
from node.open311.models import ApiKey
from tests.node.cases.examples import complaint
from tests.node.open311.helpers import BASE, COMPLAINT_FORM, PERSONAL, add_key, parse_xml, post, xml_error

CASES = "/api/v1/cases"


def staff_view(app_client, case_id):
    r = app_client.get(f"{CASES}/{case_id}", role="handler")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def posted_id(resp) -> str:
    assert resp.status_code == 201, resp.get_data(as_text=True)
    if resp.mimetype == "text/xml":
        return parse_xml(resp).findtext("request/service_request_id")
    [created] = resp.get_json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] is None
    return created["service_request_id"]


# -- discovery, services, definitions ---------------------------------------------------------
def test_discovery_names_this_endpoint_in_json_and_xml(app_client):
    doc = app_client.client.get(f"{BASE}/discovery.json").get_json()
    [endpoint] = doc["endpoints"]
    assert endpoint["url"] == "http://440305.test/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert "440305" in doc["contact"]
    root = parse_xml(app_client.client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/url") == "http://440305.test/open311/v2"
    assert {f.text for f in root.findall("endpoints/endpoint/formats/format")} == {"text/xml", "application/json"}


def test_services_are_the_leaves_of_the_category_table(app_client):
    table = load_categories(None)
    leaves = [i["code"] for i in table.items() if not table.children(i["code"])]
    r = app_client.client.get(f"{BASE}/services.json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
    services = r.get_json()
    assert [s["service_code"] for s in services] == leaves
    fridge = next(s for s in services if s["service_code"] == "G0303")
    assert fridge["service_name"] == "家用电器" and fridge["metadata"] is True and fridge["type"] == "realtime"
    assert fridge["group"] == table.name("G03")
    root = parse_xml(app_client.client.get(f"{BASE}/services.xml", query_string={"jurisdiction_id": "440305"}))
    assert root.tag == "services" and {e.tag for e in root} == {"service"}
    assert [e.findtext("service_code") for e in root] == leaves
    assert root.find("service").findtext("metadata") == "true"


def test_service_definition_carries_the_12315_attributes(app_client):
    doc = app_client.client.get(f"{BASE}/services/G0303.json").get_json()
    assert doc["service_code"] == "G0303"
    codes = [a["code"] for a in doc["attributes"]]
    assert codes == ["kind", "respondent_name", "respondent_uscc", "respondent_region_code", "respondent_address",
                     "amount", "demand"]
    kind = doc["attributes"][0]
    assert kind["datatype"] == "singlevaluelist" and kind["variable"] is True and kind["order"] == 1
    assert [v["key"] for v in kind["values"]] == ["complaint", "report", "consultation"]
    root = parse_xml(app_client.client.get(f"{BASE}/services/G0303.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "G0303"
    attrs = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attrs] == codes
    assert [v.findtext("key") for v in attrs[0].findall("values/value")] == ["complaint", "report", "consultation"]
    assert attrs[0].findtext("required") == "false" and attrs[1].findtext("datatype") == "string"


@pytest.mark.parametrize("path", ["services/NOPE.json", "services/NOPE.xml", "requests/440305-20260930-999999.json",
                                  "requests/440305-20260930-999999.xml", "services.json?jurisdiction_id=110000",
                                  "requests.xml?jurisdiction_id=110000", "services.html"])
def test_unknown_service_request_jurisdiction_or_format_is_a_404_error_document(app_client, path):
    r = app_client.client.get(f"{BASE}/{path}")
    assert r.status_code == 404
    if ".json" in path:
        [err] = r.get_json()
        assert err["code"] == 404 and err["description"]
    else:
        code, description = xml_error(r)
        assert code == 404 and description


# -- POST: a request becomes a case -----------------------------------------------------------
def test_a_posted_complaint_is_a_case_with_channel_open311(app_client):
    key = add_key(app_client.node, "civic-app")
    cid = posted_id(post(app_client, COMPLAINT_FORM, key))
    case = staff_view(app_client, cid)
    assert case["channel"] == "open311" and case["kind"] == "complaint" and case["category"] == "G0303"
    assert case["summary"] == "新买的冰箱不制冷，商家拒绝退货"
    assert case["description"] == COMPLAINT_FORM["description"]
    assert case["complainant"]["name"] == "张三" and case["complainant"]["phone"] == "13800000000"
    assert case["complainant"]["email"] == "zhangsan@example.cn"
    assert case["complainant"]["address"] == COMPLAINT_FORM["address_string"]
    assert case["respondent"] == {"name": "深圳市某某电器有限公司", "uscc": "914403001922038216",
                                  "region_code": "440305", "address": "深圳市南山区粤海街道 8 号"}
    assert case["amount"] == "1299.00" and case["status"] == "registered"
    assert case["history"][0]["actor"] == "open311:civic-app"


def test_without_name_phone_and_address_it_is_a_consultation(app_client):
    key = add_key(app_client.node)
    cid = posted_id(post(app_client, {"service_code": "S0301", "description": "网购七天无理由退货怎么算？"}, key))
    case = staff_view(app_client, cid)
    assert case["kind"] == "consultation" and case["respondent"] is None and case["complainant"] is None


def test_an_anonymous_report_with_lat_long_and_media(app_client):
    key = add_key(app_client.node)
    cid = posted_id(post(app_client, {"service_code": "G0101", "description": "某超市销售过期酸奶",
                                      "attribute[kind]": "report", "lat": "22.54", "long": "113.93",
                                      "media_url": "https://example.cn/p.jpg"}, key, "xml"))
    case = staff_view(app_client, cid)
    assert case["kind"] == "report" and case["complainant"]["anonymous"] is True
    assert case["respondent"]["region_code"] == "440305"      # the county node's own division by default
    assert "22.54,113.93" in case["description"] and "https://example.cn/p.jpg" in case["description"]


def test_post_answers_xml_in_the_standard_shape(app_client):
    key = add_key(app_client.node)
    r = post(app_client, COMPLAINT_FORM, key, "xml")
    assert r.status_code == 201
    root = parse_xml(r)
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    req = root.find("request")
    assert [e.tag for e in req] == ["service_request_id", "service_notice", "account_id"]
    assert req.findtext("service_request_id").startswith("440305-")
    assert "投诉" in req.findtext("service_notice") and req.findtext("account_id") == ""


def _no_change(app_client, before):
    assert app_client.count_rows() == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("change, status, field", [
    ({"service_code": None}, 400, "service_code"),
    ({"service_code": "NOPE"}, 404, "service_code"),
    ({"description": None}, 400, "description"),
    ({"description": "   "}, 400, "description"),
    ({"phone": None, "attribute[kind]": "complaint"}, 400, "phone"),   # Order 20 Art. 9
    ({"attribute[kind]": "praise"}, 400, "attribute[kind]"),
    ({"attribute[colour]": "red"}, 400, "attribute[colour]"),
    ({"attribute[respondent_region_code]": "999999"}, 400, "attribute[respondent_region_code]"),
    ({"attribute[respondent_uscc]": "123"}, 400, "attribute[respondent_uscc]"),
    ({"attribute[amount]": "12.345"}, 400, "attribute[amount]"),
    ({"email": "not-an-address"}, 400, "email"),
    ({"lat": "95", "long": "113"}, 400, "lat"),
    ({"jurisdiction_id": "110000"}, 404, "110000"),
    ({"api_key": None}, 400, "api_key"),
    ({"api_key": "o311_wrong"}, 403, "api_key"),
], ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(v))
def test_bad_input_is_a_standard_error_document_and_stores_nothing(app_client, fmt, change, status, field):
    key = add_key(app_client.node)
    form = {**COMPLAINT_FORM, "api_key": key, **change}
    form = {k: v for k, v in form.items() if v is not None}
    before = app_client.count_rows()
    r = post(app_client, form, None, fmt)
    assert r.status_code == status
    if fmt == "json":
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        [err] = r.get_json()
        code, description = err["code"], err["description"]
    else:
        code, description = xml_error(r)
    assert code == status and field in description
    assert "Traceback" not in r.get_data(as_text=True)
    _no_change(app_client, before)


def test_a_revoked_key_is_refused(app_client):
    from node.open311 import keys
    key = add_key(app_client.node, "old-app")
    posted_id(post(app_client, COMPLAINT_FORM, key))
    with app_client.node.activate():
        keys.revoke_key("old-app", app_client.node.now())
    before = app_client.count_rows()
    r = post(app_client, COMPLAINT_FORM, key)
    assert r.status_code == 403 and r.get_json()[0]["code"] == 403
    _no_change(app_client, before)


def test_only_the_hash_of_a_key_is_stored(app_client):
    key = add_key(app_client.node, "hash-check")
    with app_client.node.activate():
        rows = list(ApiKey.select().dicts())
    assert key not in json.dumps(rows, default=str)
    assert len(rows[0]["key_hash"]) == 64


def test_a_script_in_the_description_is_stored_as_text_and_escaped_in_xml(app_client):
    key = add_key(app_client.node)
    script = '<script>alert("x")</script> & <b>'
    cid = posted_id(post(app_client, COMPLAINT_FORM, key, description=f"冰箱不制冷 {script}"))
    assert staff_view(app_client, cid)["description"] == f"冰箱不制冷 {script}"
    r = app_client.client.get(f"{BASE}/requests/{cid}.xml")
    body = r.get_data()
    assert b"<script>" not in body and b"<b>" not in body
    assert b"&lt;script&gt;" in body
    assert parse_xml(r).findtext("request/description") == f"冰箱不制冷 {script}"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# -- GET: what is published -------------------------------------------------------------------
def test_requests_show_only_open311_cases_and_no_personal_data(app_client):
    key = add_key(app_client.node)
    cid = posted_id(post(app_client, COMPLAINT_FORM, key))
    phone_case = app_client.post(CASES, complaint()).get_json()["id"]      # the hotline's case
    for fmt in ("json", "xml"):
        listed = app_client.client.get(f"{BASE}/requests.{fmt}")
        one = app_client.client.get(f"{BASE}/requests/{cid}.{fmt}")
        for r in (listed, one):
            assert r.status_code == 200
            text = r.get_data(as_text=True)
            assert cid in text and phone_case not in text
            for secret in PERSONAL:
                assert secret not in text, (fmt, secret)
    assert app_client.client.get(f"{BASE}/requests/{phone_case}.json").status_code == 404
    [req] = app_client.client.get(f"{BASE}/requests.json").get_json()
    assert req["service_request_id"] == cid and req["status"] == "open"
    assert req["service_code"] == "G0303" and req["service_name"] == "家用电器"
    assert req["agency_responsible"] == "深圳市南山区市场监督管理局"
    assert req["address"] == "深圳市南山区粤海街道 8 号"                   # where the business is
    assert req["status_notes"].startswith("已登记")
    assert req["requested_datetime"] == "2026-09-30T09:00:00+08:00"
    assert req["updated_datetime"] == "2026-09-30T09:00:00+08:00"
    case = staff_view(app_client, cid)
    assert req["expected_datetime"] == f"{case['deadlines']['accept_by']}T23:59:59+08:00"
    root = parse_xml(app_client.client.get(f"{BASE}/requests/{cid}.xml"))
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    assert root.findtext("request/status") == "open" and root.findtext("request/expected_datetime") == \
        req["expected_datetime"]


def test_a_concluded_case_is_closed_with_its_outcome(app_client):
    key = add_key(app_client.node)
    cid = posted_id(post(app_client, COMPLAINT_FORM, key))
    url = f"{CASES}/{cid}/actions"
    assert app_client.post(url, {"action": "accept", "mode": "mediation"}, role="handler").status_code == 200
    [req] = app_client.client.get(f"{BASE}/requests/{cid}.json").get_json()
    assert req["status"] == "open" and req["status_notes"].startswith("已受理")
    app_client.clock.advance(days=3)
    r = app_client.post(url, {"action": "conclude", "outcome": "settled", "amount_recovered": "800"}, role="handler")
    assert r.status_code == 200, r.get_json()
    [req] = app_client.client.get(f"{BASE}/requests/{cid}.json").get_json()
    assert req["status"] == "closed" and req["status_notes"] == "已办结（和解） / concluded (settled)"
    assert req["expected_datetime"] is None
    assert req["updated_datetime"] == "2026-10-03T09:00:00+08:00"
    assert [r["service_request_id"] for r in
            app_client.client.get(f"{BASE}/requests.json", query_string={"status": "closed"}).get_json()] == [cid]
    assert app_client.client.get(f"{BASE}/requests.json", query_string={"status": "open"}).get_json() == []


def test_request_filters(app_client):
    key = add_key(app_client.node)
    first = posted_id(post(app_client, COMPLAINT_FORM, key))
    app_client.clock.advance(days=10)
    second = posted_id(post(app_client, {"service_code": "S0301", "description": "咨询退货规则"}, key))
    third = posted_id(post(app_client, {"service_code": "S0301", "description": "再问一次"}, key))

    def ids(**query):
        r = app_client.client.get(f"{BASE}/requests.json", query_string=query)
        assert r.status_code == 200, r.get_data(as_text=True)
        return [x["service_request_id"] for x in r.get_json()]

    assert ids() == [third, second, first]                              # newest first
    assert ids(service_request_id=f"{first},{third},440305-20260101-000009") == [third, first]
    assert ids(service_code="S0301") == [third, second]
    assert ids(service_code="G0303,S0301") == [third, second, first]
    assert ids(start_date="2026-10-05T00:00:00+08:00") == [third, second]
    assert ids(end_date="2026-10-05T00:00:00Z") == [first]
    assert ids(start_date="2026-09-30", end_date="2026-09-30") == [first]  # a date is its whole Shanghai day
    assert ids(status="open,closed") == [third, second, first]
    # default: the last 90 days
    app_client.clock.advance(days=85)
    assert ids() == [third, second]
    # service_request_id overrides every other filter
    assert ids(service_request_id=first, service_code="S0301") == [first]


@pytest.mark.parametrize("query, field", [
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-09-30T10:00:00"}, "end_date"),                    # no offset
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "end_date"),  # > 90 days
    ({"start_date": "2026-09-30T00:00:00Z", "end_date": "2026-09-01T00:00:00Z"}, "end_date"),
    ({"status": "pending"}, "status"),
    ({"service_code": "NOPE"}, "service_code"),
])
def test_bad_filters_are_400_naming_the_field(app_client, query, field):
    r = app_client.client.get(f"{BASE}/requests.xml", query_string=query)
    assert r.status_code == 400
    code, description = xml_error(r)
    assert code == 400 and description.startswith(field)


def test_at_most_1000_requests(app_client, monkeypatch):
    from node.open311 import service_requests
    monkeypatch.setattr(service_requests, "MAX_ROWS", 2)
    key = add_key(app_client.node)
    made = [posted_id(post(app_client, {"service_code": "S0301", "description": f"问题 {i}"}, key)) for i in range(3)]
    assert [x["service_request_id"] for x in app_client.client.get(f"{BASE}/requests.json").get_json()] == \
        made[:0:-1]


def test_an_unexpected_error_is_a_500_error_document_without_traceback(app_client, monkeypatch):
    from node.open311 import catalog

    def broken(node):
        raise RuntimeError("boom /secret/path.py")
    monkeypatch.setattr(catalog, "services", broken)
    r = app_client.client.get(f"{BASE}/services.json")
    assert r.status_code == 500
    [err] = r.get_json()
    assert err["code"] == 500 and "boom" not in err["description"] and "Traceback" not in r.get_data(as_text=True)


def test_every_open311_route_is_described_in_openapi(app_client):
    from node.open311 import openapi
    from node.web.openapi import rule_to_path, spec
    served = {(rule_to_path(r.rule), m.lower()) for r in app_client.app.url_map.iter_rules()
              if r.rule.startswith(BASE) for m in r.methods - {"HEAD", "OPTIONS"}}
    doc = spec(describers=[openapi.describe])
    described = {(p, m) for p, ops in doc["paths"].items() if p.startswith(BASE) for m in ops}
    assert served == described


def test_default_window_edge(app_client):
    """A request exactly 90 days old is still in the default window; a second older is not."""
    key = add_key(app_client.node)
    cid = posted_id(post(app_client, {"service_code": "S0301", "description": "窗口边界"}, key))
    app_client.clock.advance(days=90)
    assert [x["service_request_id"] for x in app_client.client.get(f"{BASE}/requests.json").get_json()] == [cid]
    app_client.clock.set(app_client.clock.now + timedelta(seconds=1))
    assert app_client.client.get(f"{BASE}/requests.json").get_json() == []


def test_a_body_over_the_limit_is_a_413_error_document(app_client):
    key = add_key(app_client.node)
    before = app_client.count_rows()
    big = "长" * (app_client.node.config.max_body_bytes // 3 + 10)
    r = post(app_client, COMPLAINT_FORM, key, "xml", description=big)
    assert r.status_code == 413
    assert xml_error(r)[0] == 413
    _no_change(app_client, before)
