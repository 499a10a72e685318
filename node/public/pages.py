"""``/public/`` — the consumer portal's pages (issue 12 items 1-3, 7; CONTRACT §10).

Thin handlers: parse the form, call ``filing`` / ``progress`` / ``codes``, render. Every POST
carries the CSRF token of the anonymous session (``node.app``). A refusal shows the form again
with the message beside the field and everything typed kept (escaped by Jinja, never echoed
raw); a limit reached answers 429 with ``Retry-After`` and a plain Chinese message.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request, session
from werkzeug.exceptions import RequestEntityTooLarge

from node.cases import OUTCOMES, Case
from node.directives import public_warnings
from node.divisions import load_divisions
from node.errors import NodeError, invalid
from node.privacy import keyring_of, phone_hashes
from node.public import codes, filing, firms, limits, progress
from node.runtime import Node
from node.stats import hotspots
from node.web.i18n import localize
from node.web.portal import error_page, public_page, render_public

bp = Blueprint("public_pages", __name__, url_prefix="/public")
TRACKED_MAX = 20


def _address() -> str:
    return request.remote_addr or "unknown"


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: Any) -> None:
    # the complaint form carries attachments: all of them together as large as one may be
    if request.method == "POST" and endpoint == "public_pages.complaint_submit":
        request.max_content_length = current_app.config["NODE"].config.evidence.max_bytes + 1024 * 1024


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    mib = current_app.config["NODE"].config.evidence.max_bytes // (1024 * 1024)
    return error_page(NodeError(413, "too_large", f"附件合计超过 {mib} MiB，请压缩或减少附件后重试 / the attachments "
                                                  f"together exceed {mib} MiB; make them smaller or fewer", "evidence"))


# -- front page, warnings, privacy --------------------------------------------------------------
@bp.get("/")
@public_page
def front(node: Node):
    from node.publicity import recent_disclosures  # written beside this page (issue 12 item 6)
    warnings = [w for w in public_warnings(node, None, 20) if w["kind"] != "typical_case"][:5]
    return render_public("public/front.html", warnings=warnings, typical=public_warnings(node, "typical_case", 3),
                         disclosures=recent_disclosures(node, 5), hot=_hot_categories(node))


HOT_TTL_S = 600


def _hot_categories(node: Node) -> list[dict[str, Any]]:
    """This week's surges by category and region, when the node publishes them
    (``public.publish_hotspots``); firms are never named here. Worked out at most every ten
    minutes: a busy front page must not recompute statistics per visit."""
    if not node.config.public.publish_hotspots:
        return []
    now = node.now().timestamp()
    cached = node.cache.get("public.hot")
    if cached is not None and now - cached[0] < HOT_TTL_S:
        return cached[1]
    report = hotspots(node, {})
    hot = [h for h in report["hotspots"] if h["dimension"] in ("category", "region")][:6]
    node.cache["public.hot"] = (now, hot)
    return hot


@bp.get("/warnings")
@public_page
def warnings_page(node: Node):
    return render_public("public/warnings.html", warnings=public_warnings(node, None, 50))


@bp.get("/privacy")
@public_page
def privacy(node: Node):
    return render_public("public/privacy.html")


# -- filing ---------------------------------------------------------------------------------------
def _form_page(node: Node, values: dict[str, Any], status: int = 200, error: NodeError | None = None,
               notice: str = ""):
    kind = values.get("kind") if values.get("kind") in filing.KINDS else "complaint"
    return render_public("public/complaint.html", status=status, kind=kind, values=values,
                         categories=filing.category_choices(node), regions=_regions(node),
                         error=localize(error.message) if error else "", error_field=(error.field if error else ""),
                         notice=notice, need_code=node.config.public.require_phone_code,
                         max_files=filing.MAX_FILES, max_mib=node.config.evidence.max_bytes // (1024 * 1024))


def _regions(node: Node) -> list[tuple[str, str]]:
    """Counties (and districts) within this node's area, for the respondent's region."""
    div = load_divisions()
    root = node.code[:6]
    out = [(d.code, div.full_name(d.code) or d.name) for d in div.divisions()
           if d.level == "county" and (root == "000000" or div.is_within(d.code, root))]
    return sorted(out)[:4000]


@bp.get("/complaint")
@public_page
def complaint_form(node: Node):
    return _form_page(node, {"kind": request.args.get("kind", "complaint")})


@bp.post("/complaint")
@public_page
def complaint_submit(node: Node):
    values = request.form.to_dict()
    uploads = [filing.Upload(f.stream, f.filename or "", f.mimetype) for f in request.files.getlist("evidence")]
    try:
        receipt = filing.submit(node, values, uploads, _address())
    except NodeError as exc:
        if exc.status == 429:
            raise
        return _form_page(node, values, status=exc.status if exc.status < 500 else 400, error=exc)
    session["receipt"] = {"case_id": receipt.case_id, "query_code": receipt.query_code,
                          "linked_case": receipt.linked_case, "kind": receipt.kind,
                          "attachments": receipt.attachments}
    _remember_tracked(receipt.case_id)
    return redirect("/public/receipt", code=303)


@bp.post("/phone-code")
@public_page
def phone_code(node: Node):
    """Send a one-time code; a JS form gets JSON, a plain form the form again with a notice."""
    purpose = "track" if request.form.get("purpose") == "track" else "submit"
    phone = request.form.get("phone") or request.form.get("complainant.phone")
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        filing.send_phone_code(node, phone, purpose, _address())
    except NodeError as exc:
        if wants_json:
            body = exc.to_dict()
            body["error"]["message"] = localize(exc.message)
            return jsonify(body), exc.status
        if exc.status == 429:
            raise
        if purpose == "track":
            return render_public("public/track.html", status=exc.status, error=localize(exc.message),
                                 phone=phone or "", values={})
        return _form_page(node, request.form.to_dict(), status=exc.status, error=exc)
    notice = localize("验证码已发送，请查收短信 / the code was sent by SMS")
    if wants_json:
        return jsonify({"sent": True, "message": notice})
    if purpose == "track":
        return render_public("public/track.html", phone=phone or "", code_sent=True, notice=notice, values={})
    return _form_page(node, request.form.to_dict(), notice=notice)


@bp.get("/receipt")
@public_page
def receipt(node: Node):
    data = session.get("receipt")
    if not data:
        return redirect("/public/track")
    return render_public("public/receipt.html", receipt=data)


# -- following a case ---------------------------------------------------------------------------
def _remember_tracked(case_id: str) -> None:
    tracked = [c for c in session.get("tracked", []) if c != case_id]
    session["tracked"] = ([case_id] + tracked)[:TRACKED_MAX]


NOT_FOUND = ("未找到与该编号和查询码相符的案件，请核对后重试 / no case matches this number and query code; check "
             "them and try again")


@bp.get("/track")
@public_page
def track(node: Node):
    case_id = (request.args.get("case_id") or "").strip().upper()
    code = request.args.get("query_code") or ""
    if not case_id and not code:
        tracked = request.args.get("case") if request.args.get("case") in session.get("tracked", []) else None
        if tracked:
            return _progress(node, tracked)
        return render_public("public/track.html", values={})
    limits.hit(node, "track-address", _address())
    # one answer for a wrong code and an unknown number: nobody learns which numbers exist
    if not case_id or not codes.query_code_matches(node, case_id, code):
        return render_public("public/track.html", status=404, error=localize(NOT_FOUND),
                             values={"case_id": case_id})
    _remember_tracked(case_id)
    return _progress(node, case_id)


def _progress(node: Node, case_id: str, status: int = 200, error: str = "", notice: str = ""):
    view = progress.consumer_view(node, case_id)
    return render_public("public/progress.html", status=status, case=view, error=error, notice=notice,
                         satisfaction_choices=list(progress.SATISFACTION_NAMES.items()))


@bp.post("/track/phone")
@public_page
def track_by_phone(node: Node):
    """Step two of following by phone: the code checked, the phone's cases listed."""
    phone = (request.form.get("phone") or "").strip()
    limits.hit(node, "track-address", _address())
    if not phone or not codes.use_phone_code(node, phone, "track", request.form.get("phone_code") or ""):
        return render_public("public/track.html", status=404, phone=phone, code_sent=True, values={},
                             error=localize("验证码不正确或已过期 / the code is wrong or expired"))
    # the keyed hash of the normalised phone: the complainant column is encrypted (issue 13 item 1)
    hashes = phone_hashes(keyring_of(node.db), phone) or [""]
    rows = (Case.select(Case.case_id, Case.kind, Case.status, Case.received_at, Case.summary)
            .where(Case.complainant_phone_hash.in_(hashes)
                   & (Case.accepting_node == node.code))
            .order_by(Case.received_at.desc()).limit(TRACKED_MAX))
    found = list(rows)
    for r in reversed(found):
        _remember_tracked(r.case_id)
    return render_public("public/track_list.html", cases=found, outcomes=OUTCOMES)


def _tracked_case() -> str:
    case_id = request.form.get("case_id") or ""
    if case_id not in session.get("tracked", []):
        raise NodeError(404, "not_found", NOT_FOUND, "case_id")
    return case_id


@bp.post("/track/feedback")
@public_page
def feedback(node: Node):
    case_id = _tracked_case()
    try:
        progress.give_feedback(node, case_id, request.form.get("satisfaction"), request.form.get("comment"))
    except NodeError as exc:
        if exc.status in (403, 404):
            raise
        return _progress(node, case_id, status=exc.status, error=localize(exc.message))
    return _progress(node, case_id, notice=localize("感谢您的评价 / thank you for your rating"))


@bp.post("/track/reopen")
@public_page
def reopen(node: Node):
    case_id = _tracked_case()
    try:
        progress.ask_reopen(node, case_id, request.form.get("reason"))
    except NodeError as exc:
        if exc.status in (403, 404):
            raise
        return _progress(node, case_id, status=exc.status, error=localize(exc.message))
    return _progress(node, case_id, notice=localize("已转交承办单位 / passed on to the handling unit"))


# -- the respondent look-up -------------------------------------------------------------------------
@bp.get("/v1/firms")
def firm_lookup():
    node = current_app.config["NODE"]
    q = request.args.get("q", "")
    if len(q) > 100:
        raise invalid("q", "查询词最长 100 字 / q is at most 100 characters")
    with node.activate():
        return jsonify({"items": firms.find_firms(node, q)})
