"""督办 — the supervision page of the staff desk (issue 11 item 6; R2.6; docs/routing.md §8).

``GET /desk/supervision`` — the overdue and soon-due cases of this node's subtree, grouped by
handling unit, with the filters ``stage``, ``handling_node`` and ``due_within_days``
(``node.routing.supervision_view``), and the latest escalation reminders.
``POST /desk/supervision/urge`` and ``POST /desk/supervision/take-over`` — without
``confirmed=1`` a confirmation page saying what will happen to each case; with it the
actions through ``node.cases.act`` (``node.routing.supervision_actions``), then back to the
board with a summary. Roles: supervisor, leader, admin, handler; taking over is for leaders,
supervisors and administrators.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, request
from flask_babel import gettext as _

from node.errors import NodeError
from node.routing import supervision_actions as actions
from node.routing.supervision_view import (
    REMINDER_DAYS,
    TAKE_OVER_ROLES,
    parse_filters,
    reminder_history,
    supervision_board,
)
from node.web.i18n import N_, localize
from node.web.pages import current_node, page, render

bp = Blueprint("routing_pages", __name__, url_prefix="/desk")

ROLES = ("supervisor", "leader", "admin", "handler")
FILTER_FIELDS = ("due_within_days", "stage", "handling_node")
STAGE_LABELS = {"running": N_("Running"), "due_soon": N_("Due soon"), "overdue": N_("Overdue"),
                "escalated": N_("Escalated to the levels above")}


def _back(form: Any) -> str:
    """The board with the filters it was submitted from (only the board's own fields)."""
    kept = {k: str(form.get(k) or "")[:20] for k in FILTER_FIELDS if form.get(k)}
    return "/desk/supervision" + ("?" + urlencode(kept) if kept else "")


@bp.get("/supervision")
@page(*ROLES)
def supervision(user):
    node = current_node()
    errors: dict[str, str] = {}
    filters = parse_filters(node, {})
    for key in FILTER_FIELDS:      # each checked on its own: a wrong one is shown beside its field
        try:
            filters[key] = parse_filters(node, {key: request.args.get(key)})[key]
        except NodeError as exc:
            errors[key] = localize(exc.message)
    try:
        board = supervision_board(node, user, filters, cursor=request.args.get("cursor") or None)
    except NodeError as exc:
        if exc.field != "cursor":
            raise
        errors["cursor"] = localize(exc.message)
        board = supervision_board(node, user, filters)
    reminders = reminder_history(node, user, unit=filters["handling_node"])
    shown = {k: request.args.get(k, "") for k in FILTER_FIELDS}
    shown["due_within_days"] = shown["due_within_days"] or str(filters["due_within_days"])
    return render("routing/supervision.html", board=board, reminders=reminders, reminder_days=REMINDER_DAYS,
                  errors=errors, shown=shown, filters=filters, stage_labels=STAGE_LABELS,
                  may_take_over=user.role in TAKE_OVER_ROLES,
                  unit_options=[(u.code, f"{u.name}（{u.code}）") for u in board.units],
                  page_query=urlencode({k: v for k, v in filters.items() if v not in ("", None)}))


@bp.post("/supervision/urge")
@page(*ROLES)
def urge(user):
    return _action(user, "urge")


@bp.post("/supervision/take-over")
@page(*TAKE_OVER_ROLES)
def take_over(user):
    return _action(user, "take_over")


def _action(user: Any, action: str):
    node = current_node()
    form = request.form
    back = _back(form)
    text_field = "note" if action == "urge" else "reason"
    chosen = [form["one"]] if form.get("one") else form.getlist("case")
    try:
        ids = actions.case_ids(chosen)
    except NodeError as exc:
        flash(localize(exc.message), "error")
        return redirect(back)
    text = form.get(text_field, "")
    errors: dict[str, str] = {}
    if form.get("confirmed") == "1":
        try:
            outcome = actions.perform_action(node, action, ids, text, user)
        except NodeError as exc:
            if exc.status in (401, 403, 404):
                raise
            errors[exc.field or text_field] = localize(exc.message)
        else:
            _summarise(outcome)
            return redirect(back)
    plan = actions.plan_action(node, action, ids, user)
    return render("routing/confirm.html", action=action, plan=plan, text=text, text_field=text_field,
                  errors=errors, back=back, filters={k: form.get(k, "") for k in FILTER_FIELDS},
                  possible=[p for p in plan if not p.error])


def _summarise(outcome: actions.Outcome) -> None:
    if outcome.action == "urge":
        flash(_("Cases urged: %(count)s", count=len(outcome.done)), "ok")
    elif outcome.done:
        flash(_("Take-over asked for %(count)s case(s): each moves to this node once its handling unit "
                "applies the request.", count=len(outcome.done)), "ok")
    for cid, message in outcome.failed:
        flash(_("%(case)s: not done — %(reason)s", case=cid, reason=localize(message)), "error")
