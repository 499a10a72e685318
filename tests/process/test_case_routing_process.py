"""Case routing over real processes (issue 4 "done when"): the eight-node demo tree of
``n12315 serve`` on 127.0.0.1, initialised and linked through the CLI (``admin_cli.demo``),
driven through the staff API only.

* a phone complaint taken at the province reaches the county and its conclusion returns;
* a Nanshan complaint about a Hangzhou Xihu firm reaches Xihu through HQ, its result returns;
* a county offline while 30 cases are taken for it gets each exactly once;
* a supervisor at the prefecture sees an overdue case of its county.
"""
from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from admin_cli.demo import TREE, Federation, free_ports

pytestmark = [pytest.mark.process, pytest.mark.timeout(900)]

SHANGHAI = timezone(timedelta(hours=8))




@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    base = tmp_path_factory.mktemp("routing")
    f = Federation(base, 0, tree=TREE, log=lambda s: None,
                   env={"N12315_DEADLINES__OVERDUE_CHECK_INTERVAL_S": "1"})
    for n, port in zip(f.nodes.values(), free_ports(len(f.nodes)), strict=True):
        n.port = port
    try:
        f.init_all(roles=("admin", "intake", "handler", "supervisor"))
        f.start_all()
        f.link_all()
        yield f
    finally:
        f.stop_all()


def complaint(region: str, name: str, summary: str, *, channel: str = "phone", received_at: str | None = None
              ) -> dict[str, Any]:
    body = {"kind": "complaint", "channel": channel, "category": "S0304", "summary": summary,
            "description": "真实进程测试 / real-process test",
            "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区"},
            "respondent": {"name": name, "region_code": region, "address": ""}}
    if received_at:
        body["received_at"] = received_at
    return body


def create(fed: Federation, code: str, body: dict[str, Any]) -> dict[str, Any]:
    r = fed.api(code, "POST", "/api/v1/cases", role="intake", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def act(fed: Federation, code: str, case_id: str, role: str = "handler", expect: int = 200, **payload: Any):
    r = fed.api(code, "POST", f"/api/v1/cases/{case_id}/actions", role=role, json=payload)
    assert r.status_code == expect, r.text
    return r.json()


def wait_case(fed: Federation, code: str, case_id: str, pred, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        r = fed.api(code, "GET", f"/api/v1/cases/{case_id}")
        if r.status_code == 200:
            last = r.json()
            if pred(last):
                return last
        time.sleep(0.1)
    raise AssertionError(f"{case_id} at {code}: condition not met; last seen {last}")


def test_phone_complaint_at_the_province_reaches_the_county_and_the_conclusion_returns(fed):
    cid = create(fed, "440000", complaint("440305", "深圳市南山区某餐饮店", "外卖异物"))["id"]
    case = wait_case(fed, "440305", cid, lambda c: c["held_as"] == "handler")
    assert case["accepting_node"] == "440000" and case["custody"][-1]["via"] == ["440300"]
    act(fed, "440305", cid, action="accept")
    act(fed, "440305", cid, action="conclude", outcome="mediated", amount_recovered="30.00")
    back = wait_case(fed, "440000", cid, lambda c: c["status"] == "concluded")
    assert back["amount_recovered"] == "30.00" and back["held_as"] == "copy"
    wait_case(fed, "440300", cid, lambda c: c["status"] == "concluded")


def test_nanshan_complaint_about_a_xihu_firm_reaches_xihu_through_hq_and_returns(fed):
    cid = create(fed, "440305", complaint("330106", "杭州市西湖区某服饰有限公司", "羽绒服含绒量不符",
                                          channel="web"))["id"]
    case = wait_case(fed, "330106", cid, lambda c: c["held_as"] == "handler")
    assert case["id"] == cid and "000000" in case["custody"][-1]["via"]
    act(fed, "330106", cid, action="accept")
    act(fed, "330106", cid, action="conclude", outcome="settled")
    wait_case(fed, "440305", cid, lambda c: c["status"] == "concluded" and c["outcome"]["outcome"] == "settled")
    wait_case(fed, "000000", cid, lambda c: c["status"] == "concluded")


def test_a_county_offline_while_30_cases_are_taken_for_it_gets_each_exactly_once(fed):
    fed.stop("440305", signal.SIGKILL)
    made = [create(fed, "440000", complaint("440305", "南山某店", f"离线期间第 {i} 件"))["id"] for i in range(30)]
    time.sleep(1.0)
    fed.start("440305")
    fed.wait_healthy("440305")
    deadline = time.monotonic() + 120
    handled: list[str] = []
    while time.monotonic() < deadline:
        r = fed.api("440305", "GET", "/api/v1/cases?held_as=handler&accepting_node=440000&limit=200")
        handled = [c["id"] for c in r.json()["items"] if c["id"] in made]
        if len(handled) == len(made):
            break
        time.sleep(0.3)
    assert sorted(handled) == sorted(made)
    for cid in made:
        case = fed.api("440305", "GET", f"/api/v1/cases/{cid}").json()
        assert [e["action"] for e in case["history"]].count("receive") == 1, case["history"]


def test_a_supervisor_at_the_prefecture_sees_an_overdue_case_of_its_county(fed):
    received = (datetime.now(SHANGHAI) - timedelta(days=30)).replace(microsecond=0).isoformat()
    cid = create(fed, "440305", complaint("440305", "南山某健身房", "预付卡闭店", channel="visit",
                                          received_at=received))["id"]
    wait_case(fed, "440305", cid, lambda c: c["overdue"], timeout=60)
    deadline = time.monotonic() + 60
    ids: list[str] = []
    while time.monotonic() < deadline:
        r = fed.api("440300", "GET", "/api/v1/cases?overdue=true&limit=200", role="supervisor")
        assert r.status_code == 200
        ids = [c["id"] for c in r.json()["items"]]
        if cid in ids:
            break
        time.sleep(0.2)
    assert cid in ids
    # and urges it: recorded at the county, back at the prefecture
    assert act(fed, "440300", cid, role="supervisor", expect=202, action="urge", note="请尽快办理")["proposal"]
    wait_case(fed, "440305", cid, lambda c: any(e["action"] == "urge" for e in c["history"]))
    wait_case(fed, "440300", cid, lambda c: any(e["action"] == "urge" for e in c["history"]))
