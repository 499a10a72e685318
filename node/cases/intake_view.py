"""What the intake form (登记, issue 11 item 3) shows and how it reads what was typed — plain
functions, no Flask (``pages.py`` routes to them).

The form posts the CONTRACT §5 fields under their CONTRACT §9 names (``complainant.name`` …)
plus ``also_report``; ``form_body`` turns them into the JSON body ``create_case`` takes, the
same body the API takes, so the two paths cannot drift. Labels are catalogue msgids
(English, ``N_``); the Chinese is in this domain's catalogue.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from node.cases.category_table import CategoryTable
from node.cases.search import similar_cases
from node.divisions import HQ_CODE, load_divisions
from node.errors import NodeError
from node.web.catalogs import N_
from node.web.forms import nested

# The form's inputs in tab order (CONTRACT §9 names; kind first, then who, against whom, what).
FIELDS = ("kind", "channel", "also_report", "report_target",
          "complainant.name", "complainant.phone", "complainant.address", "complainant.anonymous",
          "respondent.name", "respondent.uscc", "respondent.region_code", "respondent.address",
          "category", "summary", "description", "amount", "urgency")
CHECKBOXES = ("also_report", "complainant.anonymous")

KIND_LABELS = {"complaint": N_("Complaint"), "consultation": N_("Consultation"), "report": N_("Report")}
REPORT_TARGET_LABELS = {"business": N_("A business's violation"), "staff": N_("Misconduct of enforcement staff")}
CHANNEL_LABELS = {
    "phone": N_("12315 hotline"), "visit": N_("Visit in person"), "letter": N_("Letter"),
    "web": N_("Online (12315 platform)"), "open311": N_("Open311 interface"),
    "complaint_point": N_("Complaint station or enterprise complaint point"),
    "association": N_("Consumer association"), "media": N_("Media lead"),
    "direct_report": N_("Direct-report point"),
}
URGENCY_LABELS = {"general": N_("General"), "urgent": N_("Urgent"), "critical": N_("Especially urgent")}
CLOCK_START_LABELS = {"receipt": N_("from receipt"), "acceptance": N_("from acceptance"),
                      "termination": N_("from the end of mediation"), "decision": N_("from the decision"),
                      "firm_receipt": N_("from receipt by the business")}
MATCH_LABELS = {"phone": N_("same phone"), "respondent_name": N_("same respondent"), "uscc": N_("same USCC")}

_MONEY_NOISE = re.compile(r"^[¥￥]\s*|\s*元$")


def default_values(node: Any) -> dict[str, Any]:
    """A blank form: a complaint, by phone where this node takes the 12315 hotline (R1.2),
    else in person."""
    phone = bool(getattr(node.config.capabilities, "central_phone_intake", False))
    return {"kind": "complaint", "channel": "phone" if phone else "visit", "urgency": "general"}


def _category_code(value: str, table: CategoryTable) -> str:
    """``G0303``, ``G0303 家用电器`` (a picked datalist entry) or ``家用电器`` → ``G0303``;
    anything else as typed, for the domain to refuse by name."""
    text = value.strip()
    head = text.split(maxsplit=1)[0] if text else text
    if table.is_known(head.upper()):
        return head.upper()
    for item in table.items():
        if text in (item["name"], item["name_en"]):
            return str(item["code"])
    return text


def form_body(form: Mapping[str, Any], table: CategoryTable) -> dict[str, Any]:
    """The JSON body of ``create_case`` from the posted form (``node.web.forms.nested``).

    Form-only leniencies, nothing the API would judge differently: the category may be picked
    as "CODE 名称" or typed by name; an amount may carry ``¥``, ``元`` or thousands commas; the
    report target is dropped unless the kind is a report (a select left set while the kind
    changed); an unticked "anonymous" says nothing (the API's default), not "named"."""
    body = nested(form, FIELDS, checkboxes=CHECKBOXES)
    if "category" in body:
        body["category"] = _category_code(body["category"], table)
    if isinstance(body.get("amount"), str):
        body["amount"] = _MONEY_NOISE.sub("", body["amount"]).replace(",", "").replace("，", "")
    if body.get("kind") != "report":
        body.pop("report_target", None)
    complainant = body.get("complainant")
    if isinstance(complainant, dict) and complainant.get("anonymous") is False:
        del complainant["anonymous"]
        if not complainant:
            del body["complainant"]
    return body


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed, to show again (flat, by input name)."""
    return {name: str(form.get(name, ""))[:20_000] for name in FIELDS if name in form}


def error_input(exc: NodeError) -> str | None:
    """The input a refusal belongs beside (the domain names the field by its dotted path), or
    None when the form has no such input (extensions, received_at, the body as a whole): then
    the message goes at the top of the form."""
    return exc.field if exc.field in FIELDS else None


def category_options(table: CategoryTable, english: bool) -> list[tuple[str, str]]:
    """The datalist of the category picker: (code, "CODE 名称"), leaves and branches alike."""
    return [(str(i["code"]), f"{i['code']} {(i['name_en'] if english and i['name_en'] else i['name'])}")
            for i in table.items()]


@functools.cache
def _children(code: str) -> tuple[tuple[str, str], ...]:
    table = load_divisions()
    return tuple((c, table.name(c) or c) for c in table.children(code))


def provinces() -> list[tuple[str, str]]:
    return list(_children(HQ_CODE))


def division_info(code: str) -> dict[str, Any] | None:
    """``{"code", "name", "full_name", "level", "chain", "children": [{"code", "name"}]}`` for a
    current division code (``000000``: the provinces), None for anything else — the region
    cascade. ``chain`` runs from the province down to ``code``."""
    table = load_divisions()
    if code != HQ_CODE and not table.is_current(code):
        return None
    chain = [c for c in reversed(table.chain(code)) if c != HQ_CODE]
    return {"code": code, "name": table.name(code), "full_name": table.full_name(code) if code != HQ_CODE else "",
            "level": table.level_of(code), "chain": chain,
            "children": [{"code": c, "name": n} for c, n in _children(code)]}


def cascade(node: Any, region_code: str) -> dict[str, Any]:
    """The region selects as first drawn: the chain of ``region_code`` if it is a current code,
    else this node's own province (a provincial phone centre mostly hears its own province)."""
    table = load_divisions()
    chain: list[str] = []
    if table.is_current(region_code):
        chain = [c for c in reversed(table.chain(region_code)) if c != HQ_CODE]
    elif node.code != HQ_CODE and table.province_of(node.code):
        chain = [str(table.province_of(node.code))]
    levels = [(chain[i] if i < len(chain) else "",
               list(_children(chain[i - 1])) if 0 < i <= len(chain) else (provinces() if i == 0 else []))
              for i in range(3)]
    return {"levels": levels, "full_name": table.full_name(region_code) if table.is_current(region_code) else ""}


def duplicate_hints(node: Any, body: Mapping[str, Any], actor: Any) -> list[dict[str, Any]]:
    """Cases of the last 30 days at this node with the same phone or the same respondent."""
    complainant = body.get("complainant") if isinstance(body.get("complainant"), dict) else {}
    respondent = body.get("respondent") if isinstance(body.get("respondent"), dict) else {}
    as_text = (lambda v: v if isinstance(v, str) else None)  # noqa: E731 - a one-line reader
    return similar_cases(node, phone=as_text(complainant.get("phone")), respondent_name=as_text(respondent.get("name")),
                         uscc=as_text(respondent.get("uscc")), now=node.now(), days=30, actor=actor)
