"""Masking by role on the desk, in a real browser (issue 13 item 3; docs/privacy-access.md).

A county node served by a real ``n12315 serve``; an intake operator registers a complaint over
the API; a supervisor opens the case page and reads the complainant masked, clicks
"查看完整信息", is asked for a reason, types it and sees the phone in full; the node's audit log
then holds one ``pii.read`` naming the supervisor, the case and the reason. Screenshots:
``docs/desk/case-masked.png``, ``docs/desk/case-shown-in-full.png``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.conftest import (
    _cli,
    _require_browser,
    click,
    element,
    open_page,
    shot,
    sign_in,
    sign_out,
    start_federation,
    wait_for,
)
from tests.node.cases.examples import complaint

pytestmark = [pytest.mark.browser, pytest.mark.process, pytest.mark.timeout(300)]

COUNTY = "440305"
REASON = "投诉人反映办理不当，督办核实联系方式"


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Iterator[Any]:
    _require_browser()
    fed = start_federation(tmp_path_factory.mktemp("masking"), [("county", COUNTY, "深圳市南山区市场监督管理局", None)],
                           {COUNTY: ("intake", "handler", "supervisor")})
    try:
        yield fed.nodes[COUNTY]
    finally:
        fed.stop_all()


def phone_shown(driver: Any) -> str:
    facts = driver.find_elements(By.CSS_SELECTOR, "#complaint-form dl.facts div")
    return next(d.find_element(By.TAG_NAME, "dd").text for d in facts
                if d.find_element(By.TAG_NAME, "dt").text == "联系电话")


def test_a_supervisor_reads_masked_and_opens_in_full_with_a_reason(browser, county):
    resp = requests.post(county.url + "/api/v1/cases", json=complaint(),
                         headers={"Authorization": f"Bearer {county.tokens['intake']}"}, timeout=30)
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["id"]
    driver = browser()

    sign_in(driver, county.url, "supervisor")
    open_page(driver, f"{county.url}/desk/cases/{case_id}")
    assert phone_shown(driver) == "138****0000"
    assert "13800000000" not in driver.page_source and "张三" not in driver.page_source
    shot(driver, "case-masked")

    reason = element(driver, "#f-reason", "the reason field")
    assert not reason.is_displayed(), "the reason form shows before 查看完整信息 is clicked"
    click(driver, "#show-personal", "查看完整信息")
    wait_for(driver, "the reason field to open", lambda d: reason.is_displayed())
    click(driver, "#personal-submit", "查看完整信息 without a reason")   # the browser itself asks (required)
    assert phone_shown(driver) == "138****0000"
    reason.send_keys(REASON)
    click(driver, "#personal-submit", "查看完整信息 with a reason")
    wait_for(driver, "the complainant in full", lambda d: d.find_elements(By.ID, "personal-revealed"))
    assert phone_shown(driver) == "13800000000"
    shot(driver, "case-shown-in-full")

    entries = json.loads(_cli(county.home, "audit", "list", "--action", "pii.read", "--json"))
    assert [(e["actor"], e["target"], e["detail"]["reason"]) for e in entries] == [("supervisor", case_id, REASON)]

    open_page(driver, f"{county.url}/desk/cases/{case_id}")     # coming back: masked again
    assert phone_shown(driver) == "138****0000"

    sign_out(driver)
    sign_in(driver, county.url, "handler")                      # the handler reads it whole, no question asked
    open_page(driver, f"{county.url}/desk/cases/{case_id}")
    assert phone_shown(driver) == "13800000000" and not driver.find_elements(By.ID, "form-personal")
