"""Which complaints are published, what of them, and the reads the pages and feeds share
(issue 12 item 6; 《市场监督管理投诉信息公示暂行规则》 2023; docs/publicity.md).

* ``published_outcome(row)`` — the one rule deciding whether a case is published;
* ``mask_name`` / ``mask_uscc`` — how an individual business (USCC ``92…``) is shown;
* ``after_change`` — the case-lifecycle hook: inside the change's transaction a complaint that
  is now concluded is upserted (idempotent), one that left conclusion (reopen) is removed;
* ``sync_case`` — the same decision for a row written outside ``commit_change`` (an arriving
  copy), ``backfill`` — for the rows already there when the table is created;
* ``parse_filters``, ``search``, ``recent``, ``one``, ``to_public`` — the reads.

Nothing here copies a complainant's identity: only ``complainant.type`` is read from the
complainant JSON (CONTRACT §10).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from peewee import fn

from node.cases import OUTCOMES, SHANGHAI, Case, CaseChange, CaseEvent, categories
from node.errors import bad_request
from node.publicity.models import Disclosure
from node.runtime import Node

# Complaint outcomes a conclusion can carry. A declined complaint ("declined"), a referred one
# ("referred") and a report's outcomes are never among them.
PUBLISHED_OUTCOMES = ("mediated", "not_mediated", "settled", "withdrawn")
# ``closed`` is a concluded complaint archived after the follow-up: it stays published (its
# outcome is still the conclusion's), else archiving would empty the publicity.
PUBLISHED_STATUSES = ("concluded", "closed")
COMPLAINANT_TYPES = ("individual", "organisation")

# Words that end an individual business's trade name and name no person: kept when masking.
BUSINESS_SUFFIXES = tuple(sorted({
    "店", "商店", "商行", "经营部", "门市部", "批发部", "服务部", "维修部", "修理部", "小卖部", "超市", "便利店",
    "餐馆", "餐厅", "饭店", "饭馆", "酒家", "酒楼", "小吃店", "面馆", "餐饮店", "快餐店", "五金店", "水果店",
    "服装店", "鞋店", "药店", "药房", "诊所", "修理店", "工作室", "理发店", "美发店", "美容店", "美容院",
    "养生馆", "烟酒店", "副食店", "杂货店", "专卖店", "经营店", "网店", "摄影店", "加工厂", "加工坊", "作坊",
    "农家乐", "民宿", "档口", "摊位", "食品店", "蛋糕店", "手机店", "家电店", "电器店", "建材店", "茶行",
}, key=len, reverse=True))
# Words that show a name is an organisation's, not a person's (names without a USCC).
ORGANISATION_WORDS = ("公司", "集团", "企业", "厂", "银行", "合作社", "协会", "学会", "中心", "医院", "学校",
                      "大学", "学院", "研究院", "研究所", "事务所", "基金会", "委员会", "股份", "有限")
MASK = "***"

USCC_RE = re.compile(r"^[0-9A-HJ-NP-RT-UW-Y]{18}$")
MAX_Q = 100
# C0 controls but tab, DEL, lone surrogates: never typed into a search box, and PostgreSQL refuses
# a NUL in any string (a 500 found by fuzzing, issue 13 item 8)
_BAD_Q_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MAX_PAGE = 10_000
CSV_MAX_ROWS = 10_000
FEED_ENTRIES = 50


# -- what is published ---------------------------------------------------------------------------
def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    try:
        out = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def published_outcome(row: Mapping[str, Any]) -> str | None:
    """The outcome code under which ``row`` is published, or None: never published.

    Only complaints (no report, whatever its target; no consultation), concluded (or archived
    after their conclusion) with a conclusion's outcome: a complaint declined, referred, or
    still open is not published."""
    if row.get("kind") != "complaint" or row.get("report_target") or row.get("status") not in PUBLISHED_STATUSES:
        return None
    code = _json(row.get("outcome")).get("outcome")
    return code if code in PUBLISHED_OUTCOMES else None


def is_individual_business(uscc: str | None, name: str) -> bool:
    """个体工商户: USCC category ``92`` (GB 32100-2015: registration authority 9, category 2).
    A name without a USCC that names no organisation is treated the same: it may be a person's."""
    if uscc:
        return uscc.upper().startswith("92")
    return not any(word in name for word in ORGANISATION_WORDS)


def mask_name(name: str) -> str:
    """The first character, ``***``, and a trailing trade word when there is one:
    ``张三五金店`` → ``张***五金店``, ``李四`` → ``李***``. The stars do not tell the length."""
    name = name.strip()
    if not name:
        return ""
    rest = name[1:]
    suffix = next((s for s in BUSINESS_SUFFIXES if rest.endswith(s)), "")
    return name[0] + MASK + suffix


def mask_uscc(uscc: str) -> str:
    """An individual business's code: the authority, category and division (8 characters) and
    the check character stay, the organisation code body is starred."""
    if len(uscc) != 18:
        return uscc[:2] + "*" * max(0, len(uscc) - 2)
    return uscc[:8] + "*" * 9 + uscc[17]


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _utc(value: Any) -> datetime:
    """A stored time (naive UTC, or ISO text from a wire row) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _shanghai_day(value: Any) -> date:
    return _utc(value).astimezone(SHANGHAI).date()


def entry_columns(row: Mapping[str, Any], outcome: str, handled_at: Any) -> dict[str, Any]:
    """The columns of a published entry: only the fields the rules name."""
    complainant = _json(row.get("complainant"))
    ctype = complainant.get("type")
    respondent = _json(row.get("respondent"))
    name = (row.get("respondent_name") or respondent.get("name") or "").strip()
    uscc = (row.get("respondent_uscc") or respondent.get("uscc") or "").strip().upper() or None
    individual = is_individual_business(uscc, name)
    problem = row.get("summary") or ""
    shown_name = mask_name(name) if individual else name
    return {
        "case_id": row["case_id"],
        "complainant_type": ctype if ctype in COMPLAINANT_TYPES else "individual",
        "business_name": shown_name,
        "business_uscc": uscc,
        "business_uscc_shown": (mask_uscc(uscc) if individual else uscc) if uscc else None,
        "category": row.get("category") or "",
        "submitted_on": _day(row.get("received_date")) or _shanghai_day(row["received_at"]),
        "dispute_on": _day(row.get("occurred_on")),
        "problem": problem,
        "demand": row.get("demand") or "",
        "handled_on": _shanghai_day(handled_at),
        "result": outcome,
        "region_code": row.get("respondent_region") or respondent.get("region_code"),
        "handling_node": row.get("handling_node") or "",
        # the search sees what is published: a masked name cannot be found by its real one
        "search_text": f"{shown_name}\n{problem}",
    }


def _upsert(columns: dict[str, Any], now: datetime) -> None:
    update = {getattr(Disclosure, k): v for k, v in columns.items() if k != "case_id"}
    (Disclosure
     .insert(**columns, published_at=now.astimezone(UTC).replace(tzinfo=None))
     .on_conflict(conflict_target=[Disclosure.case_id], update=update)
     .execute())


def _withdraw(case_id: str) -> None:
    Disclosure.delete().where(Disclosure.case_id == case_id).execute()


def _concluded_at(case_id: str, fallback: Any) -> Any:
    """When the complaint was concluded: its last ``conclude`` event (else the row's time)."""
    at = (CaseEvent.select(fn.MAX(CaseEvent.at))
          .where((CaseEvent.case_id == case_id) & (CaseEvent.action == "conclude"))
          .scalar())
    return at or fallback


def after_change(node: Node, changes: list[CaseChange]) -> None:
    """The lifecycle hook (``node.cases.install_extension``): runs inside the change's
    transaction, so an entry is published or withdrawn with the change or not at all.
    Intake returns without a query: a new case is never concluded."""
    for c in changes:
        row = c.row
        if row.get("kind") != "complaint":
            continue
        outcome = published_outcome(row)
        if outcome is not None:
            mine = [e["at"] for e in c.events if e.get("action") == "conclude"]
            at = mine[-1] if mine else _concluded_at(row["case_id"], row.get("updated_at") or node.now())
            _upsert(entry_columns(row, outcome, at), node.now())
        elif c.previous_version is not None and "status" in c.changed:
            _withdraw(row["case_id"])


def sync_case(node: Node, row: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> None:
    """Publish or withdraw one case as it now stands — for a row written outside
    ``commit_change`` (a copy arriving from another node; ``previous``: the row it replaced,
    None for a copy new here). Idempotent. The replication inbox is a hot path: a
    copy that was not published before and is not now costs no query."""
    outcome = published_outcome(row)
    if outcome is None:
        was_published = previous is not None and published_outcome(previous) is not None
        if row.get("kind") == "complaint" and was_published:
            _withdraw(row["case_id"])
        return
    at = _concluded_at(row["case_id"], row.get("updated_at") or node.now())
    _upsert(entry_columns(row, outcome, at), node.now())


def backfill(now: datetime) -> int:
    """Publish the concluded complaints already stored (tables bound by the caller); returns
    how many entries were written. Two queries besides the upserts, whatever the table size."""
    concluded = dict(CaseEvent.select(CaseEvent.case_id, fn.MAX(CaseEvent.at))
                     .where(CaseEvent.action == "conclude")
                     .group_by(CaseEvent.case_id)
                     .tuples())
    rows = (Case.select()
            .where((Case.kind == "complaint") & Case.status.in_(PUBLISHED_STATUSES))
            .order_by(Case.pk)
            .dicts())
    written = 0
    for row in rows.iterator():
        outcome = published_outcome(row)
        if outcome is not None:
            _upsert(entry_columns(row, outcome, concluded.get(row["case_id"]) or row["updated_at"]), now)
            written += 1
    return written


# -- reads ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    q: str | None = None
    uscc: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


def _positive(args: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise bad_request(f"{name} 须为 1 至 {high} 的整数 / {name} must be a whole number from 1 to {high}",
                          field=name, code="invalid")
    return int(raw)


def parse_filters(args: Mapping[str, str]) -> Filters:
    """The query parameters ``q``, ``uscc``, ``page``, ``per_page``; a bad one → 400 naming it.
    Other parameters (``lang``) are not this function's business."""
    q = (args.get("q") or "").strip()
    if len(q) > MAX_Q:
        raise bad_request(f"q 最多 {MAX_Q} 个字符 / q holds at most {MAX_Q} characters", field="q", code="invalid")
    if _BAD_Q_CHARS.search(q):
        raise bad_request("q 含控制字符 / q holds a control character", field="q", code="invalid")
    uscc = (args.get("uscc") or "").strip().upper()
    if uscc and not USCC_RE.match(uscc):
        raise bad_request("uscc 须为 18 位统一社会信用代码（数字和大写字母，不含 I O Z S V）/ uscc must be an "
                          "18-character unified social credit code", field="uscc", code="invalid")
    return Filters(q or None, uscc or None, _positive(args, "page", 1, MAX_PAGE),
                   _positive(args, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE))


def search(f: Filters) -> tuple[list[dict[str, Any]], int]:
    """One page of entries (newest conclusion first) and how many match."""
    query = Disclosure.matching(f.q, f.uscc)
    total = query.count()
    rows = list(Disclosure.newest_first(query)
                .limit(f.per_page)
                .offset((f.page - 1) * f.per_page)
                .dicts())
    return rows, total


def export_rows(f: Filters) -> tuple[list[dict[str, Any]], bool]:
    """Every matching entry up to ``CSV_MAX_ROWS``; the flag says more were left out."""
    rows = list(Disclosure.newest_first(Disclosure.matching(f.q, f.uscc))
                .limit(CSV_MAX_ROWS + 1)
                .dicts())
    return rows[:CSV_MAX_ROWS], len(rows) > CSV_MAX_ROWS


def recent(f: Filters) -> list[dict[str, Any]]:
    """The newest publications (the Atom feed): by ``published_at``."""
    return list(Disclosure.matching(f.q, f.uscc)
                .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
                .limit(FEED_ENTRIES)
                .dicts())


def one(case_id: str) -> dict[str, Any] | None:
    return (Disclosure.select()
            .where(Disclosure.case_id == case_id)
            .dicts()
            .first())


def to_public(node: Node, row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the JSON shows it (CONTRACT §10): the published fields, nothing else."""
    table = categories(node)

    def day(value: Any) -> str | None:
        d = _day(value)
        return d.isoformat() if d else None

    return {
        "case_id": row["case_id"],
        "complainant_type": row["complainant_type"],
        "business_name": row["business_name"],
        "business_uscc": row["business_uscc_shown"],
        "goods_or_service": table.name(row["category"]) or row["category"],
        "category": row["category"],
        "submitted_on": day(row["submitted_on"]),
        "dispute_on": day(row["dispute_on"]),
        "problem": row["problem"],
        "demand": row["demand"],
        "handled_on": day(row["handled_on"]),
        "result": OUTCOMES.get(row["result"], (row["result"],))[0],
        "result_code": row["result"],
        "region_code": row["region_code"],
        "handling_node": row["handling_node"],
        "published_at": _utc(row["published_at"]).astimezone(SHANGHAI).isoformat(timespec="seconds"),
    }


def to_public_all(node: Node, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [to_public(node, r) for r in rows]
