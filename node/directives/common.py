"""What every part of emergency dispatch and consumer warnings shares: the vocabularies, who
acts, times, and the checks of a request body.

Serves R3.1-R3.4 (directives) and R4.4, R6.4 (consumer warnings): both publish down the
tree with the same severities and categories, the same roles and the same bilingual
refusals, so the checks live here once and neither side imports the other's internals.

* ``Actor`` / ``as_actor`` — a staff user of the API or the operator at the CLI;
  ``require_role`` refuses with 403.
* ``show`` (+08:00, whole seconds), ``db_time`` (naive UTC for the database), ``aware``,
  ``dumps`` (compact JSON for stored documents).
* ``json_object``, ``unknown_fields``, ``text_field``, ``enum_field``, ``minutes_field``,
  ``bool_field`` — each refusal a ``NodeError`` naming the field.
* ``is_within`` / ``divisions`` — the division tree; ``child_links`` — the links a document
  travels down; ``category_name`` — a directive category or a goods/services code in words.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from federation.models import Link
from node.cases import load_categories
from node.divisions import DivisionTable, load_divisions
from node.errors import NodeError, forbidden, invalid, shown

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
#: the replication channel of directives and warnings alike (docs/replication.md: each channel
#: has its own sequence per link, so a stuck document here holds up no case or statistics)
CHANNEL = "directives"

SEVERITIES = {"extreme": "特别严重", "severe": "严重", "moderate": "较重", "minor": "一般"}
URGENCIES = {"immediate": "立即", "expected": "尽快", "future": "适时"}
CERTAINTIES = {"observed": "已证实", "likely": "很可能", "possible": "可能", "unlikely": "不太可能"}
CATEGORIES = {
    "food_safety": "食品安全",
    "product_safety": "产品质量安全",
    "consumer_safety": "消费安全",
    "infringement": "侵权假冒",
    "mass_complaint": "群体性投诉",
    "consumer_rights": "消费维权",
    "other": "其他",
}
STATUS_NAMES = {"active": "执行中", "cancelled": "已撤销"}

ISSUE_ROLES = ("leader", "admin")
ACK_ROLES = ("leader", "admin", "supervisor", "handler", "intake")
READ_ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")

MAX_MINUTES = 30 * 24 * 60
TITLE_MAX = 200
BODY_MAX = 20_000

#: report counts and a plan's ``report_counts`` name the same keys
COUNT_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: a goods/services code of the category table (``G0101`` 预包装食品) may stand for a category
GOODS_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user of the API, or the operator at the CLI."""
    login: str
    role: str
    name: str = ""

    @property
    def display(self) -> str:
        return self.name or self.login


def as_actor(user: Any) -> Actor:
    if isinstance(user, Actor):
        return user
    return Actor(login=str(user.login), role=str(user.role), name=str(getattr(user, "display_name", "") or ""))


def require_role(actor: Actor, roles: Sequence[str]) -> None:
    if actor.role not in roles:
        raise forbidden(f"角色 {actor.role} 无权执行此操作（需要：{'/'.join(roles)}） / "
                        f"role {actor.role} may not do this (needs {'/'.join(roles)})")


# -- times and stored JSON ----------------------------------------------------------------------
def db_time(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def show(value: Any) -> str | None:
    """+08:00, whole seconds (the same instant the CAP rendering shows)."""
    dt = aware(value)
    return None if dt is None else dt.astimezone(CST).isoformat(timespec="seconds")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# -- the tree ---------------------------------------------------------------------------------------
def divisions() -> DivisionTable:
    return load_divisions()


def is_within(code: str, ancestor: str) -> bool:
    return bool(divisions().is_within(code, ancestor))


def child_links() -> list[Link]:
    """This node's live child links, by code: where a document for the subtree goes next."""
    return list(Link.select()
                .where((Link.role == "child") & (Link.state != "revoked"))
                .order_by(Link.code))


def category_name(code: str) -> str:
    if code in CATEGORIES:
        return CATEGORIES[code]
    return load_categories().name(code) or code


# -- the request body -------------------------------------------------------------------------------
def json_object(payload: Any, allowed: Iterable[str], *, optional: bool = False) -> Mapping[str, Any]:
    """The request body as an object with only ``allowed`` fields (400/422 naming the field);
    ``optional``: an absent body counts as ``{}``."""
    if optional and payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise NodeError(400, "malformed", "请求体须为 JSON 对象 / body must be a JSON object")
    unknown_fields(payload, allowed)
    return payload


def unknown_fields(payload: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = set(allowed)
    for key in payload:
        if key not in allowed:
            name = shown(f"{prefix}{key}", 80)
            raise invalid(name, f"未知字段 {name} / unknown field {name}")


# Control characters (C0 but tab and newline, DEL, C1), lone surrogates, the two XML non-
# characters and the invisible direction/zero-width characters: a title or body holding one
# used to be written raw into the Atom feed and CAP XML, which then stopped parsing for every
# subscriber (issue 13 "found from outside"). Carriage returns are normalised, not refused:
# a browser's textarea sends CRLF.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
                       "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BREAKS = re.compile("[\n\t]")
SINGLE_LINE_MAX = 200     # titles and names; longer fields (body, note, reason) may span lines


def text_field(payload: Mapping[str, Any], name: str, *, required: bool, max_len: int,
               label: str = "") -> str | None:
    """A trimmed string of at most ``max_len`` characters without control characters (422
    naming ``name``); fields up to ``SINGLE_LINE_MAX`` are one line, longer ones keep ``\n``
    and ``\t``."""
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise invalid(name, f"{label or name}为必填项 / {name} is required")
        return None
    if not isinstance(value, str):
        raise invalid(name, f"{label or name}须为文本 / {name} must be a string")
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    bad = _BAD_TEXT.search(value) or (_BREAKS.search(value) if max_len <= SINGLE_LINE_MAX else None)
    if bad is not None:
        code = f"U+{ord(bad.group()):04X}"
        raise invalid(name, f"{label or name}含控制字符或不可见字符 {code}，请删除 / {name} contains a control or "
                            f"invisible character {code}")
    if len(value) > max_len:
        raise invalid(name, f"{label or name}不能超过 {max_len} 字 / {name} is longer than {max_len} characters")
    return value


def enum_field(payload: Mapping[str, Any], name: str, allowed: Mapping[str, str], default: str | None) -> str:
    value = payload.get(name, default)
    if value is None:
        raise invalid(name, f"{name} 为必填项，可选：{', '.join(allowed)} / {name} is required")
    if not isinstance(value, str) or value not in allowed:
        raise invalid(name, f"{name} 取值无效 {shown(value)!r}，可选：{', '.join(allowed)} / invalid {name}")
    return value


def minutes_field(payload: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = payload.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, f"{name} 须为整数分钟 / {name} must be a whole number of minutes")
    if not 1 <= value <= MAX_MINUTES:
        raise invalid(name, f"{name} 须在 1 到 {MAX_MINUTES} 分钟之间 / {name} must be 1..{MAX_MINUTES} minutes")
    return value


def bool_field(payload: Mapping[str, Any], name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if not isinstance(value, bool):
        raise invalid(name, f"{name} 须为 true 或 false / {name} must be a boolean")
    return value
