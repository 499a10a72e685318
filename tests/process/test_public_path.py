"""The whole consumer path across real node processes (issue 12 "Tests"; CONTRACT §10, §5).

Province 440000 → prefecture 440300 → county 440305, each a real ``n12315 serve`` on 127.0.0.1
(SQLite), initialised and linked through the CLI, all pointed at one SMS gateway stub
(HMAC-checked) and one SMTP server (aiosmtpd) through the ``N12315_NOTIFY__*`` environment.
A consumer with only a phone browser (a ``requests.Session``) files a complaint about a county
firm on the PROVINCE's portal, with the SMS phone check; the county accepts and concludes it
through the staff API; the consumer follows each step with the query code, is told each step
by SMS and e-mail, rates the handling; the rating reaches the county; the concluded complaint
is published without the complainant's identity.

Bad input: a wrong query code and an unknown case number get the same page; the per-address
submission limit answers 429 in Chinese (a node with a low limit). The figures (form submit →
case stored, p95 under load; status change → SMS at the gateway) are printed for the lead.
"""
from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from node.cases.uscc import check_character
from tests.node.notify.stubs import MailServer, SmsGateway
from tests.process.portal_nodes import PhoneBrowser, codes_in, receipt_of, start_nodes, status_of, without_csrf

pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]

SECRET = "e2e-gateway-secret"
# The notify job's interval on these nodes: far longer than the test, so every notice that
# arrives was sent because the request that queued it woke the sender (node.app), not by the timer.
FLUSH_S = 600.0
SETTLE_S = 2.0       # after the last notice: time for a duplicate to show up if one were sent
CHAIN = [("province", "440000", "广东省市场监督管理局", None),
         ("prefecture", "440300", "深圳市市场监督管理局", "440000"),
         ("county", "440305", "深圳市南山区市场监督管理局", "440300")]
USERS = {"440000": ("admin",), "440300": ("admin",), "440305": ("admin", "handler")}
SINGLE = [("county", "440305", "深圳市南山区市场监督管理局", None)]

FIRM_USCC = "91440305MA5G7K2Q3" + check_character("91440305MA5G7K2Q3")   # a Nanshan company
PERSON = {"complainant.name": "陈小红", "complainant.phone": "13912345678",
          "complainant.address": "广东省广州市天河区体育西路 88 号 1203 室", "complainant.email": "chen.xh@example.cn"}


def complaint_form(**over: Any) -> dict[str, Any]:
    form = {"kind": "complaint", "complainant.type": "individual", **PERSON,
            "respondent.name": "深圳市南山区星河电子科技有限公司", "respondent.uscc": FIRM_USCC,
            "respondent.region_code": "440305", "respondent.address": "深圳市南山区科技南十二路 2 号",
            "category": "G0303", "summary": "新买的平板电脑一周后无法开机", "occurred_on": "2026-09-18",
            "description": "在该公司门店购买平板电脑，使用一周后无法开机，门店拒绝退换。",
            "demand": "退货退款", "amount": "2499.00", "consent": "1"}
    form.update(over)
    return form


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 45, poll: float = 0.05) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` on the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what} (last: {last!r})")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The chain with notices to the stubs; a fast node for the load; a node with a low limit."""
    base = tmp_path_factory.mktemp("public-path")
    notify = {"N12315_NOTIFY__FLUSH_INTERVAL_S": str(FLUSH_S), "N12315_NOTIFY__BACKOFF_BASE_S": "1"}
    with SmsGateway(secret=SECRET) as sms, MailServer() as mail:
        notify.update({"N12315_NOTIFY__SMS_URL": sms.url, "N12315_NOTIFY__SMS_SECRET": SECRET,
                       "N12315_NOTIFY__SMTP_HOST": mail.host, "N12315_NOTIFY__SMTP_PORT": str(mail.port),
                       "N12315_NOTIFY__MAIL_FROM": "12315@gd.example.cn"})
        open_portal = {"N12315_PUBLIC__REQUIRE_PHONE_CODE": "false"}
        with ThreadPoolExecutor(3) as pool:
            jobs = {
                "chain": pool.submit(start_nodes, base / "chain", CHAIN, USERS, notify),
                "load": pool.submit(start_nodes, base / "load", SINGLE, {"440305": ("admin",)},
                                    {**open_portal, "N12315_PUBLIC__SUBMIT_PER_ADDRESS_PER_HOUR": "100000",
                                     "N12315_PUBLIC__SUBMIT_PER_PHONE_PER_DAY": "100000"}),
                "limited": pool.submit(start_nodes, base / "limited", SINGLE, {"440305": ("admin",)},
                                       {**open_portal, "N12315_PUBLIC__SUBMIT_PER_ADDRESS_PER_HOUR": "2"}),
            }
            feds = {}
            errors = []
            for name, job in jobs.items():
                try:
                    feds[name] = job.result()
                except BaseException as exc:  # noqa: BLE001 - stop what did start, then fail with it
                    errors.append(exc)
        try:
            if errors:
                raise errors[0]
            yield {"sms": sms, "mail": mail, **feds}
        finally:
            for fed in feds.values():
                fed.stop_all()


def sms_for(sms: SmsGateway, case_id: str) -> list[dict[str, Any]]:
    """The SMS that reached a phone naming ``case_id``."""
    return [m for m in sms.messages if case_id in m["text"]]


def mail_for(mail: MailServer, case_id: str) -> list[tuple[str, str, str]]:
    out = []
    for m in mail.messages:
        body = m.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        if case_id in str(m["Subject"]) or case_id in text:
            out.append((str(m["To"]), str(m["Subject"]), text))
    return out


def file_at_province(world: dict[str, Any], **over: Any) -> tuple[PhoneBrowser, str, str]:
    """A phone browser files a complaint on the province's portal, with the SMS code: the
    browser, the case number and the query code of its receipt."""
    sms, form = world["sms"], complaint_form(**over)
    phone = PhoneBrowser(world["chain"].nodes["440000"].url)
    page = phone.get("/public/complaint")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and phone.csrf
    before = len(sms.messages)
    asked = phone.post("/public/phone-code", {"phone": form["complainant.phone"]},
                       headers={"Accept": "application/json"})
    assert asked.status_code == 200 and asked.json()["sent"] is True, asked.text
    code_sms = wait_until("the one-time code at the SMS gateway", lambda: [
        m for m in sms.messages[before:] if m["to"] == form["complainant.phone"]])
    [code] = codes_in(code_sms[-1]["text"])
    assert sms.bad_signatures == 0
    filed = phone.post("/public/complaint", {**form, "phone_code": code})
    assert filed.status_code == 200 and filed.url.endswith("/public/receipt"), filed.text[-1500:]
    case_id, query_code = receipt_of(filed.text)
    assert case_id.startswith("440000-") and len(query_code) >= 6
    return phone, case_id, query_code


def at_county(world: dict[str, Any], case_id: str) -> dict[str, Any]:
    """The case once the county handles it (the nodes route it themselves, by signed replication)."""
    def probe() -> dict[str, Any] | None:
        r = world["chain"].api("440305", "GET", f"/api/v1/cases/{case_id}", role="handler")
        return r.json() if r.status_code == 200 and r.json().get("held_as") == "handler" else None
    return wait_until(f"{case_id} handled at the county", probe)


def act(world: dict[str, Any], case_id: str, status: str, **action: Any) -> None:
    r = world["chain"].api("440305", "POST", f"/api/v1/cases/{case_id}/actions", role="handler", json=action)
    assert r.status_code == 200 and r.json()["status"] == status, r.text


def shows(phone: PhoneBrowser, case_id: str, query_code: str, status: str) -> str | None:
    """The progress page when it shows ``status``, else None."""
    r = phone.get(f"/public/track?case_id={case_id}&query_code={query_code}")
    return r.text if r.status_code == 200 and status_of(r.text)[0] == status else None


def satisfaction_at_county(world: dict[str, Any], case_id: str) -> str | None:
    case = world["chain"].api("440305", "GET", f"/api/v1/cases/{case_id}", role="handler").json()
    return (case.get("outcome") or {}).get("satisfaction")


def test_a_phone_complaint_at_the_province_is_handled_at_the_county_told_rated_and_published(world):
    chain, sms, mail = world["chain"], world["sms"], world["mail"]
    submitted = time.monotonic()
    phone, case_id, query_code = file_at_province(world)
    case = at_county(world, case_id)
    routed_s = time.monotonic() - submitted
    assert case["channel"] == "web" and case["accepting_node"] == "440000" and case["handling_node"] == "440305"
    assert case["respondent"]["uscc"] == FIRM_USCC
    # The province may not know the county's seal key yet (not its neighbour): the county then
    # holds the masked view until its receipt teaches the province the key and the province
    # re-seals the complainant to it (docs/privacy-sealing.md, "a reader with no known key").
    def readable() -> dict[str, Any] | None:
        r = chain.api("440305", "GET", f"/api/v1/cases/{case_id}", role="handler")
        email = (r.json().get("complainant") or {}).get("email") if r.status_code == 200 else None
        return r.json() if email == PERSON["complainant.email"] else None
    assert wait_until(f"{case_id}'s complainant readable at the county", readable)

    def told(status_word: str) -> Callable[[], list[str]]:
        return lambda: [m["text"] for m in sms_for(sms, case_id) if status_word in m["text"]]

    received = wait_until("the 'received' SMS", told("已收到"))
    received_s = time.monotonic() - submitted
    assert len(received) == 1 and "深圳市南山区市场监督管理局" in received[0], received
    r = phone.get(f"/public/track?case_id={case_id}&query_code={query_code}")
    # the province sent it on at once; the county's receipt comes back: either is what it is now
    assert r.status_code == 200 and status_of(r.text)[0] in ("transferred", "registered"), r.text[-800:]
    assert "深圳市南山区市场监督管理局" in r.text                  # the handling unit, by name

    delays: dict[str, float] = {}
    for action, status, word in ((dict(action="accept"), "accepted", "受理"),
                                 (dict(action="conclude", outcome="mediated", amount_recovered="2499.00"),
                                  "concluded", "办结")):
        act(world, case_id, status, **action)
        changed = time.monotonic()
        texts = wait_until(f"the '{status}' SMS", told(word))
        delays[status] = time.monotonic() - changed
        assert len(texts) == 1 and case_id in texts[0], texts
        page = wait_until(f"the province's portal showing {status}",
                          lambda s=status: shows(phone, case_id, query_code, s), timeout=20, poll=0.5)
        assert PERSON["complainant.phone"] not in page and PERSON["complainant.email"] not in page
    assert "调解成功" in texts[0] and "调解成功" in page                 # the outcome, in words

    # one SMS and one e-mail per step, nothing twice, each naming the case
    time.sleep(SETTLE_S)
    steps = sms_for(sms, case_id)
    assert len(steps) == 3 and all(m["to"] == PERSON["complainant.phone"] for m in steps), steps
    mails = wait_until("three e-mails at the SMTP server", lambda: len(mail_for(mail, case_id)) >= 3 and
                       mail_for(mail, case_id))
    assert len(mails) == 3, mails
    assert all(to == PERSON["complainant.email"] for to, _, _ in mails)
    subjects = " ".join(s for _, s, _ in mails)
    assert "已收到" in subjects and "已受理" in subjects and "已办结" in subjects, subjects

    # the survey, from the browser that looked the case up; it reaches the county
    assert 'id="feedback-form"' in page
    rated = phone.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "satisfied"})
    assert rated.status_code == 200 and 'id="progress-notice"' in rated.text, rated.text[-1000:]
    assert wait_until("the rating at the county", lambda: satisfaction_at_county(world, case_id),
                      timeout=30, poll=0.2) == "satisfied"

    # published without the complainant's identity by every node holding the case: the county
    # that handled it and the copies on its route (docs/publicity.md "Copies")
    staff_view = chain.api("440305", "GET", f"/api/v1/cases/{case_id}", role="handler")
    assert PERSON["complainant.name"] in json.dumps(staff_view.json(), ensure_ascii=False)  # the search below sees
    for code in ("440305", "440300", "440000"):
        url = chain.nodes[code].url + f"/public/v1/disclosures?uscc={FIRM_USCC}"
        found = wait_until(f"{case_id} in the publicity of {code}", lambda u=url: [
            i for i in requests.get(u, timeout=10).json()["items"] if i["case_id"] == case_id], timeout=20, poll=0.3)
        r = requests.get(url, timeout=10)
        raw = r.text + json.dumps(r.json(), ensure_ascii=False)
        for secret in PERSON.values():
            assert secret not in raw, f"{secret} published at {code}"
        [entry] = found
        assert entry["business_uscc"] == FIRM_USCC and entry["result_code"] == "mediated"
        assert entry["problem"] == "新买的平板电脑一周后无法开机" and entry["demand"] == "退货退款"
        by_name = requests.get(chain.nodes[code].url + "/public/v1/disclosures",
                               params={"q": PERSON["complainant.name"]}, timeout=10)
        assert by_name.json()["items"] == []          # nobody is found by the complainant's name
    print(f"\n[public path] submit → handled at the county: {routed_s:.2f} s; submit → 'received' SMS "
          f"{received_s:.2f} s; status change → SMS at the gateway: accepted {delays['accepted']:.2f} s, "
          f"concluded {delays['concluded']:.2f} s (notify.flush_interval_s = {FLUSH_S:g} s, replication push "
          f"0.5 s)")
    assert max(delays.values()) < 20          # far below the 600 s interval: the request woke the sender


def test_a_survey_answered_at_the_province_is_answered_once(world):
    phone, case_id, query_code = file_at_province(world, **{"complainant.phone": "13912340000",
                                                            "summary": "回访只能一次"})
    at_county(world, case_id)
    act(world, case_id, "accepted", action="accept")
    act(world, case_id, "concluded", action="conclude", outcome="mediated")
    wait_until("the province's portal showing concluded", lambda: shows(phone, case_id, query_code, "concluded"),
               timeout=20, poll=0.5)
    rated = phone.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "satisfied"})
    assert rated.status_code == 200 and 'id="progress-notice"' in rated.text
    again = phone.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "dissatisfied"})
    wait_until("the rating at the county", lambda: satisfaction_at_county(world, case_id), timeout=30, poll=0.2)
    time.sleep(2)                     # a second rating, if one was taken, arrives in the same way
    assert satisfaction_at_county(world, case_id) == "satisfied"
    assert 'id="feedback-form"' not in rated.text, "the thank-you page offers the survey again"
    assert again.status_code >= 400 or 'id="feedback-form"' not in again.text


def test_a_wrong_query_code_and_an_unknown_case_number_get_the_same_page(world):
    node = world["load"].nodes["440305"]
    phone = PhoneBrowser(node.url)
    phone.get("/public/complaint")
    filed = phone.post("/public/complaint", complaint_form(summary="查询码测试"))
    case_id, query_code = receipt_of(filed.text)
    assert shows(phone, case_id, query_code, "registered")
    wrong_code = "Z" * len(query_code) if query_code != "Z" * len(query_code) else "Y" * len(query_code)
    unknown = case_id[:-6] + "999999"
    a = phone.get(f"/public/track?case_id={case_id}&query_code={wrong_code}")
    b = phone.get(f"/public/track?case_id={unknown}&query_code={query_code}")
    assert a.status_code == b.status_code == 404
    assert "未找到与该编号和查询码相符的案件" in a.text
    assert without_csrf(a.text).replace(case_id, "#") == without_csrf(b.text).replace(unknown, "#")
    assert a.text.count(case_id) == b.text.count(unknown) == 1            # only the echoed number differs
    assert {k: v for k, v in a.headers.items() if k not in ("Date", "Content-Length", "Set-Cookie")} == \
           {k: v for k, v in b.headers.items() if k not in ("Date", "Content-Length", "Set-Cookie")}


def test_the_per_address_limit_answers_429_with_a_chinese_message(world):
    fed = world["limited"]
    phone = PhoneBrowser(fed.nodes["440305"].url)
    phone.get("/public/complaint")
    for _ in range(2):
        r = phone.post("/public/complaint", complaint_form(), allow_redirects=False)
        assert r.status_code == 303, r.text[-800:]
    refused = phone.post("/public/complaint", complaint_form(summary="第三次提交"), allow_redirects=False)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "提交次数过多" in refused.text and '<html lang="zh-CN">' in refused.text
    stored = fed.api("440305", "GET", "/api/v1/cases?limit=200").json()["items"]
    assert len(stored) == 2 and all(c["summary"] != "第三次提交" for c in stored)


def test_form_submit_to_case_stored_under_load(world):
    """50 submissions from 4 browsers at once (phone check off, limits raised): the time from
    the POST to the answer that the case is stored (the answer follows the commit)."""
    fed = world["load"]
    node = fed.nodes["440305"]
    total, threads = 50, 4

    def one_browser(n: int) -> list[float]:
        phone = PhoneBrowser(node.url)
        assert phone.get("/public/complaint").status_code == 200
        took = []
        for i in range(n):
            started = time.perf_counter()
            r = phone.post("/public/complaint", complaint_form(summary=f"负载测试第 {i} 件"), allow_redirects=False)
            took.append(time.perf_counter() - started)
            assert r.status_code == 303, r.text[-600:]
        return took

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        shares = [total // threads + (1 if k < total % threads else 0) for k in range(threads)]
        times = [t for part in pool.map(one_browser, shares) for t in part]
    wall = time.perf_counter() - began
    stored = fed.api("440305", "GET", "/api/v1/cases?limit=200").json()["items"]
    assert len([c for c in stored if c["summary"].startswith("负载测试")]) == total
    print(f"\n[public path] form submit → case stored, {total} submissions from {threads} browsers at once "
          f"(SQLite, waitress): p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms; {total / wall:.1f} submissions/s")
    assert p95(times) < 10            # loose sanity bound only
