"""Notices that reach people (issue 12 item 4; R2.7; CONTRACT §10): what the SMS gateway and a
real SMTP server receive, retries with backoff, the delivery log, a channel with no sender,
idempotent queueing, one-time codes sent at once, and nothing personal in the application
log. SQLite and PostgreSQL (``make_node``)."""
from __future__ import annotations

import logging
from datetime import UTC, timedelta

import pytest

from node.db import write_tx
from node.notify import (
    DeliveryAttempt,
    Notification,
    flush,
    list_deliveries,
    queue,
    queue_for_complainant,
    render,
    send_now,
    six_digit_numbers,
)
from tests.node.notify.stubs import MailServer, SmsGateway, configure, free_port

CID = "440305-20260930-000123"
PERSON = {"name": "陈女士", "phone": "13600001111", "email": "chen.nvshi@example.cn"}
FIELDS = {"name": PERSON["name"], "day": "2026-09-29", "kind": "complaint", "case_id": CID}


def tell(node, event="accepted", key=None, person=PERSON, **fields):
    subject, text = render(event, **{**FIELDS, "handler": "深圳市南山区市场监督管理局", **fields})
    with write_tx(node.db):
        return queue_for_complainant(node, key_base=key or f"{CID}|{event}", case_id=CID, event=event,
                                     complainant=person, text=text, subject=subject)


def naive(dt):
    return dt.astimezone(UTC).replace(tzinfo=None)


def the(channel="sms"):
    return Notification.get(Notification.channel == channel)


def test_an_sms_reaches_the_gateway_signed_and_names_the_case(node, sms, clock):
    assert tell(node, person={"name": "陈女士", "phone": "13600001111"}) == 1
    assert flush(node) == 1
    assert sms.bad_signatures == 0 and len(sms.messages) == 1
    got = sms.messages[0]
    assert got["to"] == "13600001111" and got["case_id"] == CID
    assert got["text"].startswith("【12315】陈女士您好：您于2026-09-29反映的投诉（编号 440305-20260930-000123）已由")
    assert "受理" in got["text"] and len(got["id"]) == 32
    assert sms.requests[0]["timestamp"] == str(int(clock.now.timestamp()))
    assert flush(node) == 0 and len(sms.requests) == 1          # sent once
    listed = list_deliveries(node, CID)
    assert [(i["state"], i["channel"], i["address"], i["attempts"]) for i in listed] == [
        ("sent", "sms", "136****1111", 1)]
    assert [d["ok"] for d in listed[0]["deliveries"]] == [True] and listed[0]["sender"] == "sms-http"


def test_a_wrong_secret_is_refused_by_the_gateway_and_the_message_waits(node, sms):
    configure(node, sms_secret="not-the-gateways")
    tell(node)
    assert flush(node) == 0
    assert sms.bad_signatures == 1 and the().state == "pending" and "HTTP 401" in the().last_error


def test_a_chinese_e_mail_reaches_a_real_smtp_server(node, mail):
    assert tell(node, "concluded", outcome="调解成功") == 2        # SMS and e-mail: one per channel given
    assert flush(node) == 1                                         # no SMS gateway: only the e-mail goes
    [msg] = mail.messages
    assert CID in msg["Subject"] and "已办结" in msg["Subject"]
    body = msg.get_content()
    assert CID in body and "结果：调解成功。" in body and "陈女士您好" in body
    assert msg["To"] == PERSON["email"] and msg["From"] == "12315@nanshan.example.cn"
    assert mail.envelopes[0].rcpt_tos == [PERSON["email"]]
    assert the("email").state == "sent" and the("email").sender == "smtp"
    waiting = the("sms")
    assert (waiting.state, waiting.attempts) == ("pending", 0) and "notify.sms_url" in waiting.last_error


def test_a_failed_try_is_retried_after_base_times_two_to_the_n(node, sms, clock):
    configure(node, backoff_base_s=30.0, backoff_cap_s=3600.0)
    sms.answers = [500, 503]
    tell(node)
    start = clock.now
    assert flush(node) == 0
    n = the()
    assert (n.state, n.attempts) == ("pending", 1) and "HTTP 500" in n.last_error
    assert n.next_attempt_at == naive(start + timedelta(seconds=30))       # base × 2^0
    clock.advance(seconds=29)
    assert flush(node) == 0 and len(sms.requests) == 1                       # not yet due: nothing tried
    clock.advance(seconds=1)
    assert flush(node) == 0 and len(sms.requests) == 2                       # second try: 503
    assert the().next_attempt_at == naive(clock.now + timedelta(seconds=60))  # base × 2^1
    clock.advance(seconds=60)
    assert flush(node) == 1 and len(sms.messages) == 1
    n = the()
    assert (n.state, n.attempts, n.last_error) == ("sent", 3, "")
    log = [(a.ok, a.error.split(" / ")[0]) for a in DeliveryAttempt.select().order_by(DeliveryAttempt.id)]
    assert log == [(False, "短信网关答复 HTTP 500"), (False, "短信网关答复 HTTP 503"), (True, "")]


def test_the_wait_is_capped(node, sms, clock):
    configure(node, backoff_base_s=30.0, backoff_cap_s=100.0, max_attempts=10)
    sms.answers = [500] * 4
    tell(node)
    for _ in range(3):
        flush(node)
        clock.set(the().next_attempt_at.replace(tzinfo=UTC))
    flush(node)
    assert the().next_attempt_at == naive(clock.now + timedelta(seconds=100))   # 240 capped at 100


def test_after_max_attempts_a_message_is_failed_and_left_alone(node, sms, clock):
    configure(node, max_attempts=3, backoff_base_s=1.0)
    sms.answers = [502] * 10
    tell(node)
    for _ in range(5):
        flush(node)
        clock.advance(hours=1)
    n = the()
    assert (n.state, n.attempts, n.next_attempt_at) == ("failed", 3, None) and "HTTP 502" in n.last_error
    assert len(sms.requests) == 3
    assert [i["state"] for i in list_deliveries(node) if i["channel"] == "sms"] == ["failed"]


def test_a_gateway_that_keeps_failing_costs_three_tries_per_run_not_one_per_message(node, sms):
    sms.answers = [500] * 20
    for i in range(5):
        tell(node, key=f"{CID}|accepted|{i}", person={"name": "陈女士", "phone": "13600001111"})
    assert flush(node) == 0
    assert len(sms.requests) == 3
    assert sorted(n.attempts for n in Notification.select()) == [0, 0, 1, 1, 1]


def test_a_message_the_gateway_refuses_is_failed_at_once(node, sms):
    sms.answers = [400]
    tell(node)
    assert flush(node) == 0
    assert (the().state, the().attempts) == ("failed", 1)


def test_without_a_sender_messages_wait_without_spending_tries_and_the_log_says_so_once(node, caplog):
    for event in ("received", "accepted", "concluded"):
        tell(node, event, person={"name": "陈女士", "phone": "13600001111"})
    caplog.set_level(logging.INFO)
    for _ in range(3):
        assert flush(node) == 0
    waiting = list(Notification.select())
    assert {(n.state, n.attempts) for n in waiting} == {("pending", 0)}
    assert all("短信网关未配置" in n.last_error and "notify.sms_url" in n.last_error for n in waiting)
    notes = [r.getMessage() for r in caplog.records if r.name == "node.notify.service"]
    assert notes == ["notify: 3 sms message(s) wait: no sms sender configured"] * 3   # once per flush
    assert DeliveryAttempt.select().count() == 0
    with SmsGateway(secret="k") as sms:                       # the operator configures the gateway
        configure(node, sms_url=sms.url, sms_secret="k")
        assert flush(node) == 3 and len(sms.messages) == 3


def test_queueing_is_idempotent_on_the_key(node):
    assert tell(node) == 2
    assert tell(node) == 0
    with write_tx(node.db):
        assert queue(node, key="k1", case_id=CID, event="accepted", channel="sms", to="13600001111", text="x")
        assert not queue(node, key="k1", case_id=CID, event="accepted", channel="sms", to="13600001111", text="y")
    assert Notification.select().count() == 3
    assert tell(node, person={"anonymous": True, "name": "陈女士", "phone": "13600001111"}, key="other") == 0


def test_a_one_time_code_is_sent_at_once_and_is_its_only_six_digit_number(node, sms):
    subject, text = render("code", code="004217", minutes=10)
    assert six_digit_numbers(text) == ["004217"] and "10分钟内有效" in text
    for bad in ("12345", "1234567", "abcdef"):
        with pytest.raises(ValueError):
            render("code", code=bad)
    with write_tx(node.db):
        queue(node, key="code|13600001111|1", case_id="", event="code", channel="sms", to="13600001111",
              text=text, subject=subject)
        with pytest.raises(RuntimeError):
            send_now(node, "code|13600001111|1")        # inside the transaction: nothing is sent
    assert sms.requests == []
    assert send_now(node, "code|13600001111|1") is True
    assert six_digit_numbers(sms.messages[0]["text"]) == ["004217"]
    # once spent, the code is not kept readable, nor shown to staff
    assert "004217" not in the().message and "004217" not in str(list_deliveries(node))
    assert send_now(node, "code|13600001111|1") is True and len(sms.requests) == 1   # not sent twice


def test_send_now_that_fails_leaves_the_code_to_the_retry_job(node, sms, clock):
    sms.answers = [500]
    with write_tx(node.db):
        queue(node, key="code-2", case_id="", event="code", channel="sms", to="13600001111",
              text=render("code", code="318822")[1])
    assert send_now(node, "code-2") is False
    assert (the().state, the().attempts) == ("pending", 1)
    clock.advance(seconds=node.config.notify.backoff_base_s)
    assert flush(node) == 1 and six_digit_numbers(sms.messages[0]["text"]) == ["318822"]


@pytest.mark.parametrize("event, extra", [
    ("received", {}), ("received", {"handler": "深圳市市场监督管理局"}), ("transferred", {}), ("accepted", {}),
    ("declined", {"ground": "已经处理过"}), ("referred", {"tell": "请拨打12300。"}), ("concluded", {"outcome": "调解成功"}),
    ("filed", {}), ("not_filed", {}), ("answered", {})])
def test_every_case_notice_names_the_case_number(event, extra):
    subject, text = render(event, **{**FIELDS, "handler": "深圳市南山区市场监督管理局", **extra})
    assert CID in text and CID in subject and text.startswith("【12315】陈女士您好")
    for value in extra.values():
        assert value in text
    assert "查询码" not in text or event == "received"


def test_nothing_personal_reaches_the_application_log(node, sms, mail, clock, caplog):
    """R2.7 privacy: ids, case ids, events, channels and error classes only."""
    caplog.set_level(logging.INFO)
    sms.answers = [500]
    configure(node, smtp_port=free_port())   # the relay is unreachable first (nothing listens there)
    tell(node, "accepted")
    assert flush(node) == 0                           # SMS: 500, e-mail: refused connection
    clock.advance(hours=1)
    configure(node, smtp_port=mail.port)
    assert flush(node) == 2                           # both retried, both sent
    assert len(sms.messages) == 1 and len(mail.messages) == 1
    # aiosmtpd's own "mail.log" is the outside relay's log, not this node's
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records if r.name != "mail.log")
    assert "failed" in logged and "sent by" in logged and CID in logged
    for secret in (PERSON["name"], PERSON["phone"], PERSON["email"], "您好"):
        assert secret not in logged
    errors = [a.error for a in DeliveryAttempt.select()]
    assert all(PERSON["phone"] not in e and PERSON["email"] not in e for e in errors)


def test_the_staff_listing_masks_addresses_and_shows_the_delivery_log(app_client):
    node = app_client.node
    with node.activate():
        tell(node, person=PERSON)
    r = app_client.get(f"/api/v1/notifications?case_id={CID}", role="intake")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert {(i["channel"], i["address"]) for i in items} == {("sms", "136****1111"), ("email", "c***@example.cn")}
    assert all(i["status"] == "accepted" and i["state"] == "pending" and i["deliveries"] == [] for i in items)
    assert PERSON["phone"] not in r.get_data(as_text=True)
    assert app_client.get("/api/v1/notifications", role="analyst").status_code == 403


def test_the_job_runs_at_the_configured_interval(node):
    from node import jobs
    specs = {name: (interval, fn) for name, interval, fn in jobs.specs(node)}
    assert "routing.notifications" not in specs
    interval, fn = specs["notify.flush"]
    configure(node, flush_interval_s=7.5)
    assert interval(node) == 7.5 and fn is flush


def test_a_mail_server_that_is_down_is_a_transient_failure(node, clock):
    with MailServer() as server:
        port = server.port
    configure(node, smtp_host="127.0.0.1", smtp_port=port, timeout_s=2.0)
    tell(node, person={"name": "陈女士", "email": PERSON["email"]})
    assert flush(node) == 0
    n = the("email")
    assert (n.state, n.attempts) == ("pending", 1) and "邮件服务器无法连接" in n.last_error
