"""The public portal in a real phone browser (issue 12 "Tests": browser tests on a phone-sized
viewport, the same Chromium setup as the staff desk; CONTRACT §10).

One county node (440305) served by a real ``n12315 serve``, its SMS gateway the local stub
(tests/node/notify/stubs.py), so the phone check is the real one: the "send code" button asks
for a code, the test reads it at the gateway and types it in. A headless Chromium emulating a
390×844 phone with a phone's user agent walks: front page → complaint form (category and
region picked with the selects, the fields filled, consent ticked) → receipt (case number and
query code shown) → "follow this case" → progress page; then a form without consent shows the
message beside the field; then ``?lang=en``. No page scrolls sideways. Screenshots:
``docs/public/01-front.png`` … ``05-error.png`` (and ``06-form-en.png``).
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import (
    PHONE,
    _require_browser,
    click,
    console_errors,
    element,
    on_path,
    open_page,
    scroll_width_fits,
    settle,
    wait_for,
)
from tests.node.notify.stubs import SmsGateway
from tests.process.portal_nodes import PHONE_UA, codes_in, start_nodes

pytestmark = [pytest.mark.browser, pytest.mark.process, pytest.mark.timeout(300)]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "public"
MAX_SHOT_HEIGHT = 4000          # CSS pixels: the whole complaint form, down to its submit button
SECRET = "browser-gateway-secret"
COUNTY = "440305"
PHONE_NUMBER = "13712345678"


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[tuple[Any, SmsGateway]]:
    _require_browser()            # no servers for nothing
    with SmsGateway(secret=SECRET) as sms:
        fed = start_nodes(tmp_path_factory.mktemp("portal"), [("county", COUNTY, "深圳市南山区市场监督管理局", None)],
                          {COUNTY: ("admin",)},
                          {"N12315_NOTIFY__SMS_URL": sms.url, "N12315_NOTIFY__SMS_SECRET": SECRET})
        try:
            yield fed.nodes[COUNTY], sms
        finally:
            fed.stop_all()


@pytest.fixture(scope="module")
def phone(browser) -> Any:
    """A phone of its own (a fresh cookie jar), with a phone's user agent on the 390×844 viewport."""
    driver = browser(phone=True)
    driver.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": PHONE_UA, "platform": "iPhone"})
    return driver


def shot(driver: Any, name: str, screen_only: bool = False) -> Path:
    """The page as ``docs/public/<name>.png``: the whole page (cut at MAX_SHOT_HEIGHT CSS px), or
    with ``screen_only`` what the phone's screen shows now."""
    settle(driver)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if screen_only:
        path.write_bytes(driver.get_screenshot_as_png())
        return path
    width, height = driver.execute_script(
        "const d = document.documentElement;"
        "return [Math.max(d.clientWidth, 1), Math.max(d.scrollHeight, document.body ? document.body.scrollHeight : 0)];")
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT), "scale": 1}})["data"]
    path.write_bytes(base64.b64decode(data))
    return path


def fits(driver: Any, where: str) -> None:
    width = driver.execute_script("return window.innerWidth;")
    assert width == PHONE[0], f"the phone viewport is {width} px wide, not {PHONE[0]}"
    ok, metrics = scroll_width_fits(driver)
    assert ok and metrics["innerWidth"] == PHONE[0], f"{where} scrolls sideways on a 390 px phone: {metrics}"


def type_into(driver: Any, name: str, text: str) -> None:
    el = element(driver, f"#public-form [name='{name}']", f"the form field {name}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.clear()
    el.send_keys(text)


def tick(driver: Any, css: str) -> None:
    box = element(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    if not box.is_selected():
        box.click()
    assert box.is_selected(), f"{css} did not tick"


def fill_form(driver: Any, summary: str) -> None:
    """What a person fills in: the selects by tapping an option, the rest by typing."""
    Select(element(driver, "#f-category", "the category select")).select_by_value("G0303")
    Select(element(driver, "#f-respondent-region_code", "the region select")).select_by_value(COUNTY)
    type_into(driver, "complainant.name", "林晓")
    type_into(driver, "complainant.phone", PHONE_NUMBER)
    type_into(driver, "complainant.address", "广东省深圳市南山区桃园路 8 号")
    type_into(driver, "complainant.email", "lin.x@example.cn")
    type_into(driver, "respondent.name", "深圳市南山区海岸数码有限公司")
    type_into(driver, "summary", summary)
    type_into(driver, "description", "购买的蓝牙耳机两天后一侧无声，商家拒绝更换。")
    type_into(driver, "demand", "更换新品")
    type_into(driver, "amount", "399")


def test_a_consumer_files_a_complaint_on_a_phone_and_follows_it(phone, portal):
    node, sms = portal
    open_page(phone, node.url + "/public/")
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    shot(phone, "01-front")
    fits(phone, "the front page")
    links = [a for a in phone.find_elements(By.CSS_SELECTOR, "a[href*='/public/complaint']") if a.is_displayed()]
    assert links, "no visible link from the front page to the complaint form"
    phone.execute_script("arguments[0].scrollIntoView({block: 'center'});", links[0])
    links[0].click()
    wait_for(phone, "the complaint form", lambda d: on_path(d) == "/public/complaint")
    element(phone, "#public-form", "the complaint form")
    fits(phone, "the empty complaint form")

    fill_form(phone, "蓝牙耳机两天后一侧无声")
    before = len(sms.messages)
    click(phone, "#send-code", "the send-code button")
    note = element(phone, "#code-note", "the note that the code was sent")
    wait_for(phone, "the code-sent note to say something", lambda d: note.text.strip())
    assert "field-error" not in (note.get_attribute("class") or ""), note.text
    wait_for(phone, "the code at the SMS gateway", lambda d: len(sms.messages) > before)
    assert on_path(phone) == "/public/complaint"          # the page stayed, with what was typed
    assert element(phone, "#f-summary").get_attribute("value") == "蓝牙耳机两天后一侧无声"
    message = sms.messages[-1]
    assert message["to"] == PHONE_NUMBER and sms.bad_signatures == 0
    [code] = codes_in(message["text"])
    type_into(phone, "phone_code", code)
    tick(phone, "#f-consent")
    shot(phone, "02-form")
    fits(phone, "the filled complaint form")

    click(phone, "#submit", "the submit button")
    wait_for(phone, "the receipt page", lambda d: on_path(d) == "/public/receipt", 30)
    case_id = element(phone, "#case-id", "the case number on the receipt")
    query_code = element(phone, "#query-code", "the query code on the receipt")
    assert case_id.is_displayed() and query_code.is_displayed()
    assert re.fullmatch(r"440305-\d{8}-\d{6}", case_id.text.strip()), case_id.text
    assert len(query_code.text.strip()) >= 6
    number = case_id.text.strip()
    shot(phone, "03-receipt")
    fits(phone, "the receipt page")

    click(phone, "#follow", "the follow-this-case button")
    wait_for(phone, "the progress page", lambda d: on_path(d) == "/public/track", 20)
    status = element(phone, "#case-status", "the case status on the progress page")
    assert status.is_displayed() and status.get_attribute("data-status") == "registered"
    assert status.text.strip() == "已登记", status.text
    assert element(phone, "#case-id").text.strip() == number
    assert PHONE_NUMBER not in phone.page_source and "林晓" not in phone.page_source
    shot(phone, "04-progress")
    fits(phone, "the progress page")
    errors = console_errors(phone)
    assert not errors, f"the portal wrote errors to the browser console: {errors}"


def test_a_missing_consent_is_shown_beside_the_field_with_everything_kept(phone, portal):
    node, _ = portal
    open_page(phone, node.url + "/public/complaint")
    fill_form(phone, "没有勾选同意的投诉")
    click(phone, "#submit", "the submit button")
    message = element(phone, "#error-consent", "the consent error beside the field", timeout=20)
    assert message.is_displayed() and "同意" in message.text, message.text
    field = message.find_element(By.XPATH, "./ancestor::div[contains(@class, 'field')][1]")
    assert field.find_elements(By.CSS_SELECTOR, "#f-consent"), "the message is not beside the consent box"
    assert element(phone, "#f-summary").get_attribute("value") == "没有勾选同意的投诉"
    assert phone.find_element(By.ID, "form-error").is_displayed()
    phone.execute_script("arguments[0].scrollIntoView({block: 'center'});", message)
    shot(phone, "05-error", screen_only=True)
    fits(phone, "the form with an error")


def test_the_portal_switches_to_english(phone, portal):
    node, _ = portal
    open_page(phone, node.url + "/public/complaint?lang=en")
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "File a complaint" in element(phone, "h1").text
    fits(phone, "the English form")
    shot(phone, "06-form-en")
    open_page(phone, node.url + "/public/")                  # the choice is kept for the session
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    click(phone, "nav.lang a[lang='zh-CN']", "the 中文 switch")          # and back, as a person does
    wait_for(phone, "the page in Chinese again",
             lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
