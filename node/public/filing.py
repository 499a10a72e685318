"""Filing a consultation, complaint or report from the public portal (issue 12 items 1-2).

``submit`` is the whole domain step: limits, the phone check, the consent, then the case
through ``node.cases.create_case`` (the same validation and the same routing as any other
channel: a submission at a province portal routes to the competent unit), its query code and
its attachments — the case, the code and every attachment in one transaction, so a refused
attachment leaves no case behind and a stored case always has its code.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from node.cases import Actor, categories, create_case
from node.db import write_tx
from node.errors import NodeError, invalid
from node.evidence import add_evidence
from node.public import codes, limits
from node.runtime import Node
from node.web.forms import nested

# what the portal files as (the case's history names it; no staff member is involved)
PORTAL = Actor("12315-portal", "intake")

KINDS = ("complaint", "report", "consultation")
FIELDS = ("kind", "report_target", "also_report",
          "complainant.type", "complainant.name", "complainant.phone", "complainant.address", "complainant.email",
          "complainant.anonymous",
          "respondent.name", "respondent.uscc", "respondent.region_code", "respondent.address",
          "category", "occurred_on", "summary", "description", "demand", "amount")
CHECKBOXES = ("also_report", "complainant.anonymous")
MAX_FILES = 5


@dataclass(frozen=True)
class Upload:
    stream: BinaryIO
    name: str
    media_type: str | None


@dataclass(frozen=True)
class Receipt:
    case_id: str
    query_code: str
    kind: str
    linked_case: str | None
    attachments: int


def form_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``create_case`` from the posted form: only the portal's fields, the
    channel always ``web`` (CONTRACT §10), the report target only on a report."""
    body = nested(form, FIELDS, checkboxes=CHECKBOXES)
    kind = body.get("kind")
    if kind != "report":
        body.pop("report_target", None)
        body.get("complainant", {}).pop("anonymous", None)
    elif not body.get("complainant", {}).get("anonymous"):
        body.get("complainant", {}).pop("anonymous", None)
    if kind != "complaint" or not body.get("also_report"):
        body.pop("also_report", None)
    if isinstance(body.get("amount"), str):
        body["amount"] = body["amount"].replace(",", "").replace("，", "").strip("¥￥元 ")
    if isinstance(body.get("category"), str):
        body["category"] = body["category"].split(maxsplit=1)[0].upper() if body["category"] else ""
    body["channel"] = "web"
    return body


def needs_phone_check(node: Node, body: Mapping[str, Any]) -> str | None:
    """The phone a one-time code must confirm, if any: a named complainant or reporter."""
    if not node.config.public.require_phone_code:
        return None
    who = body.get("complainant") or {}
    if who.get("anonymous"):
        return None
    phone = who.get("phone")
    return phone if isinstance(phone, str) and phone.strip() else None


def send_phone_code(node: Node, phone: Any, purpose: str, address: str) -> None:
    """Send a one-time code by SMS (the notify domain's sender, at once), within the limits."""
    from node.notify import queue, render, send_now
    if not isinstance(phone, str) or sum(ch.isdigit() for ch in phone) < 5 or len(phone) > 20:
        raise invalid("phone", "请填写正确的手机号码 / enter a valid mobile number")
    limits.hit(node, "code-address", address)
    limits.hit(node, "code-phone", codes.phone_key(node, phone))
    code = codes.new_phone_code(node, phone, purpose)
    subject, text = render("code", code=code, minutes=node.config.public.code_ttl_minutes)
    key = f"code|{secrets.token_hex(16)}"     # every code is its own message
    with write_tx(node.db):
        queue(node, key=key, case_id="", event="code", channel="sms", to=phone.strip(), text=text, subject=subject)
    send_now(node, key)


def submit(node: Node, form: Mapping[str, Any], uploads: Sequence[Upload], address: str) -> Receipt:
    """File the case the form describes; raise ``NodeError`` naming the field on any refusal
    (nothing stored then)."""
    body = form_body(form)
    if body.get("kind") not in KINDS:
        raise invalid("kind", "请选择咨询、投诉或举报 / choose consultation, complaint or report")
    if str(form.get("consent") or "") not in ("1", "on", "yes", "true"):
        raise invalid("consent", "请阅读并同意个人信息处理说明 / please read and agree to how your personal data is used")
    uploads = [u for u in uploads if u.name]
    if len(uploads) > MAX_FILES:
        raise invalid("evidence", f"最多上传 {MAX_FILES} 个附件 / at most {MAX_FILES} attachments")
    limits.hit(node, "submit-address", address)
    phone = needs_phone_check(node, body)
    if phone is not None:
        limits.hit(node, "submit-phone", codes.phone_key(node, phone))
        if not codes.use_phone_code(node, phone, "submit", str(form.get("phone_code") or "")):
            raise invalid("phone_code", "手机验证码不正确或已过期，请重新获取 / the SMS code is wrong or expired; ask "
                                        "for a new one")
    query_code, code_hash = codes.prepare_query_code(node)
    with write_tx(node.db):
        case = create_case(node, body, PORTAL)
        codes.store_query_code(node, case["id"], code_hash)
        if case.get("linked_case"):
            # the two tracks are followed with the same code (the receipt names both numbers)
            codes.store_query_code(node, case["linked_case"], code_hash)
        attached = 0
        for upload in uploads:
            try:
                add_evidence(node, case["id"], PORTAL, upload.stream, upload.name, upload.media_type)
            except NodeError as exc:
                raise NodeError(exc.status, exc.code, f"附件“{upload.name[:60]}”：{exc.message}", "evidence") from None
            attached += 1
    return Receipt(case["id"], query_code, case["kind"], case.get("linked_case"), attached)


def category_choices(node: Node) -> list[dict[str, Any]]:
    """The category picker: top groups with their leaves, Chinese and English names."""
    table = categories(node)
    items = table.items()
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for item in items:
        by_parent.setdefault(item.get("parent"), []).append(item)
    out = []
    for top in by_parent.get(None, []):
        for group in by_parent.get(top["code"], []):
            leaves = by_parent.get(group["code"], []) or [group]
            out.append({"group": group, "items": leaves})
    return out
