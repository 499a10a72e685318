"""No file under a node's home holds a complainant's phone or name in plain text (CONTRACT §11;
issue 13 item 1 "At rest").

A real county node (``n12315 init``, ``n12315 serve`` on 127.0.0.1, SQLite) takes a case through
the desk API and one through the public portal with the SMS phone check; the consumer follows
by phone (the keyed-hash look-up in a real process); each case gets a text attachment naming
the complainant and their phone (one through the desk API, one with the portal form), and the
desk downloads both byte for byte; the notices go to the SMS gateway stub; a backup is made with
``n12315 backup``. Then serve stops and every file under the home — the database, its WAL and
shared memory, the evidence blobs, the serve log, the backup — is read as bytes: neither the
phone nor the name (UTF-8) occurs anywhere.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from admin_cli.demo import cli_cmd
from tests.node.notify.stubs import SmsGateway
from tests.process.portal_nodes import PhoneBrowser, codes_in, receipt_of, start_nodes

pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]

SECRET = "rest-gateway-secret"
SINGLE = [("county", "440305", "深圳市南山区市场监督管理局", None)]
DESK_NAME, DESK_PHONE = "欧阳晓芸", "13712340987"
PORTAL_NAME, PORTAL_PHONE = "司徒明澈", "15890761234"
PORTAL_PHONE_TYPED = "158 9076 1234"   # as a person may type it: the look-up normalises
DESK_RECEIPT = f"购物小票\n顾客：{DESK_NAME}\n电话：{DESK_PHONE}\n金额：1299.00\n".encode()
PORTAL_RECEIPT = f"退货申请\n申请人 {PORTAL_NAME} {PORTAL_PHONE}\n".encode()


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def desk_case() -> dict[str, Any]:
    return {"kind": "complaint", "channel": "phone", "received_at": "2026-09-29T10:00:00+08:00",
            "complainant": {"name": DESK_NAME, "phone": DESK_PHONE, "address": "深圳市南山区桃园路 9 号",
                            "email": "oyxy@example.cn", "anonymous": False},
            "respondent": {"name": "深圳市某某电器有限公司", "uscc": "914403001922038216",
                           "region_code": "440305", "address": "深圳市南山区粤海街道"},
            "category": "G0303", "summary": "新买的冰箱不制冷，商家拒绝退货",
            "description": "购买冰箱一台，使用三天后不制冷，要求退货被拒。", "amount": "1299.00"}


def portal_form() -> dict[str, Any]:
    return {"kind": "complaint", "complainant.type": "individual", "complainant.name": PORTAL_NAME,
            "complainant.phone": PORTAL_PHONE, "complainant.address": "广东省深圳市南山区科技园路 1 号",
            "respondent.name": "深圳市南山区星河电子科技有限公司", "respondent.region_code": "440305",
            "category": "G0303", "summary": "新买的平板电脑一周后无法开机", "occurred_on": "2026-09-18",
            "description": "使用一周后无法开机，门店拒绝退换。", "demand": "退货退款", "consent": "1"}


def sms_code(sms: SmsGateway, phone: str, since: int) -> str:
    msg = wait_until(f"a one-time code for {phone}",
                     lambda: [m for m in sms.messages[since:] if m["to"].replace(" ", "") == phone])
    [code] = codes_in(msg[-1]["text"])
    return code


def test_no_file_under_the_home_holds_a_phone_or_a_name_in_plain_text(tmp_path):
    with SmsGateway(secret=SECRET) as sms:
        env = {"N12315_NOTIFY__SMS_URL": sms.url, "N12315_NOTIFY__SMS_SECRET": SECRET,
               "N12315_NOTIFY__FLUSH_INTERVAL_S": "1"}
        fed = start_nodes(tmp_path / "fed", SINGLE, {"440305": ("admin", "intake")}, env)
        home = fed.nodes["440305"].home
        try:
            made = fed.api("440305", "POST", "/api/v1/cases", role="intake", json=desk_case())
            assert made.status_code == 201, made.text
            desk_id = made.json()["id"]
            attached = fed.api("440305", "POST", f"/api/v1/cases/{desk_id}/evidence", role="intake",
                               files={"file": ("小票.txt", DESK_RECEIPT, "text/plain")})
            assert attached.status_code == 201, attached.text

            browser = PhoneBrowser(fed.nodes["440305"].url)
            assert browser.get("/public/complaint").status_code == 200
            before = len(sms.messages)
            asked = browser.post("/public/phone-code", {"phone": PORTAL_PHONE}, headers={"Accept": "application/json"})
            assert asked.status_code == 200, asked.text
            filed = browser.post("/public/complaint", {**portal_form(), "phone_code": sms_code(sms, PORTAL_PHONE,
                                                                                                before)},
                                 files=[("evidence", ("退货申请.txt", PORTAL_RECEIPT, "text/plain"))])
            assert filed.status_code == 200 and filed.url.endswith("/public/receipt"), filed.text[-800:]
            portal_id, _ = receipt_of(filed.text)

            # following by phone finds the case through the keyed hash, typed with spaces
            follower = PhoneBrowser(fed.nodes["440305"].url)
            assert follower.get("/public/track").status_code == 200
            before = len(sms.messages)
            asked = follower.post("/public/phone-code", {"phone": PORTAL_PHONE_TYPED, "purpose": "track"},
                                  headers={"Accept": "application/json"})
            assert asked.status_code == 200, asked.text
            listed = follower.post("/public/track/phone", {"phone": PORTAL_PHONE_TYPED,
                                                           "phone_code": sms_code(sms, PORTAL_PHONE, before)})
            assert listed.status_code == 200 and portal_id in listed.text, listed.text[-800:]

            # the notices were queued, sent and logged (the outbox and delivery log hold rows)
            for case_id in (desk_id, portal_id):
                wait_until(f"the 'received' SMS for {case_id}",
                           lambda cid=case_id: [m for m in sms.messages if cid in m["text"]])
            read = fed.api("440305", "GET", f"/api/v1/cases/{desk_id}", role="admin")
            assert read.status_code == 200 and DESK_PHONE in read.text   # readable through the API
            for case_id, receipt in ((desk_id, DESK_RECEIPT), (portal_id, PORTAL_RECEIPT)):
                [item] = fed.api("440305", "GET", f"/api/v1/cases/{case_id}/evidence", role="admin").json()["items"]
                got = fed.api("440305", "GET", f"/api/v1/cases/{case_id}/evidence/{item['sha256']}", role="admin")
                assert got.status_code == 200 and got.content == receipt

            (home / "backups").mkdir(mode=0o700, exist_ok=True)
            backup = cli_cmd(home, "backup", "--to", str(home / "backups" / "b.n12315-backup"),
                             "--passphrase-stdin", stdin="rest-passphrase\n")
            assert backup.returncode == 0, backup.stderr
        finally:
            fed.stop_all()

    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"node.db", "serve.log", "b.n12315-backup"} <= names, names
    assert len([p for p in files if p.relative_to(home).parts[0] == "evidence"]) == 2
    secrets = [s.encode() for s in (DESK_NAME, DESK_PHONE, PORTAL_NAME, PORTAL_PHONE)]
    found = [(str(p.relative_to(home)), s.decode()) for p in files for s in secrets if s in p.read_bytes()]
    assert found == [], found
