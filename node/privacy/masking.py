"""The masked view of a person's data (issue 13 items 2 and 3).

One rule set for every place that shows personal data to someone who may not read it in full —
the desk, the API, the CLI, exports, a copy holder's store: the surname stays (``李**``), a
phone keeps its first three and last four digits (``139****0000``), an address keeps its
division part, an e-mail its first letter and domain, an ID number its first and last
characters. The stars do not tell the length of a name.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "**"

# the keys of §5's complainant object that identify a person; other keys (``type``) pass
PERSONAL_KEYS = ("name", "phone", "address", "email", "id_number", "id_type", "contact")

# the division part of a Chinese address: through the county-level word, else the city, else
# the province (``南山区`` in ``广东省深圳市南山区科技园路1号``)
_DIVISION_ENDS = (re.compile(r"^(.{2,20}?(?:县|区|旗))"), re.compile(r"^(.{2,20}?市)"),
                  re.compile(r"^(.{2,10}?(?:省|自治区))"))


def mask_name(name: Any) -> str:
    """``李四`` → ``李**``; ``欧阳娜娜`` → ``欧**`` (a compound surname is not guessed at)."""
    text = str(name or "").strip()
    return text[:1] + MASK if text else ""


def mask_phone(phone: Any) -> str:
    """``13900000000`` → ``139****0000``; short numbers are starred whole."""
    text = str(phone or "").strip()
    if not text:
        return ""
    if len(text) >= 7:
        return f"{text[:3]}****{text[-4:]}"
    return "****"


def mask_email(email: Any) -> str:
    """``zhang@example.com`` → ``z***@example.com``."""
    text = str(email or "").strip()
    local, at, domain = text.partition("@")
    if not at:
        return mask_name(text)
    return f"{local[:1]}***@{domain}"


def mask_address(address: Any) -> str:
    """``广东省深圳市南山区科技园路1号`` → ``广东省深圳市南山区***``: the division stays, where in
    it does not."""
    text = str(address or "").strip()
    if not text:
        return ""
    for pattern in _DIVISION_ENDS:
        m = pattern.match(text)
        if m:
            return m.group(1) + "***"
    return text[:2] + "***"


def mask_id_number(value: Any) -> str:
    """``440305199001011234`` → ``4****************4``."""
    text = str(value or "").strip()
    if len(text) <= 2:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 2) + text[-1]


_MASKERS = {"name": mask_name, "phone": mask_phone, "address": mask_address, "email": mask_email,
            "id_number": mask_id_number, "contact": mask_name}


def mask_person(person: Mapping[str, Any] | None) -> dict:
    """A copy of a §5 person object (``complainant``) with every personal key masked and a
    ``masked: true`` marker so no reader mistakes it for the real data."""
    if not person:
        return {}
    out: dict[str, Any] = {}
    for key, value in person.items():
        masker = _MASKERS.get(key)
        out[key] = masker(value) if masker and value not in (None, "") else value
    out["masked"] = True
    return out


# a mainland mobile number, an 18-character resident ID number, an e-mail address typed in a
# description or a note (issue 13 item 1 "free-text contact data"); digits around them end the match
_ID_IN_TEXT = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_text(text: Any) -> str:
    """Free text with the ID numbers, mobile numbers and e-mail addresses in it masked (issue 13
    item 3): ``请拨13900000000`` → ``请拨139****0000``. Names in prose are not guessed at."""
    out = str(text or "")
    out = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), out)
    out = _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), out)
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), out)


def mask_address_for(channel_address: str) -> str:
    """A notification's destination (phone or e-mail) masked for the delivery log."""
    return mask_email(channel_address) if "@" in channel_address else mask_phone(channel_address)
