"""数据看板 — the dashboards of the staff desk (issue 11 item 8; R4.3, R8.2; CONTRACT §7, §9).

- ``GET /desk/stats?from&to&group_by&basis`` — the figures of this node's subtree: daily
  trend, by category, by kind and channel, by region, unit ranking, hot spots, coverage and
  stale nodes, and the rows grouped as asked; each chart with its figures as a table (the
  page is complete without JavaScript; ``static/stats/dashboard.js`` draws the charts).
- ``GET /desk/stats/data?<same>`` — the chart series as JSON, fetched by ``dashboard.js``.
- ``GET /desk/stats/export.xlsx?<same>`` — the current figures as XLSX, Chinese headings.

Roles analyst, leader, admin. The parameters are those of ``GET /api/v1/stats`` (``group_by``
also as repeated checkboxes) and every figure comes from ``node.stats.dashboard``, which
calls the API's own functions; a refused parameter shows the domain's message beside its
form field.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext

import node.stats as stats
from node.audit import record
from node.divisions import load_divisions
from node.errors import NodeError
from node.web.i18n import N_, is_english, localize
from node.web.pages import current_node, page, render

bp = Blueprint("stats_pages", __name__, url_prefix="/desk")

FORM_FIELDS = ("from", "to", "group_by", "basis")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# msgids distinct from the other catalogues' where the meaning differs (the catalogues are merged:
# "Channel" is a replication channel on the network pages, a case's intake channel here)
FIELD_LABELS = {"kind": N_("Case kind"), "channel": N_("Intake channel"), "category": N_("Case category"),
                "urgency": N_("Urgency"), "status": N_("Case status"), "region": N_("Respondent's region")}
MEASURE_LABELS = {
    "cases": N_("Number of cases"), "decided": N_("Acceptance decided"), "accepted": N_("Cases accepted"),
    "accepted_on_time": N_("Accepted on time"), "declined": N_("Cases declined"), "referred": N_("Cases referred"),
    "concluded": N_("Cases concluded"), "concluded_on_time": N_("Concluded on time"),
    "overdue": N_("Cases overdue"), "mediated": N_("Mediated successfully"),
    "not_mediated": N_("Mediation ended without agreement"), "settled": N_("Settled between the parties"),
    "withdrawn": N_("Complaints withdrawn"), "filed": N_("Reports filed as cases"),
    "not_filed": N_("Reports not filed"), "answered": N_("Consultations answered"), "satisfied": N_("Satisfied"),
    "basically_satisfied": N_("Basically satisfied"), "dissatisfied": N_("Dissatisfied"),
    "amount": N_("Amount involved"), "amount_recovered": N_("Amount recovered"),
}
BASIS_LABELS = {"accepted": N_("Where taken in (accepting node)"), "handled": N_("Where handled (handling node)")}
HOTSPOT_DIMENSIONS = {"category": N_("Case category"), "region": N_("Respondent's region"), "firm": N_("Firm")}
# the columns of the tables on the page (the XLSX export has every measure)
GROUPED_MEASURES = ("cases", "accepted", "accepted_on_time", "concluded", "concluded_on_time", "overdue",
                    "mediated", "satisfied", "amount", "amount_recovered")
CHART_MEASURES = ("cases", "accepted", "concluded", "overdue", "amount", "amount_recovered")
TOTAL_MEASURES = ("cases", "accepted", "concluded", "overdue", "amount_recovered")
CHART_TITLES = {"trend": N_("Daily trend"), "category": N_("By category"), "kind": N_("By kind"),
                "channel": N_("By channel"), "region": N_("By region"), "units": N_("Unit performance ranking"),
                "hotspots": N_("Surges this week"), "firms": N_("Most complained-about firms")}
# rows of a table on the page, most cases first (at HQ a year has some 2,500 regions and 8,000
# region × category rows: the page stays fast; the XLSX export and the JSON have every row)
TABLE_ROWS = 100


# -- parameters ------------------------------------------------------------------------------
def _params() -> dict[str, str]:
    """The stats API's parameters from the query string: ``group_by`` as the API's comma list
    or as repeated checkboxes; empty values left out (the domain's defaults apply); anything
    else (``lang``) is not the domain's."""
    out: dict[str, str] = {}
    for key in ("from", "to", "basis"):
        value = request.args.get(key, "").strip()
        if value:
            out[key] = value
    group_by = [v.strip() for item in request.args.getlist("group_by") for v in item.split(",") if v.strip()]
    if group_by:
        out["group_by"] = ",".join(group_by)
    return out


# -- how values read ---------------------------------------------------------------------------
def _labeller(labels: Mapping[str, Any]) -> Callable[[str, str], str]:
    """The name of a group-by value for this page's language: Chinese names from the data
    standard (English: the code, readable); category and region names are data, in Chinese."""
    english = is_english()

    def label(field: str, value: str) -> str:
        if field == "region" and not value:
            return gettext("(none)")
        if english and field in labels["enum"]:
            return value.replace("_", " ")
        return stats.value_label(labels, field, value)
    return label


def money(value: Any) -> str:
    return f"¥{Decimal(value or 0):,.2f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def share(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


def _node_names(view: Mapping[str, Any]) -> dict[str, str]:
    """Names for the nodes coverage lists: the link's name of a direct child, else the
    division's; a station code below a child has none."""
    divisions = load_divisions()
    names = {u["code"]: u["name"] for u in view["units"]["units"] if u.get("name")}
    return {code: names.get(code) or divisions.full_name(code) or ""
            for code in view["figures"]["coverage"]["stale"]}


# -- the chart data (JSON) -------------------------------------------------------------------
def chart_data(view: Mapping[str, Any], label: Callable[[str, str], str]) -> dict[str, Any]:
    """What ``dashboard.js`` draws: every series with its names in the page's language."""
    figures = view["figures"]
    hot = view["hotspots"]

    def hot_name(h: Mapping[str, Any]) -> str:
        return h["name"] or (label(h["dimension"], h["value"]) if h["dimension"] != "firm" else h["value"])

    return {
        "scope": figures["scope"], "scope_name": figures["scope_name"], "from": figures["from"],
        "to": figures["to"], "group_by": figures["group_by"], "basis": figures["basis"], "as_of": figures["as_of"],
        "totals": figures["totals"], "coverage": figures["coverage"],
        "trend": {"days": view["trend"]["days"], "cases": view["trend"]["cases"]},
        "series": {field: [{"code": r[field], "name": label(field, r[field]), "cases": r["cases"]} for r in rows]
                   for field, rows in view["by"].items()},
        "units": [{"code": u["code"], "name": u["name"] or u["code"], "rank": u["rank"], "score": u["score"],
                   "cases_taken": u["cases_taken"]} for u in view["units"]["units"]],
        "hotspots": {"week": hot["week"], "previous_week": hot["previous_week"],
                     "surges": [{"dimension": h["dimension"], "value": h["value"], "name": hot_name(h),
                                 "this_week": h["this_week"], "last_week": h["last_week"]} for h in hot["hotspots"]],
                     "top_firms": [{"uscc": f["uscc"], "name": f["name"] or f["uscc"], "cases": f["cases"]}
                                   for f in hot["top_firms"]]},
        "grouped": figures["rows"],
        "labels": {"cases": gettext("Number of cases"), "this_week": gettext("This week"), "last_week": gettext("Last week"),
                   "score": gettext("Score"), "others": gettext("Others"),
                   **{key: gettext(title) for key, title in CHART_TITLES.items()}},
    }


# -- pages -----------------------------------------------------------------------------------
def _form_page(params: Mapping[str, str], exc: NodeError) -> tuple[str, int]:
    """The form again with the values typed and the domain's message beside its field."""
    field = exc.field if exc.field in FORM_FIELDS else ""
    message = localize(exc.message)
    return render("stats/dashboard.html", status=exc.status, view=None, form=dict(params),
                  errors={field: message} if field else {}, form_error="" if field else message,
                  **_context())


def _context() -> dict[str, Any]:
    return {"group_fields": stats.GROUP_FIELDS, "bases": stats.BASES, "field_labels": FIELD_LABELS,
            "measure_labels": MEASURE_LABELS, "basis_labels": BASIS_LABELS, "chart_titles": CHART_TITLES,
            "hotspot_dimensions": HOTSPOT_DIMENSIONS, "grouped_measures": GROUPED_MEASURES,
            "chart_measures": CHART_MEASURES, "total_measures": TOTAL_MEASURES, "money": money, "pct": pct,
            "share": share, "table_rows": TABLE_ROWS, "basis_options": [(b, gettext(BASIS_LABELS[b])) for b in stats.BASES]}


@bp.get("/stats")
@page(*stats.READ_ROLES)
def dashboard_page(user):
    node = current_node()
    params = _params()
    try:
        view = stats.dashboard(node, params)
    except NodeError as exc:
        if exc.status != 422:
            raise
        return _form_page(params, exc)
    figures = view["figures"]
    form = {"from": figures["from"], "to": figures["to"], "group_by": ",".join(figures["group_by"]),
            "basis": figures["basis"]}
    query = urlencode({k: v for k, v in form.items() if v})
    return render("stats/dashboard.html", view=view, form=form, errors={}, form_error="", query=query,
                  label=_labeller(stats.value_labels(node)), stale_names=_node_names(view), **_context())


@bp.get("/stats/data")
@page(*stats.READ_ROLES)
def dashboard_data(user):
    node = current_node()
    try:
        view = stats.dashboard(node, _params())
    except NodeError as exc:
        if exc.status != 422:
            raise
        resp = jsonify(exc.to_dict())
        resp.status_code = exc.status
        return resp
    return jsonify(chart_data(view, _labeller(stats.value_labels(node))))


@bp.get("/stats/export.xlsx")
@page(*stats.READ_ROLES)
def dashboard_export(user):
    node = current_node()
    params = _params()
    try:
        view = stats.dashboard(node, params)
    except NodeError as exc:
        if exc.status != 422:
            raise
        return _form_page(params, exc)
    figures = view["figures"]
    body = stats.dashboard_workbook(view, stats.value_labels(node))
    record(node, user.login, "export", "stats", {"format": "xlsx", "scope": str(figures["scope"]),
                                                 "from": str(figures["from"]), "to": str(figures["to"])})
    name = f"stats-{figures['scope']}-{figures['from']}-{figures['to']}.xlsx"
    return Response(body, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
