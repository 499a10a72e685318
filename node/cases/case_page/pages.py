"""The case page (issue 11 item 5; CONTRACT §9 ``#case-id``, ``#case-status``).

* ``GET /desk/cases/<id>`` — any role that may read the case (``get_case``: reports against
  staff for ``discipline`` only; an invisible case is the same 404 page as an unknown id):
  registration, the complaint form, handling requirements, handling and custody trail, linked
  cases and duplicates, evidence (htmx from ``/desk/cases/<id>/evidence``), and a form for
  each action ``allowed_actions`` offers this user here.
* ``POST /desk/cases/<id>/actions`` — hidden ``action`` and the API's field names. Without
  ``confirmed=1`` it shows what the action will do (``preview_action``: nothing is written);
  with it, ``act`` does it and the browser goes back to the case page. A refusal (409/422)
  is shown beside its field; 403/404 are their pages, nothing done.
* ``GET /desk/cases/<id>/form.docx`` — the case form (办理单) as a Word document.
* ``POST /desk/cases/<id>/personal`` — "查看完整信息 / Show in full": with a written ``reason``
  the page is shown once with the complainant in full (not a redirect: the full view is no
  address to come back to) and the read is recorded as ``pii.read``; without one, the page
  again with the message beside the reason field (400).

The page, the action pages and the Word form show the complainant masked to anyone but the
case's handler and intake (issue 13 item 3; ``node.cases.personal_view``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, redirect, request, url_for
from flask_babel import gettext

from node.cases import actions_view, case_view, form_doc
from node.cases.common import ANY_ACT_ROLES
from node.cases.lifecycle import ACTIONS, act
from node.cases.personal_view import present, sees_in_full
from node.cases.search import get_case, reveal_case, similar_cases
from node.cases.standard import SHANGHAI
from node.errors import NodeError
from node.web.i18n import localize
from node.web.pages import current_node, page, render

bp = Blueprint("case_page", __name__, url_prefix="/desk")

DIRECTIVE_ROLES = ("leader", "admin")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _duplicates(node: Any, case: dict[str, Any], user: Any) -> list[dict[str, Any]]:
    """Other cases with the same phone or respondent, received within 30 days of this one."""
    phone = (case.get("complainant") or {}).get("phone")
    name = (case.get("respondent") or {}).get("name")
    uscc = (case.get("respondent") or {}).get("uscc")
    if not (phone or name or uscc):
        return []
    anchor = datetime.fromisoformat(case["received_at"]) if case.get("received_at") else node.now()
    found = similar_cases(node, phone=phone, respondent_name=name, uscc=uscc, now=anchor, actor=user, limit=11)
    return [dict(c, status_label=case_view.STATUS_LABELS.get(c["status"], c["status"]))
            for c in found if c["id"] not in (case["id"], case.get("linked_case"))][:10]


def _forms(node: Any, case: dict[str, Any], actions: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    forms = [{"action": a, "label": case_view.ACTION_LABELS[a], "help": actions_view.ACTION_HELP.get(a, ""),
              "fields": actions_view.form_fields(a, case["kind"])} for a in actions]
    needed = {f.options for form in forms for f in form["fields"] if f.options}
    return forms, actions_view.field_options(node, case, needed)


def _case_page(node: Any, user: Any, full: dict[str, Any], *, shown: dict[str, Any] | None = None,
               status: int = 200, reveal_error: str = "", reason: str = ""):
    """The case page; ``full`` is the case as stored (duplicates are looked up on it), ``shown``
    what this user reads (masked by role unless opened with a reason)."""
    case = shown if shown is not None else present(node, full, user)
    forms, options = _forms(node, case, actions_view.allowed_actions(node, case, user))
    done = request.args.get("done")
    personal = {"masked": bool((case.get("complainant") or {}).get("masked")),
                "revealed": shown is not None and not sees_in_full(node, full, user),
                "error": reveal_error, "reason": reason}
    return render("cases/case.html", status=status, case=case, v=case_view.build(node, case), forms=forms,
                  options=options, duplicates=_duplicates(node, full, user), may_direct=user.role in DIRECTIVE_ROLES,
                  done=case_view.ACTION_LABELS.get(done) if done in ACTIONS else None,
                  proposed=request.args.get("proposed") == "1", personal=personal)


@bp.get("/cases/<case_id>")
@page()
def case_page(user, case_id):
    node = current_node()
    return _case_page(node, user, get_case(node, case_id, user))


@bp.post("/cases/<case_id>/personal")
@page()
def case_personal(user, case_id):
    """查看完整信息: the complainant in full, once, for a written reason (issue 13 items 3-4)."""
    node = current_node()
    full = get_case(node, case_id, user)
    reason = request.form.get("reason", "")
    try:
        shown = reveal_case(node, case_id, user, {"reason": reason}, via="desk")
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        return _case_page(node, user, full, status=exc.status, reveal_error=localize(exc.message), reason=reason)
    return _case_page(node, user, full, shown=shown)


@bp.post("/cases/<case_id>/actions")
@page(*ANY_ACT_ROLES)
def case_action(user, case_id):
    node = current_node()
    case = present(node, get_case(node, case_id, user), user)
    action = request.form.get("action", "")
    payload = actions_view.payload_from_form(action, request.form, case["kind"]) if action else {}
    fields = actions_view.form_fields(action, case["kind"])
    values = {f.name: (",".join(request.form.getlist(f.name)) if f.kind == "multi" else request.form.get(f.name, ""))
              for f in fields}
    try:
        if request.form.get("confirmed") == "1":
            result = act(node, case["id"], payload, user)
            return redirect(url_for("case_page.case_page", case_id=case["id"], done=action,
                                    proposed="1" if result.get("proposal") else None) + "#case-actions")
        after = actions_view.preview_action(node, case["id"], payload, user)
    except NodeError as exc:
        if exc.status in (401, 403, 404):
            raise
        field = actions_view.ERROR_FIELD_ALIASES.get(exc.field or "", exc.field or "")
        names = {f.name for f in fields}
        errors = {field: localize(exc.message)} if field in names else {}
        _, options = _forms(node, case, [action] if action in actions_view.ACTION_FORMS else [])
        return render("cases/case_action.html", status=exc.status, case=case, v=case_view.build(node, case),
                      form=_one_form(case, action), options=options, values=values, errors=errors,
                      form_error="" if errors else localize(exc.message), confirm=None)
    _, options = _forms(node, case, [action])
    return render("cases/case_action.html", case=case, v=case_view.build(node, case), form=_one_form(case, action),
                  options=options, values=values, errors={}, form_error="",
                  confirm=actions_view.consequence(node, case, after, payload))


def _one_form(case: dict[str, Any], action: str) -> dict[str, Any] | None:
    if action not in actions_view.ACTION_FORMS:
        return None
    return {"action": action, "label": case_view.ACTION_LABELS[action], "help": actions_view.ACTION_HELP[action],
            "fields": actions_view.form_fields(action, case["kind"])}


@bp.get("/cases/<case_id>/form.docx")
@page()
def case_form(user, case_id):
    node = current_node()
    case = present(node, get_case(node, case_id, user), user)   # printed as this user reads it
    printed = node.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    data = form_doc.render(case_view.build(node, case), unit_name=str(node.config.name or node.code),
                           printed_at=printed, t=gettext, loc=localize)
    return Response(data, mimetype=DOCX,
                    headers={"Content-Disposition": f'attachment; filename="{case["id"]}.docx"'})
