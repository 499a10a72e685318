"""Complaint publicity over HTTP (issue 12 item 6; CONTRACT §10; docs/publicity.md). No token:
everything here is public, and nothing here names a complainant.

* ``GET /public/v1/disclosures?q=&uscc=&page=&per_page=`` → ``{"items", "total", "page",
  "per_page"}`` (a bad parameter → 400 naming it);
* ``GET /public/v1/disclosures/<case_id>`` → one entry (404 when not published);
* ``GET /public/v1/disclosures.csv`` — the same filters, at most ``CSV_MAX_ROWS`` rows;
* ``GET /public/v1/disclosures.atom`` — the newest publications as Atom 1.0;
* ``GET /public/disclosures`` — the page: search by name or USCC, results, paging, links to
  the CSV and the feed.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from node.errors import NodeError, not_found
from node.publicity import feeds, service
from node.web.auth import current_node
from node.web.i18n import localize
from node.web.portal import public_page, render_public

bp = Blueprint("publicity", __name__)

JSON_CACHE = "public, max-age=60"   # a minute stale is harmless; a busy portal asks often
# RFC 6266: an ASCII name for old clients, the Chinese one (投诉公示.csv) for the rest
DISPOSITION = "attachment; filename=disclosures.csv; filename*=UTF-8''%E6%8A%95%E8%AF%89%E5%85%AC%E7%A4%BA.csv"


def _filters() -> service.Filters:
    return service.parse_filters(request.args)


def _query(f: service.Filters, page: int | None = None) -> dict[str, str]:
    out = {k: v for k, v in (("q", f.q), ("uscc", f.uscc)) if v}
    if page is not None and page != 1:
        out["page"] = str(page)
    if page is not None and f.per_page != service.DEFAULT_PER_PAGE:
        out["per_page"] = str(f.per_page)
    return out


@bp.get("/public/v1/disclosures")
def disclosures_json():
    node = current_node()
    f = _filters()
    rows, total = service.search(f)
    resp = jsonify({"items": service.to_public_all(node, rows), "total": total, "page": f.page,
                    "per_page": f.per_page})
    resp.headers["Cache-Control"] = JSON_CACHE
    return resp


@bp.get("/public/v1/disclosures/<case_id>")
def disclosure_json(case_id: str):
    row = service.one(case_id)
    if row is None:
        raise not_found("未公示此编号的投诉 / no published complaint has this number")
    return jsonify(service.to_public(current_node(), row))


@bp.get("/public/v1/disclosures.csv")
def disclosures_csv():
    node = current_node()
    f = _filters()
    rows, truncated = service.export_rows(f)
    body = feeds.csv_bytes(service.to_public_all(node, rows), truncated, service.CSV_MAX_ROWS)
    resp = Response(body, content_type="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = DISPOSITION
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if truncated:
        resp.headers["X-Truncated"] = str(service.CSV_MAX_ROWS)
    return resp


@bp.get("/public/v1/disclosures.atom")
def disclosures_atom():
    node = current_node()
    f = _filters()
    body = feeds.atom_bytes(node, service.to_public_all(node, service.recent(f)), _query(f))
    return Response(body, content_type="application/atom+xml; charset=utf-8")


@bp.get("/public/disclosures")
@public_page
def disclosures_page(node):
    error: str | None = None
    field: str | None = None
    try:
        f = _filters()
    except NodeError as exc:
        # the form again, the message beside the field it names
        error, field = localize(exc.message), exc.field
        f = service.Filters()
    if error is None:
        rows, total = service.search(f)
    else:
        rows, total = [], 0
    pages = max(1, -(-total // f.per_page))
    links = {
        "prev": f"?{urlencode(_query(f, f.page - 1))}" if f.page > 1 else None,
        "next": f"?{urlencode(_query(f, f.page + 1))}" if f.page < pages else None,
        "csv": "/public/v1/disclosures.csv" + (f"?{urlencode(_query(f))}" if _query(f) else ""),
        "atom": "/public/v1/disclosures.atom" + (f"?{urlencode(_query(f))}" if _query(f) else ""),
    }
    return render_public("publicity/disclosures.html", status=400 if error else 200,
                         items=service.to_public_all(node, rows), total=total, page=f.page, pages=pages,
                         q=request.args.get("q", "") if error else (f.q or ""),
                         uscc=request.args.get("uscc", "") if error else (f.uscc or ""),
                         error=error, field=field, links=links, csv_max=service.CSV_MAX_ROWS)
