"""Field-level checks of the data standard: text, money, times, phones.

Serves R7.3 and R4.1 (complete, standard records; CONTRACT §5 conventions: text without
control characters, money as a decimal string, times with an offset). Public because the
validator of the input document (``validate.py``), the province extensions, the actions
(``conclude``'s ``amount_recovered``, notes, reasons) and the search filter all check their
values the same way; each check raises ``NodeError`` naming the field.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from node.cases.standard import MONEY_MAX_INTEGER_DIGITS, SPECS_BY_NAME
from node.errors import NodeError, invalid, shown

# A clerk's or a partner system's clock may run a little ahead of ours; more than this is a
# typo (wrong year/month) that would distort deadlines, so it is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)

# C0 controls except \t \n \r, DEL, C1 controls, and lone surrogates (JSON "\ud800" decodes to
# one; it cannot be encoded as UTF-8, so it would break canonical JSON and the database).
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Characters that change how text around them is shown without being visible themselves: the
# bidi embeddings, overrides and isolates (U+202E turns "txt.exe" into "exe.txt" on screen),
# the marks, and zero-width spaces and joiners (a name with one looks identical to the name
# without it, so look-ups and duplicate hints miss). Issue 13 "found from outside".
_INVISIBLE_RE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Exactly digits, an optional point and one or two digits: no sign, no spaces, no "_" and no
# trailing newline (re's "$" would allow one), ASCII digits only.
_MONEY_RE = re.compile(r"(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?", re.ASCII)
_FULL_WIDTH_RE = re.compile("[\uff01-\uff5e\u3000]")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]*[0-9]$")


def field_label(name: str) -> str:
    spec = SPECS_BY_NAME.get(name)
    return spec.label_zh if spec is not None else name


def required_error(name: str) -> NodeError:
    return NodeError(422, "required", f"{field_label(name)}（{name}）为必填项 / {name} is required", name)


def check_text(value: Any, name: str, *, max_length: int | None = None) -> str:
    """A string without control characters, stripped, at most ``max_length`` characters.

    Returns the stripped string (possibly empty: the caller decides whether blank is allowed).
    """
    label = field_label(name)
    if not isinstance(value, str):
        raise invalid(name, f"{label}（{name}）须为字符串 / {name} must be a string")
    bad = _BAD_CHAR_RE.search(value)
    if bad is not None:
        raise invalid(
            name,
            f"{label}（{name}）含控制字符或无效字符 U+{ord(bad.group()):04X}"
            f" / {name} contains a control or invalid character U+{ord(bad.group()):04X}",
        )
    odd = _INVISIBLE_RE.search(value)
    if odd is not None:
        raise invalid(
            name,
            f"{label}（{name}）含不可见的方向控制或零宽字符 U+{ord(odd.group()):04X}，请删除后重新输入"
            f" / {name} contains an invisible direction-control or zero-width character U+{ord(odd.group()):04X}",
        )
    text = value.strip()
    if max_length is not None and len(text) > max_length:
        raise NodeError(
            422,
            "too_long",
            f"{label}（{name}）超过 {max_length} 字（实为 {len(text)} 字）"
            f" / {name} is longer than {max_length:,} characters ({len(text):,})",
            name,
        )
    return text


def parse_money(value: Any, name: str) -> str:
    """A CNY amount: decimal string ≥ 0, at most two decimals → normalised ``"1299.00"``.

    Money never travels as a float (binary floats cannot hold 0.1 exactly, and canonical JSON
    refuses them), so a JSON number is refused with a message that says so.
    """
    label = field_label(name)
    if isinstance(value, (bool, int, float)):  # bool is an int subclass: refused too
        raise NodeError(
            422,
            "money_not_string",
            f"金额须为字符串，如 \"1299.00\"，不得为 JSON 数字（{name}）"
            f" / {name}: amount must be a decimal string such as \"1299.00\", not a JSON number"
            " (money never travels as a float)",
            name,
        )
    if not isinstance(value, str):
        raise invalid(name, f"{label}（{name}）须为字符串，如 \"1299.00\" / {name} must be a decimal string such as \"1299.00\"")
    text = value
    if text.startswith("-"):
        raise invalid(name, f"{label}（{name}）不得为负数 / {name} must not be negative")
    m = _MONEY_RE.fullmatch(text)
    if m is None:
        raise invalid(
            name,
            f"{label}（{name}）格式不正确：{shown(value)!r}，应为不超过两位小数的非负数，如 \"1299.00\"，"
            "前后不带空格，数字为半角"
            f" / {name} must be a non-negative decimal with at most two decimals, such as \"1299.00\"",
        )
    if len(m.group("int").lstrip("0")) > MONEY_MAX_INTEGER_DIGITS:
        raise invalid(
            name,
            f"{label}（{name}）数额过大 / {name} exceeds {MONEY_MAX_INTEGER_DIGITS} integer digits",
        )
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation as e:  # pragma: no cover - the regex admits only valid decimals
        raise invalid(name, f"{label}（{name}）格式不正确 / {name} is not a decimal") from e
    return f"{amount:.2f}"


def parse_received_at(value: Any, name: str, now: datetime) -> datetime:
    """ISO 8601 with a UTC offset, not more than 5 minutes after ``now`` → aware UTC datetime."""
    if not isinstance(value, str):
        raise invalid(name, f"登记时间（{name}）须为 ISO 8601 字符串 / {name} must be an ISO 8601 string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            name,
            f"登记时间（{name}）格式不正确：{shown(value)!r}，应如 2026-09-29T10:00:00+08:00"
            f" / {name} must be ISO 8601 with an offset, e.g. 2026-09-29T10:00:00+08:00",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise invalid(
            name,
            f"登记时间（{name}）须带时区偏移，如 +08:00 / {name} must carry a UTC offset such as"
            " +08:00 (a time without one is ambiguous)",
        )
    if parsed > now + FUTURE_TOLERANCE:
        raise invalid(
            name,
            f"登记时间（{name}）{shown(text)} 晚于当前时间（允许误差 5 分钟）"
            f" / {name} {shown(text)} is in the future (more than 5 minutes after the server's clock)",
        )
    return parsed.astimezone(UTC)


_EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")


def check_email(value: Any, name: str) -> str:
    """One e-mail address for notices (issue 12): ``local@domain`` with a dotted domain, no
    display name, nothing a mail header could be split on."""
    text = check_text(value, name, max_length=254)
    if text and _EMAIL_RE.match(text) is None:
        raise invalid(name, f"电子邮箱（{name}）格式不正确，例如 name@example.com / {name} must be one e-mail "
                            "address like name@example.com")
    return text


def check_date(value: Any, name: str, latest: date) -> date:
    """A calendar date ``YYYY-MM-DD`` not after ``latest`` (the dispute before its complaint)."""
    if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()) is None:
        raise invalid(name, f"日期（{name}）须为 YYYY-MM-DD / {name} must be a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise invalid(name, f"日期（{name}）不存在 / {name} is not a real date") from None
    if day > latest:
        raise invalid(name, f"日期（{name}）不能晚于登记日期 / {name} cannot be after the receipt date")
    return day


def check_phone(value: Any, name: str) -> str:
    text = check_text(value, name, max_length=None)
    if not text:
        return text
    spec = SPECS_BY_NAME.get(name)
    lo = spec.min_length if spec and spec.min_length else 5
    hi = spec.max_length if spec and spec.max_length else 20
    if _FULL_WIDTH_RE.search(text):
        # refused, not normalised (docs/decisions.md "Full-width digits"): a phone is compared
        # as stored, and a silently rewritten value would differ from what the clerk sees
        raise invalid(
            name,
            f"联系电话（{name}）含全角字符，请用半角数字输入（如 13800000000）"
            f" / {name} holds full-width characters: type half-width digits (e.g. 13800000000)",
        )
    digits = sum(c.isdigit() for c in text)
    if not (lo <= len(text) <= hi) or _PHONE_RE.match(text) is None or digits < lo:
        raise invalid(
            name,
            f"联系电话（{name}）格式不正确：只能含数字、+、- 和空格，{lo}–{hi} 位"
            f" / {name} must be {lo}-{hi} characters of digits, '+', '-' and spaces",
        )
    return text
