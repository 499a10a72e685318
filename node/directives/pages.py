"""应急指挥 — the emergency-command pages of the staff desk (issue 11 item 7; docs/directives.md).

Thin handlers over the names the API uses (``issue``, ``update``, ``cancel``, ``acknowledge``,
``add_report``, ``directive_from_case``, ``get``, ``list_directives``, ``progress_view``); the
forms become API bodies in ``desk_forms`` and the tree of this node's subtree comes from
``desk_tree``. Every action is confirmed first: the first POST states what will happen, the
second (``confirmed=1``) does it and redirects (docs/desk.md).

* ``GET /desk/directives`` — issued and received here; ``?pending=1`` those waiting for this
  node's acknowledgement (the home tile); ``?status=``, ``?role=``
* ``GET|POST /desk/directives/new`` — issue from a plan (``?plan=``), blank, or from a case
  (``?case_id=``); leader/admin at a level with ``issues_directives``
* ``GET /desk/directives/<id>`` — the directive, its plan's steps, live progress, the actions
  this user may take here; ``GET /desk/directives/<id>/progress`` — the progress fragment
  the page polls every 2 s (htmx)
* ``POST /desk/directives/<id>/ack`` | ``/report`` (at a target) and ``/update`` | ``/cancel``
  (at the issuer)
* ``GET /desk/directives/<id>/cap.xml`` — the CAP 1.2 rendering for a signed-in user (the API's
  ``/cap/v1/directives/<id>.xml`` wants a bearer token)
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, Response, make_response, redirect, request, session

from node.directives import desk_forms, desk_tree
from node.directives.cap import MIME_TYPE
from node.directives.cap_directives import cap_xml
from node.directives.common import ACK_ROLES, ISSUE_ROLES, STATUS_NAMES
from node.directives.from_case import directive_from_case
from node.directives.models import Directive
from node.directives.plans import list_plans
from node.directives.progress import progress_view
from node.directives.reading import awaiting_acknowledgement, get, list_directives
from node.directives.service import acknowledge, add_report, cancel, issue, update
from node.errors import NodeError, not_found
from node.web.i18n import localize
from node.web.pages import current_node, page, render

bp = Blueprint("directives_pages", __name__, url_prefix="/desk")

#: who works in 应急指挥 (the menu's roles): everyone who may sign for a directive
DESK_ROLES = ACK_ROLES
LIST_LIMIT = 100      # the newest; list_directives reads each one's progress
DONE = ("issued", "ack", "report", "update", "cancel")
SEVERITY_OPTIONS = ("extreme", "severe", "moderate", "minor")
URGENCY_OPTIONS = ("immediate", "expected", "future")
CERTAINTY_OPTIONS = ("observed", "likely", "possible", "unlikely")
CATEGORY_OPTIONS = ("food_safety", "product_safety", "consumer_safety", "infringement", "mass_complaint",
                    "consumer_rights", "other")
ISSUE_DEFAULTS = {"urgency": "immediate", "certainty": "observed", "category": "other", "ack_within_minutes": 60}


def _user_errors(exc: NodeError) -> dict[str, str]:
    """A refusal the person can correct, beside the field it names (else above the form)."""
    if exc.status not in (400, 409, 422):
        raise exc
    return {desk_forms.field_key(exc.field): localize(exc.message)}


def _hidden_fields() -> list[tuple[str, str]]:
    """The posted fields, carried unchanged through the confirmation page."""
    return [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirmed")]


def _overdue(iso: str | None, now: datetime) -> bool:
    return bool(iso) and datetime.fromisoformat(str(iso)) < now


# -- the list ------------------------------------------------------------------------------------
@bp.get("/directives")
@page(*DESK_ROLES)
def directive_list(user):
    node = current_node()
    now = node.now()
    pending = request.args.get("pending") == "1"
    status = request.args.get("status", "")
    role = request.args.get("role", "")
    if pending:
        items = awaiting_acknowledgement(node)
    else:
        filters = {"limit": str(LIST_LIMIT)}
        if status in STATUS_NAMES:
            filters["status"] = status
        if role in ("issuer", "target", "relay"):
            filters["role"] = role
        items = list_directives(node, filters, user)["items"]
    for item in items:
        item["ack_overdue"] = (item["status"] == "active" and item["mine"].get("target")
                               and not item["mine"].get("acknowledged_at") and _overdue(item["ack_due_at"], now))
    return render("directives/list.html", items=items, pending=pending, status_filter=status, role=role,
                  limited=not pending and len(items) >= LIST_LIMIT,
                  can_issue=user.role in ISSUE_ROLES and node.config.capabilities.issues_directives)


# -- issuing ---------------------------------------------------------------------------------------
def _issue_form(node: Any, *, values: dict[str, Any], targets: list[str], case: dict[str, Any] | None,
                errors: dict[str, str] | None = None, status: int = 200, plan: dict[str, Any] | None = None):
    known = desk_tree.known_nodes(node)
    tree = desk_tree.known_subtree(node, known)
    offered = {"*"} | set(known) | {f"{c}/*" for c in known}
    return render("directives/new.html", status=status, values=values, case=case, errors=errors or {},
                  plans=list_plans(node), plan=plan, tree=tree, tree_size=len(known), targets=targets,
                  typed=" ".join(t for t in targets if t not in offered), severities=SEVERITY_OPTIONS,
                  urgencies=URGENCY_OPTIONS, certainties=CERTAINTY_OPTIONS, categories=CATEGORY_OPTIONS)


def _plan_of(node: Any, plan_id: str | None) -> dict[str, Any] | None:
    if not plan_id:
        return None
    try:
        return desk_forms.plan_values(node, plan_id)
    except NodeError:
        return None


@bp.route("/directives/new", methods=["GET", "POST"])
@page(*ISSUE_ROLES)
def directive_new(user):
    node = current_node()
    if not node.config.capabilities.issues_directives:
        return render("directives/no_capability.html", status=403, level=node.level)
    case_id = (request.values.get("case_id") or "").strip()
    case = None
    if case_id:
        try:
            case = desk_forms.case_draft(node, case_id)
        except NodeError as exc:
            if exc.status == 404:
                raise
            return render("directives/no_case.html", status=exc.status, case_id=case_id,
                          error=localize(exc.message))
    if request.method == "GET":
        values: dict[str, Any] = dict(ISSUE_DEFAULTS)
        if case:
            values.update(case["values"])
        plan = _plan_of(node, request.args.get("plan"))
        if plan:   # from a case, as directive_from_case: the case's title and text stay
            values.update({k: v for k, v in plan.items()
                           if not k.startswith("_") and not (case and k in ("title", "body"))})
        return _issue_form(node, values=values, targets=desk_forms.form_targets(request.args), case=case,
                           plan=plan["_plan"] if plan else None)
    form = request.form
    plan = _plan_of(node, form.get("plan"))
    try:
        if case:
            body = desk_forms.case_overrides(form)
            fields = desk_forms.check_case(node, case, body)
        else:
            body = desk_forms.issue_payload(form)
            fields = desk_forms.check_issue(node, body)
        if form.get("confirmed") != "1":
            return render("directives/confirm.html", kind="issue", action="/desk/directives/new",
                          hidden=_hidden_fields(), fields=fields, case=case,
                          receivers=desk_tree.receivers(node, fields["targets"]),
                          targets=desk_tree.target_labels(node, fields["targets"]),
                          back="/desk/directives/new" + (f"?case_id={case['case_id']}" if case else ""))
        if case:
            doc = directive_from_case(node, case["case_id"], user, body)
        else:
            doc = issue(node, body, user)
    except NodeError as exc:
        errors = _user_errors(exc)
        return _issue_form(node, values=form.to_dict(), targets=desk_forms.form_targets(form), case=case,
                           errors=errors, status=exc.status, plan=plan["_plan"] if plan else None)
    return redirect(f"/desk/directives/{doc['id']}?done=issued")


# -- one directive ---------------------------------------------------------------------------------
def _count_keys(doc: dict[str, Any]) -> list[str]:
    plan = doc.get("plan") or {}
    return [str(k) for k in plan.get("report_counts") or []]


def _detail(user: Any, doc: dict[str, Any], *, errors: dict[str, dict[str, str]] | None = None,
            values: dict[str, Any] | None = None, status: int = 200):
    node = current_node()
    active = doc["status"] == "active"
    mine = doc["mine"]
    may = {
        "ack": active and mine.get("target") and not mine.get("acknowledged_at") and user.role in ACK_ROLES,
        "report": active and mine.get("target") and user.role in ACK_ROLES,
        "update": active and doc["role_here"] == "issuer" and user.role in ISSUE_ROLES,
        "cancel": active and doc["role_here"] == "issuer" and user.role in ISSUE_ROLES,
    }
    # an action's refusal stands beside its field; when the form is not shown (e.g. the
    # directive is already acknowledged or cancelled), above the page
    top_error = " ".join(msg for kind, errs in (errors or {}).items() if not may.get(kind) for msg in errs.values())
    rows, hidden = desk_tree.progress_rows(doc["progress"], node)
    done = request.args.get("done")
    return render("directives/detail.html", status=status, d=doc, may=may, errors=errors or {}, top_error=top_error,
                  values=values or {}, rows=rows, hidden_rows=hidden, count_keys=_count_keys(doc),
                  targets=desk_tree.target_labels(node, doc["targets"]), done=done if done in DONE else None,
                  severities=SEVERITY_OPTIONS, urgencies=URGENCY_OPTIONS, certainties=CERTAINTY_OPTIONS,
                  categories=CATEGORY_OPTIONS)


@bp.get("/directives/<directive_id>")
@page(*DESK_ROLES)
def directive_page(user, directive_id: str):
    return _detail(user, get(current_node(), directive_id, user))


@page(*DESK_ROLES)
def _progress_fragment(user, directive_id: str):
    node = current_node()
    row = Directive.by_id(directive_id)
    if row is None:
        raise not_found(f"指令 {directive_id} 不存在 / no directive {directive_id}")
    progress = progress_view(node, row)
    rows, hidden = desk_tree.progress_rows(progress, node)
    return render("directives/_progress.html", d={"id": row.directive_id, "status": row.status},
                  progress=progress, rows=rows, hidden_rows=hidden)


@bp.get("/directives/<directive_id>/progress")
def directive_progress(directive_id: str):
    """The live progress fragment. Polling is not activity: it does not hold the session open past
    the idle timeout, and once the session has ended htmx takes the whole page to the sign-in
    form (``HX-Redirect``) instead of swapping the form into the fragment."""
    seen = session.get("seen")
    resp = make_response(_progress_fragment(directive_id))
    if resp.status_code in (301, 302, 303) and request.headers.get("HX-Request"):
        query = parse_qs(urlsplit(resp.headers.get("Location", "")).query)
        target = {"next": f"/desk/directives/{directive_id}"}
        if query.get("reason"):
            target["reason"] = query["reason"][0]
        resp = Response("", status=200)
        resp.headers["HX-Redirect"] = "/desk/login?" + urlencode(target)
    elif seen is not None and session.get("login"):
        session["seen"] = seen
    return resp


@bp.get("/directives/<directive_id>/cap.xml")
@page(*DESK_ROLES)
def directive_cap(user, directive_id: str):
    get(current_node(), directive_id, user)          # the same read check as the page
    body = cap_xml(current_node(), directive_id)
    return Response(body, mimetype=MIME_TYPE, content_type=f"{MIME_TYPE}; charset=utf-8")


# -- actions on one directive --------------------------------------------------------------------
def _act(user: Any, directive_id: str, kind: str, payload_of, do):
    """The one shape of every action: parse the form, confirm, act, redirect (errors beside
    the field of the action's form on the directive page)."""
    node = current_node()
    doc = get(node, directive_id, user)
    form = request.form
    try:
        payload = payload_of(form, doc)
        if form.get("confirmed") != "1":
            changes = desk_forms.update_changes(doc, payload) if kind == "update" else []
            if kind == "update" and not changes:
                raise NodeError(422, "invalid", "没有需要更新的内容 / nothing to update")
            return render("directives/confirm.html", kind=kind, d=doc, payload=payload, changes=changes,
                          action=f"/desk/directives/{directive_id}/{kind}", hidden=_hidden_fields(),
                          back=f"/desk/directives/{directive_id}")
        do(node, directive_id, payload, user)
    except NodeError as exc:
        errors = _user_errors(exc)
        fresh = get(node, directive_id, user)
        return _detail(user, fresh, errors={kind: errors}, values={kind: form.to_dict()}, status=exc.status)
    return redirect(f"/desk/directives/{directive_id}?done={kind}")


@bp.post("/directives/<directive_id>/ack")
@page(*ACK_ROLES)
def directive_ack(user, directive_id: str):
    return _act(user, directive_id, "ack", lambda form, doc: desk_forms.ack_payload(form), acknowledge)


@bp.post("/directives/<directive_id>/report")
@page(*ACK_ROLES)
def directive_report(user, directive_id: str):
    return _act(user, directive_id, "report",
                lambda form, doc: desk_forms.report_payload(form, _count_keys(doc)), add_report)


@bp.post("/directives/<directive_id>/update")
@page(*ISSUE_ROLES)
def directive_update(user, directive_id: str):
    return _act(user, directive_id, "update", lambda form, doc: desk_forms.update_payload(form), update)


@bp.post("/directives/<directive_id>/cancel")
@page(*ISSUE_ROLES)
def directive_cancel(user, directive_id: str):
    return _act(user, directive_id, "cancel", lambda form, doc: desk_forms.cancel_payload(form), cancel)
