"""Independent Open311 client libraries, unmodified from PyPI, against a real waitress server on
127.0.0.1 (issue 12 item 5 "an unmodified client lists services, posts a request, reads it
back").

* ``civicbot`` 0.4.0 (``civicbot.Open311Client``, JSON) — the one Python 3 client on PyPI that
  can POST: it lists the services, reads the definition and checks the attributes against it
  (``validate_remote``), posts the request and reads it back singly and in the list.
* ``georeport`` 0.3.1 (``georeport.GeoReport``, read-only) — reads the same things in XML,
  parsed by ``xmltodict``, so the XML shape is checked by code we did not write.

(``open311`` 1.1 and ``three`` 0.8.0, the Code for America clients, are Python 2 only:
implicit relative imports, ``itertools.ifilter``; they do not import on Python 3.11.)
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from civicbot import Endpoint, HttpError, HttpTransport, Open311Client
from civicbot.http import RateLimiter
from georeport import GeoReport

from tests.node.open311.helpers import COMPLAINT_FORM, PERSONAL, add_key


@pytest.fixture
def served(app_client) -> Iterator[str]:
    """The node's app behind waitress on a free port of 127.0.0.1: the Open311 base URL."""
    from waitress import create_server
    server = create_server(app_client.app, host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            # closing the listening socket from this thread can land while the loop sits in
            # select() on it (EBADF): expected at shutdown only, a fault at any other time
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/open311/v2"
    finally:
        stopping.set()
        server.task_dispatcher.shutdown()
        server.close()
        thread.join(timeout=10)


def civic_client(base: str) -> Open311Client:
    endpoint = Endpoint(id="n12315-440305", name="深圳市南山区", base_url=base, write=True)
    # the library waits 0.5 s between calls to one host by default (politeness to cities)
    transport = HttpTransport(rate_limiter=RateLimiter(min_interval=0.0))
    return Open311Client(endpoint, transport=transport, jurisdiction_id="440305")


def attributes() -> dict[str, str]:
    return {k[len("attribute["):-1]: v for k, v in COMPLAINT_FORM.items() if k.startswith("attribute[")}


def test_civicbot_lists_posts_and_reads_back(app_client, served):
    key = add_key(app_client.node, "civicbot")
    client = civic_client(served)
    services = client.list_services()
    assert "G0303" in {s["service_code"] for s in services}
    definition = client.get_service_definition("G0303")
    assert {a["code"] for a in definition["attributes"]} >= {"kind", "respondent_region_code"}
    prepared = client.create_request(
        "G0303", dry_run=False, confirm="SEND", api_key=key, validate_remote=True,
        description=COMPLAINT_FORM["description"], first_name="三", last_name="张", phone="13800000000",
        email="zhangsan@example.cn", address_string=COMPLAINT_FORM["address_string"],
        attributes={**attributes(), "kind": "complaint"})
    [created] = prepared.response
    request_id = created["service_request_id"]
    assert request_id.startswith("440305-") and "投诉" in created["service_notice"]

    one = client.get_request(request_id)
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert one["service_code"] == "G0303" and one["agency_responsible"] == "深圳市南山区市场监督管理局"
    listed = client.list_requests(service_request_ids=[request_id])
    assert [r["service_request_id"] for r in listed] == [request_id]
    assert [r["service_request_id"] for r in client.list_requests(service_code="G0303", status="open")] == \
        [request_id]
    for secret in PERSONAL:
        assert secret not in str(one) and secret not in str(listed)

    case = app_client.get(f"/api/v1/cases/{request_id}", role="handler").get_json()
    assert case["channel"] == "open311" and case["complainant"]["name"] == "张三"


def test_civicbot_sees_a_bad_key_refused_with_the_error_document(app_client, served):
    add_key(app_client.node, "real")
    client = civic_client(served)
    before = app_client.count_rows()
    with pytest.raises(HttpError) as refused:
        client.create_request("G0303", dry_run=False, confirm="SEND", api_key="o311_not-a-key",
                              description="冰箱坏了", address_string="深圳")
    assert refused.value.status == 403 and '"code":403' in refused.value.body
    assert app_client.count_rows() == before


def test_georeport_reads_the_xml(app_client, served):
    key = add_key(app_client.node, "poster")
    posted = civic_client(served).create_request(
        "S0301", dry_run=False, confirm="SEND", api_key=key, description="网购七天无理由退货如何计算？",
        address_string="深圳市南山区")
    request_id = posted.response[0]["service_request_id"]

    xml_client = GeoReport(served, jurisdiction="440305", output_format="xml")
    services = xml_client.get_service_list()
    assert [s["service_code"] for s in services] == \
        [s["service_code"] for s in app_client.client.get("/open311/v2/services.json").get_json()]
    definition = xml_client.get_service_definition("S0301")
    assert definition["service_code"] == "S0301"
    kind = definition["attributes"]["attribute"][0]
    assert kind["code"] == "kind" and [v["key"] for v in kind["values"]["value"]] == \
        ["complaint", "report", "consultation"]
    one = xml_client.get_service_request(request_id)        # one <request>: xmltodict gives a dict
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert one["service_name"] == "网络购物" and one["requested_datetime"].endswith("+08:00")
    listed = xml_client.get_service_requests(service_code="S0301")
    assert listed["service_request_id"] == request_id

    json_client = GeoReport(served, jurisdiction="440305")
    assert json_client.get_service_request(request_id)["service_request_id"] == request_id
