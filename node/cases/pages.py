"""The case pages of the staff desk (issue 11 items 3–5): intake form, case list, case page.

Thin handlers (STYLE.md "Pages"): parse the form, call the same functions as the JSON API
(``node.cases``), render or redirect.

* ``GET /desk/cases/new`` — the intake form (登记; roles intake, handler, admin), inputs named
  as CONTRACT §9; ``POST /desk/cases/new`` registers through ``create_case`` and redirects to
  ``/desk/cases/<id>``, or shows the form again with the message beside the field; with
  ``preview=1`` (the "preview" button, for browsers without JavaScript) it only previews.
* ``POST /desk/cases/new/preview`` — the preview panel alone (htmx, on every change): the
  urgency the triage suggests, the clocks that will start, duplicate hints; nothing stored.
* ``GET /desk/divisions/<code>`` — the region cascade: a division and its children (JSON).
* ``GET /desk/cases`` — the list with the API's filters, ``sort`` and ``cursor``;
  ``GET /desk/cases/export.xlsx`` — the same filtered list as a spreadsheet.
"""
from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, jsonify, request, send_file
from flask import redirect as flask_redirect
from flask_babel import gettext

from node.audit import record
from node.cases import (
    CREATE_ROLES,
    EXPORT_MAX,
    SHANGHAI,
    SORTS,
    categories,
    count_cases_upto,
    create_case,
    export_cases,
    intake_view,
    list_view,
    preview_case,
    search_cases,
)
from node.cases.search import LIST_FILTERS
from node.errors import NodeError, not_found
from node.web.i18n import is_english, localize
from node.web.pages import current_node, page, render

AUDIT_IDS = 1000   # the audit entry names at most this many of the exported case ids
bp = Blueprint("cases_pages", __name__, url_prefix="/desk")


def _options(labels: dict[str, str]) -> list[tuple[str, str]]:
    """(code, label in the page's language) for a select."""
    return [(code, gettext(msgid)) for code, msgid in labels.items()]


# -- intake (登记) -------------------------------------------------------------------------------
def _intake_page(values: dict[str, Any], *, errors: dict[str, str] | None = None, form_error: str = "",
                 preview: dict[str, Any] | None = None, similar: list[dict[str, Any]] | None = None,
                 status: int = 200):
    node = current_node()
    return render("cases/intake.html", status=status, values=values, errors=errors or {}, form_error=form_error,
                  preview=preview, similar=similar or [], view=intake_view,
                  options={"kind": _options(intake_view.KIND_LABELS), "channel": _options(intake_view.CHANNEL_LABELS),
                           "urgency": _options(intake_view.URGENCY_LABELS),
                           "report_target": _options(intake_view.REPORT_TARGET_LABELS)},
                  category_options=intake_view.category_options(categories(node), is_english()),
                  region=intake_view.cascade(node, values.get("respondent.region_code", "")))


def _preview(body: dict[str, Any], user: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    node = current_node()
    return preview_case(node, body, user), intake_view.duplicate_hints(node, body, user)


@bp.get("/cases/new")
@page(*CREATE_ROLES)
def intake_form(user):
    return _intake_page(intake_view.default_values(current_node()))


@bp.post("/cases/new")
@page(*CREATE_ROLES)
def intake_submit(user):
    node = current_node()
    values = intake_view.form_values(request.form)
    body = intake_view.form_body(request.form, categories(node))
    if request.form.get("preview"):
        preview, similar = _preview(body, user)
        problem = preview["problem"]
        errors = {problem["field"]: localize(problem["message"])} if problem and problem["field"] in \
            intake_view.FIELDS else {}
        return _intake_page(values, errors=errors, preview=preview, similar=similar)
    try:
        case = create_case(node, body, user)
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        preview, similar = _preview(body, user)
        where = intake_view.error_input(exc)
        return _intake_page(values, errors={where: localize(exc.message)} if where else {},
                            form_error="" if where else localize(exc.message), preview=preview, similar=similar,
                            status=exc.status)
    return flask_redirect(f"/desk/cases/{case['id']}", code=303)


@bp.post("/cases/new/preview")
@page(*CREATE_ROLES)
def intake_preview(user):
    body = intake_view.form_body(request.form, categories(current_node()))
    preview, similar = _preview(body, user)
    return render("cases/intake_preview.html", preview=preview, similar=similar, view=intake_view, partial=True)


@bp.get("/divisions/<code>")
@page()
def division(user, code: str):
    info = intake_view.division_info(code)
    if info is None:
        raise not_found(f"未知的行政区划代码 {code[:12]} / unknown division code {code[:12]}")
    return jsonify(info)


# -- the case list (案件) ------------------------------------------------------------------------
# The filters the list's form has an input for; any other API filter in the link (e.g.
# accepting_node) rides along hidden, so filtering again keeps it.
LIST_FORM_FILTERS = ("q", "status", "kind", "urgency", "overdue", "due_within_days", "department", "handling_node",
                     "held_as", "attention", "sort")


def _list_page(user: Any, *, notice: str = "", status: int = 200):
    node = current_node()
    filters, sort, cursor = list_view.split_args(request.args)
    limit = request.args.get("limit") or None
    errors: dict[str, str] = {}
    result: dict[str, Any] = {"items": [], "next_cursor": None, "sort": sort or "newest"}
    total = 0
    try:
        result = search_cases(node, filters, user, sort=sort, limit=limit or node.config.desk.page_size,
                              cursor=cursor)
        total = count_cases_upto(node, filters, user, EXPORT_MAX)
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        errors[exc.field or ""] = localize(exc.message)
        status = exc.status
    return render("cases/list.html", status=status, result=result, filters=filters, sort=result["sort"],
                  cursor=cursor, total=total, errors=errors, notice=notice, view=list_view,
                  labels=intake_view, export_max=EXPORT_MAX, filter_fields=LIST_FORM_FILTERS,
                  hidden_filters=tuple(k for k in filters if k in LIST_FILTERS and k not in LIST_FORM_FILTERS),
                  options={"status": _options(list_view.STATUS_LABELS), "kind": _options(intake_view.KIND_LABELS),
                           "urgency": _options(intake_view.URGENCY_LABELS), "yes_no": _options(list_view.YES_NO),
                           "attention": _options(list_view.YES_NO),
                           "department": _options(list_view.DEPARTMENT_LABELS),
                           "held_as": _options(list_view.HELD_AS_LABELS),
                           "sort": [(code, gettext(list_view.SORT_LABELS[code])) for code in SORTS]},
                  query=lambda **extra: list_view.query_string(filters, limit=limit, **extra))


@bp.get("/cases")
@page()
def case_list(user):
    return _list_page(user)


@bp.get("/cases/export.xlsx")
@page()
def case_export(user):
    node = current_node()
    filters, sort, _ = list_view.split_args(request.args)
    try:
        items = export_cases(node, filters, user, sort=sort, max_rows=EXPORT_MAX)
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        return _list_page(user, notice=localize(exc.message), status=exc.status)
    # who took which cases out of the node (issue 13 item 4); a search text may hold a phone: not logged
    record(node, user.login, "export", "cases", {"format": "xlsx", "rows": len(items),
                                                 "filters": {k: str(v) for k, v in filters.items() if k != "q"},
                                                 "case_ids": [i["id"] for i in items[:AUDIT_IDS]]})
    shown = "; ".join(f"{k}={v}" for k, v in filters.items()) or gettext("all cases")
    cases_word, filters_word = gettext("Cases"), gettext("Filters")
    data = list_view.workbook(items, gettext, title=f"{node.config.name} {node.code} · {cases_word}",
                              subtitle=f"{filters_word}: {shown} · {len(items)}")
    name = f"cases-{node.code}-{node.now().astimezone(SHANGHAI).strftime('%Y%m%d')}.xlsx"
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
