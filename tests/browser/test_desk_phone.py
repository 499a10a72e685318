"""The desk on a phone (issue 11 item 10: "usable … on a phone for station staff").

A station node (440305001) served by a real ``n12315 serve``; a headless Chromium emulating
a 390×844 phone. The sign-in page and the home page have no horizontal scrollbar, and every
entry of the menu can be reached and tapped. Screenshots: ``docs/desk/phone-*.png``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import (
    PHONE,
    _require_browser,
    console_errors,
    on_path,
    open_page,
    scroll_width_fits,
    shot,
    sign_in,
    start_federation,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.process, pytest.mark.timeout(300)]

STATION = "440305001"


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[Any]:
    _require_browser()
    fed = start_federation(tmp_path_factory.mktemp("phone"), [("station", STATION, "南山区粤海市场监管所", None)],
                           {STATION: ("handler",)})
    try:
        yield fed.nodes[STATION]
    finally:
        fed.stop_all()


REACHABLE = """
const link = arguments[0];
link.scrollIntoView({block: 'center', inline: 'center'});
const r = link.getBoundingClientRect();
const width = document.documentElement.clientWidth, height = window.innerHeight;
if (r.width < 1 || r.height < 1) return 'not shown';
if (r.left < 0 || r.right > width + 0.5) return 'outside the screen horizontally: ' + r.left + '..' + r.right;
const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
if (!hit || !(hit === link || link.contains(hit))) return 'covered by ' + (hit ? hit.outerHTML.slice(0, 80) : 'nothing');
if (r.height < 24) return 'too small to tap: ' + r.height + ' px high';
return '';
"""


def _unreachable(driver) -> dict[str, str]:
    out = {}
    for link in driver.find_elements(By.CSS_SELECTOR, "nav.menu a"):
        why = driver.execute_script(REACHABLE, link)
        if why:
            out[link.get_attribute("href")] = why
    return out


def _fits(driver, where: str) -> None:
    width = driver.execute_script("return document.documentElement.clientWidth;")
    assert width == PHONE[0], f"the phone viewport is {width} px wide, not {PHONE[0]}"
    fits, metrics = scroll_width_fits(driver)
    # a phone browser zooms out to show a page wider than the screen: innerWidth grows with it
    assert fits and metrics["innerWidth"] == PHONE[0], f"{where} scrolls sideways on a 390 px phone: {metrics}"


def test_sign_in_and_home_fit_a_phone_and_the_menu_is_reachable(phone_driver, station):
    phone = phone_driver
    open_page(phone, station.url + "/desk/login")
    shot(phone, "phone-login")
    _fits(phone, "the sign-in page")
    sign_in(phone, station.url, "handler")
    assert on_path(phone) == "/desk/"
    shot(phone, "phone-home")
    _fits(phone, "the home page")
    errors = console_errors(phone)
    assert not errors, f"the home page wrote errors to the browser console: {errors}"

    links = phone.find_elements(By.CSS_SELECTOR, "nav.menu a")
    assert links, "no menu (nav.menu) on the home page"
    problems = _unreachable(phone)
    if problems:   # a collapsed menu behind a toggle button is fine: open it
        toggles = [b for b in phone.find_elements(By.CSS_SELECTOR, "button[aria-controls], button[aria-expanded], "
                                                                   ".menu-toggle") if b.is_displayed()]
        assert toggles, f"menu entries unreachable on a phone and no menu button to open: {problems}"
        toggles[0].click()
        shot(phone, "phone-menu")
        problems = _unreachable(phone)
    assert not problems, f"menu entries unreachable on a phone: {problems}"
    _fits(phone, "the home page with the menu")

    cases = next(a for a in phone.find_elements(By.CSS_SELECTOR, "nav.menu a")
                 if a.get_attribute("href").endswith("/desk/cases"))
    phone.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", cases)
    cases.click()
    wait_for(phone, "the case list after tapping 案件 in the menu", lambda d: on_path(d) == "/desk/cases")
