"""The staff desk end to end in a real browser over real processes (issue 11 "Tests").

Two ``n12315 serve`` processes on 127.0.0.1 — the Guangdong province 440000 and the Nanshan
county 440305 linked to it directly — and two headless Chromium browsers, one on each node's
desk (two people at two desks; the nodes share the host 127.0.0.1, whose cookies do not tell
ports apart). In order, sharing the cluster:

1. an intake operator at the province takes a phone complaint about a Nanshan firm by
   keyboard alone (Tab between the fields, the category and region chosen by keys, Enter on
   the submit button) on ``/desk/cases/new`` with the CONTRACT §9 input names, and lands on
   the case page (``#case-id``); the case routes to the county; a handler there accepts it
   and concludes it (``#act-accept`` / ``#act-conclude``, each confirmed with
   ``#confirm-action``); the province's case page shows the conclusion (``#case-status``);
2. a leader at the province issues a directive to the county (``#issue-directive``,
   ``#confirm-action``), the county acknowledges it (``#ack-directive``, ``#confirm-action``)
   and the province's directive page turns complete (``#progress-acknowledged`` equals
   ``#progress-targets``) without being reloaded (htmx polling);
3. every other desk page answers, in Chinese, without a horizontal scrollbar at 1366×768.

Every page passed is saved in ``docs/desk/`` (``shot``). A page not built yet fails the step
that needs it, naming the path or the element (never a skip).
"""
from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import (
    COUNTY,
    PROVINCE,
    click,
    console_errors,
    element,
    on_path,
    open_page,
    page_error,
    scroll_width_fits,
    shot,
    sign_in,
    sign_out,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.process, pytest.mark.timeout(900)]

#: the phone complaint, by the CONTRACT §9 input names
COMPLAINT = {
    "kind": "complaint", "channel": "phone", "urgency": "general", "category": "S0304",
    "complainant.name": "陈女士", "complainant.phone": "13600001111",
    "complainant.address": "深圳市南山区科技园科苑路 15 号",
    "respondent.name": "深圳市南山区某餐饮店", "respondent.uscc": "914403001922038216",
    "respondent.region_code": "440305",
    "summary": "外卖米饭中发现金属异物", "description": "9 月 29 日晚通过外卖平台订餐，米饭中发现金属异物，商家拒绝退款。",
    "amount": "38.50",
}
REGION_PATH = ("440000", "440300", "440305")     # 广东省 → 深圳市 → 南山区
CATEGORY_SEARCH = "网络订餐"                      # what an operator types into a searchable picker
CASE_PATH = re.compile(r"^/desk/cases/(\d{6,9}-\d{8}-\d{6})$")
DIRECTIVE_PATH = re.compile(r"^/desk/directives/(?!new$)([^/]+)$")
CONCLUDED = ("已办结", "concluded")
STATE: dict[str, Any] = {}
SIGNED_IN: dict[int, str] = {}       # id(driver) -> who is signed in there


def become(driver, base_url: str, login: str) -> None:
    """Be signed in as ``login`` in this browser (signing the previous user out with the
    sign-out button), whatever an earlier step left behind."""
    if SIGNED_IN.get(id(driver)) == login and on_path(driver).startswith("/desk/") \
            and driver.find_elements(By.CSS_SELECTOR, "form[action='/desk/logout'] button"):
        return
    if driver.find_elements(By.CSS_SELECTOR, "form[action='/desk/logout'] button"):
        sign_out(driver)
    else:
        driver.delete_all_cookies()
    SIGNED_IN.pop(id(driver), None)
    sign_in(driver, base_url, login)
    SIGNED_IN[id(driver)] = login


@pytest.fixture(scope="module")
def desks(driver, browser, desk_cluster) -> SimpleNamespace:
    return SimpleNamespace(fed=desk_cluster, province=driver, county=browser(),
                           p_url=desk_cluster.nodes[PROVINCE].url, c_url=desk_cluster.nodes[COUNTY].url)


# -- keyboard ------------------------------------------------------------------------------------
def _active(driver):
    return driver.switch_to.active_element


def _describe(el) -> str:
    name = el.get_attribute("name") or ""
    ident = el.get_attribute("id") or ""
    return f"<{el.tag_name}{' name=' + name if name else ''}{' id=' + ident if ident else ''}>"


def _inside(driver, form, el) -> bool:
    return bool(driver.execute_script("return arguments[0].contains(arguments[1]);", form, el))


def _choose_by_keys(driver, select, wanted: str, timeout: float = 10) -> None:
    """Move a focused <select> to the option ``wanted`` with the arrow keys (waits for the
    option: a cascade fills its next level after the previous one changed)."""
    values = wait_for(driver, f"option {wanted} in {_describe(select)}",
                      lambda d: (vals := d.execute_script("return [...arguments[0].options].map(o => o.value);", select))
                      and wanted in vals and vals, timeout)
    target = values.index(wanted)
    for _ in range(len(values) + 1):
        current = driver.execute_script("return arguments[0].selectedIndex;", select)
        if current == target:
            return
        select.send_keys(Keys.ARROW_DOWN if current < target else Keys.ARROW_UP)
    raise AssertionError(f"could not reach option {wanted} of {_describe(select)} with the arrow keys")


def _region_level(el) -> int | None:
    """Which level of the region cascade a <select> is (0 province, 1 prefecture, 2 county),
    from its ``data-level`` or its name/id; None when it is not one."""
    level = el.get_attribute("data-level") or ""
    if level.isdigit() and int(level) < len(REGION_PATH):
        return int(level)
    hint = " ".join(filter(None, (el.get_attribute("name"), el.get_attribute("id"), el.get_attribute("aria-label"))))
    for i, word in enumerate(("prov", "pref|city", "county")):
        if re.search(word, hint):
            return i
    return None


def _choose_by_typing(driver, select, wanted: str, timeout: float = 10) -> None:
    """Pick an option of a focused <select> by typing the start of its text (type-ahead), as
    an operator picks 广东省 from 34 provinces; arrow keys if type-ahead misses."""
    wait_for(driver, f"option {wanted} in {_describe(select)}",
             lambda d: select.is_enabled() and select.find_elements(By.CSS_SELECTOR, f"option[value='{wanted}']"),
             timeout)
    text = select.find_element(By.CSS_SELECTOR, f"option[value='{wanted}']").text.strip()
    select.send_keys(text)
    if select.get_attribute("value") != wanted:
        _choose_by_keys(driver, select, wanted)


def _wait_next_level(driver, select, level: int) -> None:
    """After choosing ``REGION_PATH[level]``, its children must fill the next level (a late
    answer for an option passed on the way must not overwrite them)."""
    child = REGION_PATH[level + 1]
    has_child = "return [...document.querySelectorAll('select option')].some(o => o.value === arguments[0]);"
    try:
        wait_for(driver, f"{child} in the region level after {REGION_PATH[level]}",
                 lambda d: d.execute_script(has_child, child), 10)
    except AssertionError:
        listed = driver.execute_script(
            "const s = [...arguments[0].form.querySelectorAll('select')].filter(x => x !== arguments[0] &&"
            " x.getAttribute('data-level') === String(arguments[1]));"
            "return s.length ? [...s[0].options].map(o => o.value).slice(0, 6) : null;", select, level + 1)
        raise AssertionError(
            f"the region cascade shows {select.get_attribute('value')} chosen but the next level lists {listed} "
            f"(no {child}) after 10 s. If those belong to another division: type-ahead passes other options on "
            f"the way (typing 广东省 selects 广西 first: two change events, two requests) and the answer for the "
            f"option passed arrived last and filled the next level") from None


def fill_by_keyboard(driver, form, values: dict[str, str]) -> list[str]:
    """Reach the form with Tab from the top of the page, then Tab through it typing each
    field's value (arrow keys in selects, Space on checkboxes), until the submit button.
    Returns the tab order seen (for failure messages)."""
    driver.execute_script("window.scrollTo(0, 0); if (document.activeElement) document.activeElement.blur();")
    for _ in range(80):
        if _inside(driver, form, _active(driver)):
            break
        _active(driver).send_keys(Keys.TAB)
    else:
        raise AssertionError("Tab from the top of the page never reaches the intake form")
    order: list[str] = []
    done: set[str] = set()
    for _ in range(120):
        el = _active(driver)
        if not _inside(driver, form, el):
            break
        order.append(_describe(el))
        tag, kind = el.tag_name.lower(), (el.get_attribute("type") or "").lower()
        name = el.get_attribute("name") or ""
        if kind == "submit" or (tag == "button" and kind in ("", "submit")):
            previews = "preview" in (name + " " + (el.get_attribute("id") or "")).lower()
            if not previews and set(values) <= done | _already_right(driver, form, values):
                return order
        elif tag == "select" and name in values:
            _choose_by_keys(driver, el, values[name])
            done.add(name)
        elif tag == "select" and _region_level(el) is not None:
            level = _region_level(el)
            _choose_by_typing(driver, el, REGION_PATH[level])
            if level + 1 < len(REGION_PATH):   # a person waits for the next level to fill
                _wait_next_level(driver, el, level)
        elif kind == "checkbox":
            if name in values and el.is_selected() != bool(values[name]):
                el.send_keys(Keys.SPACE)
            done.add(name)
        elif kind == "radio":
            if name in values:
                for _ in range(12):
                    checked = driver.execute_script(
                        "const f = arguments[0].form; const r = f.querySelector("
                        "'input[type=radio][name=\"' + arguments[0].name + '\"]:checked'); return r && r.value;", el)
                    if checked == values[name]:
                        break
                    _active(driver).send_keys(Keys.ARROW_RIGHT)
                done.add(name)
        elif tag in ("input", "textarea"):
            wanted = values.get(name)
            if wanted is None and "categor" in " ".join(filter(None, (name, el.get_attribute("id"),
                                                                       el.get_attribute("list"),
                                                                       el.get_attribute("aria-controls")))):
                wanted = CATEGORY_SEARCH     # the search box of a category picker
            if wanted is not None and (el.get_attribute("value") or "") != wanted:
                el.send_keys(Keys.CONTROL, "a")
                el.send_keys(Keys.BACKSPACE)
                el.send_keys(wanted)
                time.sleep(0.05)             # let an as-you-type check or picker react
            if name in values:
                done.add(name)
        _active(driver).send_keys(Keys.TAB)
    missing = sorted(set(values) - done - _already_right(driver, form, values))
    raise AssertionError(f"the Tab order left the form before its submit button with fields not filled: {missing}; "
                         f"tab order seen: {' → '.join(order)}")


def _already_right(driver, form, values: dict[str, str]) -> set[str]:
    return {name for name, value in values.items() if _form_value(driver, form, name) == value}


def _form_value(driver, form, name: str) -> Any:
    return driver.execute_script(
        "const el = arguments[0].elements.namedItem(arguments[1]);"
        "if (!el) return null; if (el.type === 'checkbox') return el.checked; return el.value;", form, name)


# -- case actions ----------------------------------------------------------------------------------
def fill_fields(driver, form, fields: dict[str, str]) -> None:
    """Set those of ``fields`` the form has (and shows)."""
    for name, value in fields.items():
        for el in form.find_elements(By.NAME, name):
            if (el.get_attribute("type") or "") == "hidden" or not el.is_displayed():
                continue
            if el.tag_name.lower() == "select":
                Select(el).select_by_value(value)
            elif (el.get_attribute("type") or "") in ("radio", "checkbox"):
                if el.get_attribute("value") == value and not el.is_selected():
                    el.click()
            else:
                el.clear()
                el.send_keys(value)


def case_action(driver, case_id: str, action: str, fields: dict[str, str] | None = None,
                name: str | None = None) -> None:
    """On the case page: fill the action's form, press ``#act-<action>``, read the confirmation
    (``name``: its screenshot), press ``#confirm-action``, land on the case page again."""
    fields = fields or {}
    button = element(driver, f"#act-{action}", f"the {action} button #act-{action} on the case page of {case_id}")
    forms = button.find_elements(By.XPATH, "./ancestor::form")
    if forms:
        driver.execute_script("const d = arguments[0].closest('details'); if (d) d.open = true;", button)
        fill_fields(driver, forms[0], fields)
    click(driver, f"#act-{action}", f"#act-{action}")
    confirm = element(driver, "#confirm-action", f"the confirmation of {action} (#confirm-action)", 15)
    form = confirm.find_elements(By.XPATH, "./ancestor::form")
    if form:
        fill_fields(driver, form[0], fields)   # a confirmation page may ask for what is missing
    if name:
        shot(driver, name)
    click(driver, "#confirm-action", f"#confirm-action of {action}")
    wait_for(driver, f"the case page of {case_id} after {action}",
             lambda d: on_path(d) == f"/desk/cases/{case_id}" and not d.find_elements(By.ID, "confirm-action"), 20)
    assert not driver.find_elements(By.CSS_SELECTOR, "main .error"), page_error(driver)


def status_text(driver) -> str:
    el = element(driver, "#case-status", "#case-status on the case page")
    return " ".join(filter(None, (el.text, el.get_attribute("data-status") or "")))


# -- 1. intake → routing → handling → back -----------------------------------------------------------
def test_a_phone_complaint_taken_by_keyboard_at_the_province_is_handled_at_the_county(desks):
    p, c, fed = desks.province, desks.county, desks.fed
    open_page(p, desks.p_url + "/desk/")
    assert on_path(p) == "/desk/login", "the desk without a session should send us to the sign-in form"
    shot(p, "login")
    become(p, desks.p_url, "intake")
    assert on_path(p) == "/desk/"
    element(p, "#tile-waiting", "the home tile #tile-waiting")
    shot(p, "home")

    # the intake form, by keyboard alone
    open_page(p, desks.p_url + "/desk/cases/new")
    assert p.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    form = element(p, "form:has([name='complainant.phone'])", "the intake form (an input named complainant.phone)")
    for field in COMPLAINT:
        assert form.find_elements(By.NAME, field), f"the intake form has no input named {field} (CONTRACT §9)"
    assert form.find_elements(By.NAME, "also_report"), "the intake form has no also_report checkbox (CONTRACT §9)"
    shot(p, "intake-empty")
    order = fill_by_keyboard(p, form, {**COMPLAINT, "also_report": False})
    wrong = {n: (_form_value(p, form, n), v) for n, v in COMPLAINT.items() if _form_value(p, form, n) != v}
    assert not wrong, f"after typing, fields hold (got, wanted): {wrong}; tab order: {' → '.join(order)}"
    shot(p, "intake")
    _active(p).send_keys(Keys.ENTER)          # focus is on the submit button
    wait_for(p, "the case page (or a confirmation) after submitting the intake form",
             lambda d: CASE_PATH.match(on_path(d)) or d.find_elements(By.ID, "confirm-action"), 20)
    if not CASE_PATH.match(on_path(p)):
        shot(p, "intake-confirm")
        confirm = element(p, "#confirm-action")
        p.execute_script("arguments[0].focus();", confirm)
        _active(p).send_keys(Keys.ENTER)
        wait_for(p, "the case page after confirming the intake", lambda d: CASE_PATH.match(on_path(d)), 20)
    case_id = CASE_PATH.match(on_path(p)).group(1)
    STATE["case_id"] = case_id
    assert case_id.startswith(PROVINCE + "-")
    assert element(p, "#case-id").text.strip() == case_id
    shot(p, "case")

    # routed to the county, which handles it
    fed.wait_for(f"{case_id} held as handler at {COUNTY}",
                 lambda: fed.api(COUNTY, "GET", f"/api/v1/cases/{case_id}").json()["held_as"] == "handler", 60)
    become(c, desks.c_url, "handler")
    open_page(c, f"{desks.c_url}/desk/cases/{case_id}")
    assert element(c, "#case-id").text.strip() == case_id
    shot(c, "case-county")
    case_action(c, case_id, "accept", {}, name="case-confirm")
    assert fed.api(COUNTY, "GET", f"/api/v1/cases/{case_id}").json()["status"] == "accepted"
    case_action(c, case_id, "conclude", {"outcome": "mediated", "amount_recovered": "38.50",
                                         "note": "商家退款并赔偿 / refunded"}, name="case-confirm-conclude")
    assert any(word in status_text(c) for word in CONCLUDED), status_text(c)
    assert fed.api(COUNTY, "GET", f"/api/v1/cases/{case_id}").json()["status"] == "concluded"
    shot(c, "case-concluded-county")

    # the conclusion comes back to the province
    def concluded_at_province(d) -> bool:
        d.refresh()
        return any(word in status_text(d) for word in CONCLUDED)
    wait_for(p, f"#case-status of {case_id} at the province to show the conclusion", concluded_at_province, 90, 1.0)
    shot(p, "case-concluded")


# -- 2. a directive and its live progress -------------------------------------------------------------
def test_a_directive_issued_at_the_province_turns_complete_when_the_county_acknowledges(desks):
    p, c = desks.province, desks.county
    become(p, desks.p_url, "leader")
    become(c, desks.c_url, "handler")
    open_page(p, desks.p_url + "/desk/directives/new")
    issue = element(p, "#issue-directive", "the directive issue button #issue-directive")
    form = issue.find_element(By.XPATH, "./ancestor::form")
    for field in ("title", "body"):
        assert form.find_elements(By.NAME, field), f"the directive form has no input named {field} (CONTRACT §6)"
    fill_fields(p, form, {"title": "关于开展节前食品安全专项检查的紧急通知",
                          "body": "请于今日内完成辖区网络订餐平台入网商户的专项检查，并报告检查情况。",
                          "severity": "severe", "urgency": "immediate", "ack_within_minutes": "30"})
    target = form.find_elements(By.CSS_SELECTOR, f"input[name='targets'][value='{COUNTY}'], "
                                                 f"input[name='targets'][value='{COUNTY}/*']")
    if target and not target[0].is_selected():
        p.execute_script("arguments[0].scrollIntoView({block: 'center'});", target[0])
        target[0].click()
    shot(p, "directive-new")
    click(p, "#issue-directive")
    element(p, "#confirm-action", "the confirmation of issuing the directive (#confirm-action)", 15)
    shot(p, "directive-confirm")
    click(p, "#confirm-action")
    wait_for(p, "the directive's page after issuing",
             lambda d: DIRECTIVE_PATH.match(on_path(d)) and d.find_elements(By.ID, "directive-progress"), 20)
    directive_id = DIRECTIVE_PATH.match(on_path(p)).group(1)
    STATE["directive_id"] = directive_id
    element(p, "#directive-progress", "#directive-progress on the directive page")
    targets = int(element(p, "#progress-targets").text.strip())
    assert targets >= 1
    assert int(element(p, "#progress-acknowledged").text.strip()) == 0
    p.execute_script("window.__deskNotReloaded = true;")    # gone if the page is reloaded
    shot(p, "directive")

    # the county acknowledges
    def ack_button(d):
        d.refresh()
        return d.find_elements(By.ID, "ack-directive")
    open_page(c, f"{desks.c_url}/desk/directives/{directive_id}")
    wait_for(c, f"directive {directive_id} delivered to {COUNTY} with its #ack-directive button", ack_button, 60, 1.0)
    shot(c, "directive-county")
    click(c, "#ack-directive")
    element(c, "#confirm-action", "the confirmation of the acknowledgement (#confirm-action)", 15)
    click(c, "#confirm-action")
    wait_for(c, "the directive's page at the county after acknowledging",
             lambda d: on_path(d) == f"/desk/directives/{directive_id}" and not d.find_elements(By.ID, "confirm-action"))
    assert not c.find_elements(By.ID, "ack-directive"), "the county can still acknowledge after acknowledging"
    shot(c, "directive-county-acknowledged")

    # the province's page turns complete by itself
    def complete(d) -> bool:
        ack, tgt = d.execute_script("return ['progress-acknowledged', 'progress-targets'].map("
                                    "i => (document.getElementById(i) || {}).textContent);")
        return bool(ack and tgt and ack.strip() == tgt.strip())
    wait_for(p, "#progress-acknowledged to equal #progress-targets at the province without reloading", complete, 90, 0.5)
    assert p.execute_script("return window.__deskNotReloaded === true;"), "the directive page was reloaded"
    assert on_path(p) == f"/desk/directives/{directive_id}"
    shot(p, "directive-complete")


# -- 3. every other page -------------------------------------------------------------------------------
LATIN_ONLY_TEXT = """
const allowed = /^(12315|English|中文|XLSX|PDF|USCC|SHA-256|Word|CAP|ECharts|OK|ID|URL|API|[A-Z0-9_\\-.:/ ]+)$/;
const out = [];
for (const el of document.querySelectorAll(
    'h1, h2, h3, h4, label, legend, th, dt, button, summary, caption, a, p, small, .badge, option')) {
  if (el.closest('nav.lang') || el.closest('td') || el.closest('dd')) continue;   // data, not wording
  const t = (el.innerText || el.textContent || '').trim();
  if (t && /[A-Za-z]{3,}/.test(t) && !/[\\u3400-\\u9fff]/.test(t) && !allowed.test(t)) out.push(el.tagName + ': ' + t);
}
return [...new Set(out)].slice(0, 30);
"""


def check_page(driver, url: str, name: str) -> None:
    """The page answers 200 in Chinese, fits 1366 px without a horizontal scrollbar, shows no
    untranslated English in its labels, writes no error to the console; saved as
    docs/desk/<name>.png."""
    console_errors(driver)                     # forget what earlier pages wrote
    open_page(driver, url)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN", url
    shot(driver, name)
    fits, metrics = scroll_width_fits(driver)
    assert fits, f"{url} scrolls sideways at 1366×768: {metrics}"
    english = driver.execute_script(LATIN_ONLY_TEXT)
    assert not english, f"{url} shows English on a zh-CN page: {english}"
    errors = console_errors(driver)
    assert not errors, f"{url} wrote errors to the browser console: {errors}"


@pytest.mark.parametrize("role, path, name", [
    ("admin", "/desk/", "home-admin"),
    ("admin", "/desk/cases", "cases"),
    ("admin", "/desk/cases?status=concluded&kind=complaint", "cases-filtered"),
    ("admin", "/desk/cases?q=%E5%BC%82%E7%89%A9", "cases-search"),
    ("admin", "/desk/supervision", "supervision"),
    ("admin", "/desk/directives", "directives"),
    ("admin", "/desk/stats", "stats"),
    ("admin", "/desk/admin", "admin"),
    ("admin", "/desk/cases/{case_id}", "case-admin"),
    ("admin", "/desk/directives/{directive_id}", "directive-admin"),
])
def test_every_desk_page_answers_in_chinese_and_fits_the_screen(desks, role, path, name):
    p = desks.province
    become(p, desks.p_url, role)
    if "{" in path:
        missing = [key for key in ("case_id", "directive_id") if f"{{{key}}}" in path and key not in STATE]
        assert not missing, f"no {missing[0]}: the step that makes it failed above"
        path = path.format(**STATE)
    check_page(p, desks.p_url + path, name)
    if path.startswith("/desk/cases?") and STATE.get("case_id"):
        assert STATE["case_id"] in p.page_source, f"{path} does not list {STATE['case_id']}"
