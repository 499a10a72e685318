"""Demo check of the public portal (``n12315 demo [--check]``; issue 12; CONTRACT §10).

Over the real processes, as a consumer's phone browser: a complaint filed on the Guangdong
provincial portal about a Nanshan business, with the phone confirmed by the SMS code the
demo's gateway received; the receipt's case number and query code; the case routed to Nanshan
440305; the consumer follows it at the province and the SMS notice names the case number.
"""
from __future__ import annotations

import re
from typing import Any

import requests

from admin_cli.demo import DemoError, Federation
from admin_cli.demo_checks import check

PHONE = "13912345678"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page: requests.Response) -> str:
    found = _CSRF.search(page.text)
    if page.status_code != 200 or found is None:
        raise DemoError(f"no form at {page.url} ({page.status_code})")
    return found.group(1)


@check("公众门户 / a consumer files on the province portal with the SMS code and follows the case")
def public_complaint(fed: Federation, created: list[dict[str, Any]]) -> str:
    if fed.sms is None:
        raise DemoError("the demo runs no SMS gateway")
    portal = fed.nodes["440000"].url + "/public"
    with requests.Session() as phone:
        token = _csrf(phone.get(portal + "/complaint", timeout=30))
        sent = phone.post(portal + "/phone-code", data={"phone": PHONE, "csrf_token": token},
                          headers={"Accept": "application/json"}, timeout=30)
        codes = [re.findall(r"(?<!\d)\d{6}(?!\d)", t) for t in fed.sms.to(PHONE)]
        if sent.status_code != 200 or not codes or len(codes[-1]) != 1:
            raise DemoError(f"no SMS code reached the gateway ({sent.status_code})")
        form = {"csrf_token": token, "kind": "complaint", "complainant.name": "陈女士", "complainant.phone": PHONE,
                "complainant.address": "广东省广州市天河区体育西路 1 号", "respondent.name": "深圳市南山区某电器商行",
                "respondent.region_code": "440305", "category": "G0303", "summary": "网购电饭煲收货即损坏",
                "description": "收货当天发现内胆变形，商家拒绝退换。", "demand": "退货退款", "amount": "399",
                "phone_code": codes[-1][0], "consent": "1"}
        filed = phone.post(portal + "/complaint", data=form, timeout=30)
        receipt = filed.text
        case_id = re.search(r'id="case-id">([^<]+)<', receipt)
        query_code = re.search(r'id="query-code">([^<]+)<', receipt)
        if case_id is None or query_code is None:
            raise DemoError(f"no receipt after filing ({filed.status_code})")
        cid, qc = case_id.group(1), query_code.group(1)
        fed.wait_for(f"{cid} at Nanshan 440305",
                     lambda: fed.api("440305", "GET", f"/api/v1/cases/{cid}", role="admin").status_code == 200)
        with requests.Session() as other:
            page = other.get(portal + "/track", params={"case_id": cid, "query_code": qc}, timeout=30)
        status = re.search(r'id="case-status"[^>]*>([^<]+)<', page.text)
        if page.status_code != 200 or status is None:
            raise DemoError(f"{cid}: the query code does not show the case ({page.status_code})")
        fed.wait_for(f"the SMS notice of {cid}", lambda: any(cid in t for t in fed.sms.to(PHONE)))
    return (f"{cid}（查询码 {qc}）已到南山 440305，门户显示“{status.group(1)}”，短信已告知 / reached 440305, "
            f"the portal shows it, the SMS named it")
