"""What a message says (issue 12 item 4; R2.7; CONTRACT §10; docs/notifications.md).

``render(event, **fields) -> (subject, text)``: one Chinese template per event. The wording of
the status notices is the one routing used since R2.7 ("【12315】…您好：您于…反映的投诉（编号
…）已由…受理。"), with the ground, the outcome or what to tell appended. Every message about a
case names its number (CONTRACT §10). A one-time code message holds the code as its only
6-digit number, so a phone can fill it in automatically; it names no case (a case number holds
6-digit division codes). No template takes a query code: messages are stored and listed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KIND_ZH = {"complaint": "投诉", "report": "举报", "consultation": "咨询"}

# what the status notices say after "您于…反映的投诉（编号 …）"
STATUS_TELL = {
    "transferred": "已转至{handler}办理",
    "accepted": "已由{handler}受理",
    "declined": "{handler}决定不予受理",
    "referred": "不属于市场监管部门职责，已移送或告知主管部门",
    "concluded": "已由{handler}办结",
    "filed": "{handler}已立案调查",
    "not_filed": "{handler}决定不予立案",
    "answered": "已答复",
}
# the case status each event tells of (the listing's ``status``)
EVENT_STATUS = {**{e: e for e in STATUS_TELL}, "received": "registered", "code": ""}
EVENTS = tuple(EVENT_STATUS)
SUBJECT_TELL = {"transferred": "已转办", "accepted": "已受理", "declined": "不予受理", "referred": "已移送主管部门",
                "concluded": "已办结", "filed": "已立案", "not_filed": "不予立案", "answered": "已答复"}

_CODE = re.compile(r"\d{6}")
_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")


def render(event: str, **fields: Any) -> tuple[str, str]:
    """The subject and text of one message (R2.7). Case events take ``name``, ``day``
    (YYYY-MM-DD the case was received), ``kind``, ``case_id`` and, as the event needs,
    ``handler`` (a unit's name), ``ground`` (declined), ``outcome`` (concluded), ``tell``
    (referred); ``received`` takes an optional ``handler`` when the case was sent on at
    intake. ``code`` takes ``code`` (6 digits) and ``minutes``."""
    if event == "code":
        return _render_code(fields)
    if event not in EVENT_STATUS:
        raise ValueError(f"unknown notification event {event!r}")
    f = _need(fields, "name", "day", "kind", "case_id")
    what = KIND_ZH.get(str(f["kind"]), "诉求")
    cid = f["case_id"]
    head = f"【12315】{f['name']}您好：您于{f['day']}反映的{what}"
    if event == "received":
        text = f"{head}已收到，编号 {cid}。"
        if fields.get("handler"):
            text += f"已转至{fields['handler']}办理。"
        text += "请保存编号和查询码，凭编号和查询码（或本手机号和短信验证码）可查询办理进度。"
        return f"12315 已收到您的{what}（编号 {cid}）", text
    tell = STATUS_TELL[event]
    if "{handler}" in tell:
        tell = tell.format(handler=_need(fields, "handler")["handler"])
    text = f"{head}（编号 {cid}）{tell}。"
    if event == "referred" and fields.get("tell"):
        text += str(fields["tell"])
    elif event == "declined" and fields.get("ground"):
        text += f"理由：{fields['ground']}。"
    elif event == "concluded" and fields.get("outcome"):
        text += f"结果：{fields['outcome']}。"
    return f"12315 {what}办理进度：{SUBJECT_TELL[event]}（编号 {cid}）", text


def _render_code(fields: Mapping[str, Any]) -> tuple[str, str]:
    code = str(_need(fields, "code")["code"])
    if not _CODE.fullmatch(code):
        raise ValueError("a one-time code is 6 digits")
    minutes = int(fields.get("minutes", 10))
    if not 0 < minutes < 1000:
        raise ValueError("minutes must be 1-999")
    text = f"【12315】验证码 {code}，{minutes}分钟内有效，请勿告诉他人。"
    if six_digit_numbers(text) != [code]:   # CONTRACT §10: the code is the only one
        raise ValueError("a code message must hold exactly one 6-digit number")
    return "12315 验证码", text


def six_digit_numbers(text: str) -> list[str]:
    """The runs of exactly six digits in ``text`` (what a phone takes for a code)."""
    return _SIX_DIGITS.findall(text)


def _need(fields: Mapping[str, Any], *names: str) -> Mapping[str, Any]:
    missing = [n for n in names if fields.get(n) in (None, "")]
    if missing:
        raise ValueError(f"notification template needs {', '.join(missing)}")
    return fields
