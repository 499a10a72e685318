"""Real-browser fixtures for the staff desk (issue 11 "Tests"; docs/desk.md; CONTRACT §9).

Headless Chromium driven by Selenium 4 through the system's chromedriver (Debian packages
``chromium`` and ``chromium-driver``, plus ``fonts-noto-cjk`` so Chinese is drawn; ``make
browser`` installs them where it runs as root). Where they are missing the browser tests are
skipped with the reason — except under ``CI=true``, where they fail: CI must run them.

* ``browser`` — ``browser(phone=False) -> WebDriver``: a new headless Chromium, desktop
  (1366×768 window, ``zh-CN``) or phone (390×844 viewport, device-pixel ratio 2, mobile
  emulation, for station staff); every one is quit at the end of the session. A test that
  needs two people at two desks (two nodes on the same 127.0.0.1 host share cookies across
  ports) opens two.
* ``driver`` / ``phone_driver`` — one desktop / one phone browser for the whole session.
* ``shot(driver, name)`` — the page as a PNG in ``docs/desk/<name>.png`` (whole page up to
  ``MAX_SHOT_HEIGHT`` CSS pixels), so the screenshots in the docs stay current.
* ``open_page(driver, url)`` — navigate and fail (never skip) when the page answers anything
  but 200: a page not built yet is a failure that names its path.
* ``sign_in(driver, base_url, login, password)`` — through the form (``login``, ``password``,
  the one submit button), as a person does; ``sign_out(driver)``.
* ``wait_for(driver, what, predicate, timeout)`` — poll with a message that says what was awaited;
  ``element``, ``click``; ``settle`` (htmx requests done, charts drawn) before each screenshot;
  ``console_errors`` (JavaScript errors, Content-Security-Policy refusals, failed loads).
* ``desk_cluster`` — real ``n12315 serve`` processes: the province 440000 and the county
  440305 linked to it directly (``start_federation``: ``admin_cli.demo.Federation`` on free
  ports, initialised and linked through the CLI, desk passwords set with
  ``user add --password-stdin``).
"""
from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "desk"
DESKTOP = (1366, 768)
PHONE = (390, 844)
MAX_SHOT_HEIGHT = 2400          # CSS pixels: long pages are cut there
PASSWORD = "desk-browser-12315"  # every test user's desk password


def _binary(path: str, name: str) -> str | None:
    return path if Path(path).is_file() else shutil.which(name)


def browser_unavailable_reason() -> str | None:
    """None when Selenium, Chromium and chromedriver are all here; else what is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    missing = [pkg for path, name, pkg in ((CHROMIUM, "chromium", "chromium"),
                                           (CHROMEDRIVER, "chromedriver", "chromium-driver"))
               if _binary(path, name) is None]
    if missing:
        return (f"headless Chromium not available: Debian package(s) {', '.join(missing)} missing "
                f"(`make browser` installs them as root)")
    return None


def _require_browser() -> None:
    reason = browser_unavailable_reason()
    if reason:
        if in_ci():   # CI must run the browser tests: a missing browser fails the run
            pytest.fail(f"CI=true and the browser tests cannot run: {reason}")
        pytest.skip(reason)


def new_driver(phone: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _binary(CHROMIUM, "chromium") or CHROMIUM
    width, height = PHONE if phone else DESKTOP
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--lang=zh-CN", "--disable-gpu", "--hide-scrollbars", "--force-color-profile=srgb"):
        options.add_argument(arg)
    # --lang alone leaves navigator.language at en-US in headless mode; Accept-Language too
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    if phone:   # a real phone viewport (a headless window is at least 500 px wide)
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": True}})
    # desk.js asks window.confirm() for data-confirm buttons: a person answers yes
    options.set_capability("unhandledPromptBehavior", "accept")
    driver = webdriver.Chrome(service=Service(_binary(CHROMEDRIVER, "chromedriver") or CHROMEDRIVER),
                              options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="session")
def browser() -> Iterator[Callable[..., Any]]:
    """Factory of headless Chromium browsers; all quit at the end of the session."""
    _require_browser()
    made: list[Any] = []

    def make(phone: bool = False) -> Any:
        try:
            driver = new_driver(phone)
        except Exception as exc:  # present but broken: a failure, not a skip
            pytest.fail(f"headless Chromium did not start: {type(exc).__name__}: {exc}")
        made.append(driver)
        return driver

    yield make
    for driver in made:
        try:
            driver.quit()
        except Exception:  # noqa: BLE001 - a browser that already died needs no quitting
            pass


@pytest.fixture(scope="session")
def driver(browser) -> Any:
    return browser()


@pytest.fixture(scope="session")
def phone_driver(browser) -> Any:
    return browser(phone=True)


# -- helpers -----------------------------------------------------------------------------------
SETTLED = """
if (document.readyState !== 'complete' || document.querySelector('.htmx-request')) return false;
const boxes = document.querySelectorAll('[data-chart]');
return boxes.length === 0 || document.querySelector('[data-chart] canvas, [data-chart] svg') !== null;
"""


def settle(driver: Any, timeout: float = 6) -> None:
    """Let the page finish what it does after loading (htmx requests; charts drawn from their
    data, and their one-second animation) — a screenshot then shows what a person sees."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not driver.execute_script(SETTLED):
        time.sleep(0.1)
    if driver.execute_script("return document.querySelector('[data-chart] canvas') !== null;"):
        time.sleep(1.2)


def console_errors(driver: Any) -> list[str]:
    """Errors the page wrote to the console since the last call (JavaScript errors, refused
    by the Content-Security-Policy, failed loads), except the browser's own favicon probe."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and "/favicon.ico" not in e.get("message", "")]


def shot(driver: Any, name: str) -> Path:
    """Save the page as ``docs/desk/<name>.png`` (the whole page, cut at MAX_SHOT_HEIGHT)."""
    settle(driver)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    width, height = driver.execute_script(
        "const d = document.documentElement;"
        "return [Math.max(d.clientWidth, 1), Math.max(d.scrollHeight, document.body ? document.body.scrollHeight : 0)];")
    try:
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT), "scale": 1}})["data"]
        path.write_bytes(base64.b64decode(data))
    except Exception:  # noqa: BLE001 - the viewport is better than nothing
        driver.save_screenshot(str(path))
    return path


def status_of_page(driver: Any) -> int | None:
    """The HTTP status of the document now shown (Navigation Timing ``responseStatus``)."""
    return driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : null;")


def page_error(driver: Any) -> str:
    """The page's own error message, if it shows one (for failure messages)."""
    from selenium.webdriver.common.by import By
    found = driver.find_elements(By.CSS_SELECTOR, "main .error, main [role=alert]")
    return " | ".join(e.text for e in found if e.text)[:500]


def open_page(driver: Any, url: str, expect: int = 200) -> None:
    """Go to ``url``; fail (naming it) unless it answers ``expect`` and is a zh-CN desk page."""
    driver.get(url)
    status = status_of_page(driver)
    assert status == expect, (f"GET {url} answered {status}, expected {expect} "
                              f"(page not built yet?) {page_error(driver)}")


def on_path(driver: Any) -> str:
    from urllib.parse import urlsplit
    return urlsplit(driver.current_url).path


def wait_for(driver: Any, what: str, predicate: Callable[[Any], Any], timeout: float = 30,
             poll: float = 0.2) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:   # an element replaced while it was read (htmx swaps, a cascade refilled): ask again
        return WebDriverWait(driver, timeout, poll_frequency=poll,
                             ignored_exceptions=(StaleElementReferenceException,)).until(predicate)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what} "
                             f"(at {driver.current_url}) {page_error(driver)}") from None


def element(driver: Any, css: str, what: str | None = None, timeout: float = 10) -> Any:
    """The element matching ``css`` (waited for); fails naming it and the page when absent."""
    from selenium.webdriver.common.by import By
    return wait_for(driver, what or f"element {css}",
                    lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, css)), None), timeout)


def click(driver: Any, css: str, what: str | None = None, timeout: float = 10) -> None:
    """Scroll the element into view and click it (waits until it is there and shown)."""
    el = element(driver, css, what, timeout)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    wait_for(driver, f"{what or css} to be visible and enabled", lambda d: el.is_displayed() and el.is_enabled(), 5)
    el.click()


def sign_in(driver: Any, base_url: str, login: str, password: str = PASSWORD, name: str | None = None) -> None:
    """Sign in through the form as a person does; lands on the desk (fails with the page's
    message otherwise). ``name``: save a screenshot of the filled form under that name."""
    from selenium.webdriver.common.by import By
    open_page(driver, base_url + "/desk/login")
    form = element(driver, "form[action='/desk/login']", "the sign-in form")
    form.find_element(By.NAME, "login").clear()
    form.find_element(By.NAME, "login").send_keys(login)
    form.find_element(By.NAME, "password").send_keys(password)
    if name:
        shot(driver, name)
    form.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    wait_for(driver, f"{login} signed in at {base_url}", lambda d: on_path(d) != "/desk/login", 20)


def sign_out(driver: Any) -> None:
    click(driver, "form[action='/desk/logout'] button", "the sign-out button")
    wait_for(driver, "the sign-in form after signing out", lambda d: on_path(d) == "/desk/login")


def scroll_width_fits(driver: Any) -> tuple[bool, dict[str, int]]:
    """No horizontal scrollbar: the document is no wider than the window."""
    m = driver.execute_script(
        "const d = document.documentElement;"
        "return {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, innerWidth: window.innerWidth};")
    return m["scrollWidth"] <= m["innerWidth"] and m["scrollWidth"] <= m["clientWidth"], m


# -- real nodes ----------------------------------------------------------------------------------
PROVINCE, COUNTY = "440000", "440305"
#: a province and one of its counties linked to it directly (docs/decisions.md: a county may
#: link to any ancestor region)
TREE = [("province", PROVINCE, "广东省市场监督管理局", None),
        ("county", COUNTY, "深圳市南山区市场监督管理局", PROVINCE)]
#: the users each node needs (login = role); admin's token also drives the API checks
USERS = {PROVINCE: ("admin", "intake", "leader"), COUNTY: ("admin", "handler")}


def _cli(home: Path, *args: str, stdin: str | None = None) -> str:
    import os
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(home), *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, f"n12315 {' '.join(args)}: {proc.stderr or proc.stdout}"
    return proc.stdout


def init_node(node: Any, roles: tuple[str, ...], password: str = PASSWORD) -> None:
    """``n12315 init``, then ``n12315 user add ROLE --role ROLE --password-stdin`` for each role
    (the desk password on stdin, the API token printed last), as an operator does."""
    _cli(node.home, "init", "--level", node.level, "--code", node.code, "--name", node.name, "--url", node.public_url)
    for role in roles:
        out = _cli(node.home, "user", "add", role, "--role", role, "--password-stdin", stdin=password + "\n")
        node.tokens[role] = [ln for ln in out.splitlines() if ln.strip()][-1].strip()


def start_federation(base: Path, tree: list[tuple[str, str, str, str | None]],
                     users: dict[str, tuple[str, ...]]) -> Any:
    """``admin_cli.demo.Federation`` over ``tree`` on free ports: every node initialised (in
    parallel: each CLI call is a process start), served, and linked through the CLI."""
    from concurrent.futures import ThreadPoolExecutor

    from admin_cli.demo import Federation, free_ports
    fed = Federation(base, 0, tree=tree, log=lambda s: None)
    for n, port in zip(fed.nodes.values(), free_ports(len(fed.nodes)), strict=True):
        n.port = port
    try:
        with ThreadPoolExecutor(len(fed.nodes)) as pool:
            for done in [pool.submit(init_node, n, users[n.code]) for n in fed.nodes.values()]:
                done.result()
        fed.start_all()
        fed.link_all()
    except BaseException:
        fed.stop_all()
        raise
    return fed


@pytest.fixture(scope="module")
def desk_cluster(tmp_path_factory) -> Iterator[Any]:
    """Two ``n12315 serve`` processes on 127.0.0.1 free ports — province 440000 and county
    440305 linked to it directly — initialised and linked through the CLI
    (``admin_cli.demo.Federation``); the users of ``USERS`` with ``PASSWORD``."""
    _require_browser()            # no servers for nothing
    fed = start_federation(tmp_path_factory.mktemp("desk"), TREE, USERS)
    try:
        yield fed
    finally:
        fed.stop_all()
