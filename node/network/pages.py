"""系统管理 — the administration pages of the staff desk (issue 11 item 9): node status, links and
their health, quarantine. Admin role only. The user pages are ``node/accounts/pages.py``.

``GET /desk/admin``                      node status, links summary, quarantine count, sign-ins
``GET /desk/admin/links``                every link: backlog, oldest pending, last success each way
``GET /desk/admin/quarantine``           held documents (``?all=1``: with those already handled)
``GET /desk/admin/quarantine/<id>``      one held document, with retry and skip
``POST /desk/admin/quarantine/<id>/retry``  first POST: confirmation; with ``confirmed=1``: retry
``POST /desk/admin/quarantine/<id>/skip``   the same, with a required ``reason`` (audited)
"""
from __future__ import annotations

from flask import Blueprint, redirect, request
from flask_babel import gettext as _

from node.errors import NodeError
from node.network import admin
from node.web.i18n import N_, localize
from node.web.pages import current_node, page, render

bp = Blueprint("network_pages", __name__, url_prefix="/desk")

LEVEL_LABELS = {"hq": N_("Headquarters"), "province": N_("Province"), "prefecture": N_("Prefecture"),
                "county": N_("County"), "station": N_("Station")}
LINK_ROLES = {"parent": N_("Parent"), "child": N_("Child"), "peer": N_("Peer")}
LINK_STATES = {"active": N_("Active"), "stopped": N_("Stopped"), "revoked": N_("Revoked")}
MODES = {"push": N_("Push"), "pull": N_("Pull only")}
OUTCOMES = {"ok": N_("Signed in"), "bad_password": N_("Wrong password"), "unknown_login": N_("Unknown login"),
            "locked": N_("Refused: locked"), "no_password": N_("No desk password"), "disabled": N_("Account disabled")}
HELD_STATES = {"held": N_("Held"), "retried": N_("Retried"), "skipped": N_("Skipped"),
               "superseded": N_("Superseded")}
DONE = {"retried": N_("The document was applied and its channel moves on."),
        "skipped": N_("The document was skipped; the reason is kept in the replication audit.")}


def _labels() -> dict:
    return {"levels": LEVEL_LABELS, "link_roles": LINK_ROLES, "link_states": LINK_STATES, "modes": MODES,
            "outcomes": OUTCOMES, "held_states": HELD_STATES, "problems": admin.SIGN_IN_PROBLEMS}


@bp.get("/admin")
@page("admin")
def overview(user):
    return render("network/overview.html", o=admin.overview(current_node()), **_labels())


@bp.get("/admin/links")
@page("admin")
def links(user):
    node = current_node()
    return render("network/links.html", links=admin.links_health(node),
                  silent_hours=node.config.replication.silent_after_hours, **_labels())


@bp.get("/admin/quarantine")
@page("admin")
def quarantine(user):
    include_done = request.args.get("all") == "1"
    return render("network/quarantine.html", rows=admin.held_documents(include_done), include_done=include_done,
                  done=DONE.get(request.args.get("done", "")), done_id=request.args.get("id", ""), **_labels())


def _item(qid: int, status: int = 200, **context):
    return render("network/held.html", status=status, row=admin.held_document(qid), **_labels(), **context)


@bp.get("/admin/quarantine/<int:qid>")
@page("admin")
def held(user, qid: int):
    return _item(qid)


def _confirm(action: str, qid: int, row: dict, **fields):
    return render("network/confirm.html", action=action, row=row, fields=fields, **_labels())


@bp.post("/admin/quarantine/<int:qid>/retry")
@page("admin")
def retry(user, qid: int):
    node = current_node()
    row = admin.held_document(qid)
    if request.form.get("confirmed") != "1":
        return _confirm("retry", qid, row)
    try:
        result = admin.retry_held(node, qid, user.login)
    except NodeError as exc:
        if exc.status == 404:
            raise
        return _item(qid, status=exc.status, action_error=localize(exc.message))
    if result["state"] != "retried":
        return _item(qid, status=409, still_failing=result.get("error") or "")
    return redirect(f"/desk/admin/quarantine?done=retried&id={qid}")


@bp.post("/admin/quarantine/<int:qid>/skip")
@page("admin")
def skip(user, qid: int):
    node = current_node()
    row = admin.held_document(qid)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        return _item(qid, status=422, errors={"reason": _("Give the reason for skipping.")},
                     reason=reason)
    if len(reason) > 500:
        return _item(qid, status=422, errors={"reason": _("The reason may hold at most 500 characters.")},
                     reason=reason)
    if request.form.get("confirmed") != "1":
        return _confirm("skip", qid, row, reason=reason)
    try:
        admin.skip_held(node, qid, user.login, reason)
    except NodeError as exc:
        if exc.status == 404:
            raise
        errors = {"reason": localize(exc.message)} if exc.field == "reason" else {}
        return _item(qid, status=exc.status, errors=errors, reason=reason,
                     action_error="" if errors else localize(exc.message))
    return redirect(f"/desk/admin/quarantine?done=skipped&id={qid}")
