"""What the case list (案件, issue 11 item 4) shows, and its XLSX export — plain functions, no
Flask (``pages.py`` routes to them).

The list takes the API's filters (CONTRACT §5 and ``search.LIST_FILTERS``) from the query
string unchanged, so a link such as the home tiles' ``/desk/cases?handling_node=…&held_as=
handler&status=registered`` lists exactly what the tile counted; ``sort`` and ``cursor`` ride
along. Labels are catalogue msgids (English, ``N_``); the Chinese is in this domain's
catalogue.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from node.cases.common import SHANGHAI
from node.cases.intake_view import CHANNEL_LABELS, KIND_LABELS, N_, URGENCY_LABELS
from node.divisions import load_divisions

STATUS_LABELS = {
    "registered": N_("Registered"), "accepted": N_("Accepted"), "declined": N_("Declined"),
    "transferred": N_("Transferred"), "referred": N_("Referred"), "in_mediation": N_("In mediation"),
    "concluded": N_("Concluded"), "closed": N_("Closed"), "verifying": N_("Being verified"),
    "filed": N_("Case opened"), "not_filed": N_("No case opened"), "answered": N_("Answered"),
}
DEPARTMENT_LABELS = {"consumer_protection": N_("Consumer protection"), "enforcement": N_("Enforcement"),
                     "discipline": N_("Discipline inspection")}
HELD_AS_LABELS = {"handler": N_("Handled here"), "copy": N_("Copy kept on the route")}
SORT_LABELS = {"newest": N_("Newest first"), "received": N_("Received, latest first"),
               "received_asc": N_("Received, earliest first"), "next_due": N_("Next due first"),
               "urgency": N_("Most urgent first")}
YES_NO = {"true": N_("Yes"), "false": N_("No")}

# Query parameters that are the page's, not filters: paging, order, the language switch.
PAGE_ARGS = ("sort", "cursor", "limit", "lang")

# The export's columns: (msgid of the heading, width, how to read the value of an item).
COLUMNS: tuple[tuple[str, int, str], ...] = (
    (N_("Case number"), 24, "id"), (N_("Received at"), 18, "received"), (N_("Kind"), 8, "kind"),
    (N_("Intake channel"), 14, "channel"), (N_("Status"), 10, "status"), (N_("Urgency"), 10, "urgency"),
    (N_("Category code"), 10, "category"), (N_("Summary"), 40, "summary"), (N_("Respondent"), 30, "respondent"),
    (N_("Respondent USCC"), 22, "uscc"), (N_("Respondent region"), 10, "region"),
    (N_("Accepting unit"), 12, "accepting_node"), (N_("Handling unit"), 12, "handling_node"),
    (N_("Department"), 16, "department"), (N_("Next due"), 12, "next_due"), (N_("Overdue"), 8, "overdue"),
    (N_("Amount (CNY)"), 14, "amount"),
)


def split_args(args: Mapping[str, Any]) -> tuple[dict[str, str], str | None, str | None]:
    """``(filters, sort, cursor)`` from the query string; blank filters are left out, anything
    else unknown is passed on for the domain to refuse by name."""
    filters = {k: str(v).strip() for k, v in args.items() if k not in PAGE_ARGS and str(v).strip() != ""}
    return filters, (args.get("sort") or None), (args.get("cursor") or None)


def query_string(filters: Mapping[str, str], **extra: str | None) -> str:
    """The filters (and ``extra``, e.g. ``sort``, ``cursor``) as a query string, in the
    filters' own order."""
    pairs = [(k, v) for k, v in filters.items()] + [(k, v) for k, v in extra.items() if v]
    return urlencode(pairs)


def shown_time(value: str | None) -> str:
    """An API time (ISO 8601 with offset) as read on the desk: ``2026-09-30 09:00`` in Asia/Shanghai."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def unit_name(code: str | None) -> str:
    """``440305`` → ``440305 南山区``; a station or unknown code as it is."""
    if not code:
        return ""
    name = load_divisions().name(code)
    return f"{code} {name}" if name else code


def _cell(item: Mapping[str, Any], key: str, gettext: Callable[[str], str]) -> Any:
    respondent = item.get("respondent") or {}
    if key == "received":
        return shown_time(item["received_at"])
    if key == "kind":
        return gettext(KIND_LABELS.get(item["kind"], item["kind"]))
    if key == "channel":
        return gettext(CHANNEL_LABELS.get(item["channel"], item["channel"]))
    if key == "status":
        return gettext(STATUS_LABELS.get(item["status"], item["status"]))
    if key == "urgency":
        return gettext(URGENCY_LABELS.get(item["urgency"], item["urgency"]))
    if key == "department":
        return gettext(DEPARTMENT_LABELS.get(item["department"], item["department"]))
    if key == "respondent":
        return respondent.get("name") or ""
    if key == "uscc":
        return respondent.get("uscc") or ""
    if key == "region":
        return respondent.get("region_code") or ""
    if key == "amount":
        return Decimal(item["amount"]) if item.get("amount") else ""
    if key == "overdue":
        return gettext(YES_NO["true"]) if item["overdue"] else ""
    if key in ("accepting_node", "handling_node"):
        return unit_name(item[key])
    value = item.get(key)
    return "" if value is None else value


def workbook(items: list[Mapping[str, Any]], gettext: Callable[[str], str], *, title: str,
             subtitle: str) -> bytes:
    """The filtered list as an XLSX file: a title row, a line saying which filters, then the
    headings (in the page's language, Chinese by default) and one row per case."""
    wb = Workbook()
    ws = wb.active
    ws.title = gettext(N_("Cases"))[:31]
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = subtitle
    ws["A2"].data_type = "s"
    ws.append([gettext(heading) for heading, _, _ in COLUMNS])
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for r, item in enumerate(items, start=4):
        for c, (_, _, key) in enumerate(COLUMNS, start=1):
            cell = ws.cell(row=r, column=c, value=_cell(item, key, gettext))
            if cell.data_type == "f":     # a summary typed as "=…" is text, never a formula
                cell.data_type = "s"
    for i, (_, width, _) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A4"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
