"""Jurisdiction decisions — pure: a case's facts and the jurisdiction tables in, a destination out.

Serves R1.5 (distribution from central intake to counties and stations), R2.1-R2.3
(departments inside a bureau; reports against staff to discipline inspection, never to the
unit accused), R2.4 (the level above), R2.5 (the directory of competent bodies outside
market regulation), R2.6 (which ancestors supervise a case) and CONTRACT §5 "Routing".
The rules and their legal basis are written up in ``docs/routing.md``.

Nothing here touches a database, a clock or the network, so every rule can be tested with
a table and a division list alone. ``node.routing.tables`` loads the tables;
``node.routing.hooks``, ``actions`` and ``arrivals`` apply the decisions (documents,
custody, copies); ``node.routing.paths`` knows the tree paths documents travel.

Legal basis (SAMR Order No. 20, 市场监督管理投诉举报处理暂行办法, as amended 2022):

* Art. 12 ¶1 — a complaint is handled by the county-level bureau where the respondent
  actually operates or is domiciled;
* Art. 12 ¶2 — complaints against an e-commerce platform operator (or a seller through its
  own website) by the county of its domicile; against a merchant on a platform by the
  merchant's operating place or the platform operator's domicile;
* Art. 12 ¶3 — a superior bureau may handle a complaint received by a subordinate, and a
  subordinate may ask the superior to take one (``take_over``, ``escalate``);
* Art. 13 — when two or more bureaus are competent, the first to receive it handles it.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.routing.tables import LEVEL_RANK, CountyStations, OutsideBody, Platform, Supervision, Tables


# -- the facts of a case that jurisdiction depends on -------------------------------------------
@dataclass(frozen=True)
class CaseFacts:
    kind: str
    report_target: str | None = None
    region: str | None = None
    respondent_name: str = ""
    respondent_address: str = ""
    uscc: str | None = None
    category: str = ""
    text: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CaseFacts:
        resp = row.get("respondent")
        if isinstance(resp, str):
            resp = json.loads(resp) if resp else None
        resp = resp or {}
        return cls(kind=row["kind"], report_target=row.get("report_target"),
                   region=row.get("respondent_region") or resp.get("region_code"),
                   respondent_name=resp.get("name") or row.get("respondent_name") or "",
                   respondent_address=resp.get("address") or "", uscc=resp.get("uscc"),
                   category=row.get("category") or "",
                   text="\n".join(t for t in (row.get("summary") or "", row.get("description") or "") if t))


@dataclass(frozen=True)
class Decision:
    """Where a case belongs, seen from ``here``.

    ``target``: the node that should handle it now (``here`` to keep it); ``basis``: a code
    (``operating_place`` ``platform_domicile`` ``platform_merchant`` ``first_received``
    ``station_area`` ``staff_report`` ``consultation`` ``coarse_region`` ``unknown_region``
    ``all_returned``); ``note``: the reason in Chinese then English, with the article;
    ``competent``: every unit with jurisdiction, best first; ``attention``: set when a person
    has to decide; ``department``: the unit inside the bureau (R2.1-R2.3); ``accused``: for a
    report against staff, the unit whose staff are accused.
    """
    target: str
    basis: str
    note: str
    competent: tuple[str, ...]
    attention: str | None
    department: str
    accused: str | None = None
    region: str | None = None


def department_for(facts: CaseFacts, tables: Tables) -> str:
    """R2.1: consumer-rights complaints (and consultations) → consumer protection; R2.3:
    reports against staff → discipline; R2.2: other reports → by category."""
    if facts.kind == "report":
        if facts.report_target == "staff":
            return "discipline"
        for prefix, dept in tables.department_rules:
            if facts.category.startswith(prefix):
                return dept
        return tables.default_report_department
    return "consumer_protection"


def resolve_region(code: str | None, divisions: Any) -> tuple[str | None, str]:
    """A current division code for ``code`` (a retired code → its successor), and a note."""
    if not code:
        return None, ""
    if divisions.is_current(code):
        return code, ""
    retired = divisions.retired(code)
    if retired is not None:
        return retired.successor, (f"区划代码 {code}（{retired.name}）已于 {retired.retired_on} 年撤销，按承继区划 "
                                   f"{retired.successor} 确定管辖 / retired division {code} ({retired.name}): "
                                   f"jurisdiction follows its successor {retired.successor}")
    return None, ""


def match_station(county: str, facts: CaseFacts, tables: Tables) -> tuple[str | None, str]:
    """The station whose area covers the respondent (address, then name), following
    aliases and ``forward_to``; ``(None, "")`` when no area matches and no default is set."""
    table = tables.stations.get(county)
    if table is None:
        return None, ""
    hay = f"{facts.respondent_address}\n{facts.respondent_name}"
    best: tuple[int, int, str, str] | None = None   # (-len, order, station, area)
    order = 0
    for s in table.stations:
        for area in s.areas:
            if area and area in hay:
                cand = (-len(area), order, s.code, area)
                best = cand if best is None or cand < best else best
            order += 1
    for alias in table.aliases:
        if alias in hay:
            area = alias
            while area in table.aliases:
                area = table.aliases[area]
            owner = next((s.code for s in table.stations if area in s.areas), None)
            if owner is not None:
                cand = (-len(alias), order, owner, alias)
                best = cand if best is None or cand < best else best
        order += 1
    if best is None:
        if table.default:
            return _follow(table, table.default), "（默认 / default）"
        return None, ""
    return _follow(table, best[2]), best[3]


def _follow(table: CountyStations, code: str) -> str:
    seen = {code}
    station = table.station(code)
    while station is not None and station.forward_to and station.forward_to not in seen:
        seen.add(station.forward_to)
        code = station.forward_to
        station = table.station(code)
    return code


def platform_of(facts: CaseFacts, tables: Tables) -> tuple[Platform | None, bool]:
    """``(platform, is_operator)``: the respondent *is* the platform operator, or the
    respondent is a merchant on a platform the case names; ``(None, False)`` otherwise."""
    name = facts.respondent_name
    for p in tables.platforms:
        if name and (name == p.operator or name in p.aliases):
            return p, True
    for p in tables.platforms:
        if any(a and (a in name or a in facts.text) for a in (p.name, *p.aliases)):
            return p, False
    return None, False


def _bureau(code: str, divisions: Any) -> str:
    name = divisions.full_name(code) if divisions.is_current(code) else None
    return f"{code}（{name}）" if name else code


def decide(facts: CaseFacts, here: str, divisions: Any, tables: Tables, *,
           exclude: Iterable[str] = (), station_routing: bool = True) -> Decision:
    """Where the case belongs, seen from node ``here`` (CONTRACT §5 "Routing").

    ``exclude``: units that returned the case as not theirs (the next competent one is
    taken, else a person decides). ``station_routing``: whether a county (or a station)
    applies its station-area table (the origin of a long transfer leaves that to the county).
    """
    excluded = set(exclude)
    dept = department_for(facts, tables)
    if facts.kind == "consultation":
        return Decision(here, "consultation", "咨询由受理单位答复（R1.3）/ a consultation is answered where it "
                        "was taken (R1.3)", (here,), None, dept)
    region, region_note = resolve_region(facts.region, divisions)
    if region is None:
        msg = (f"被投诉人区划代码 {facts.region or '（空）'} 无法识别，需人工确定管辖 / respondent region "
               f"{facts.region or '(none)'} is unknown: a person must decide jurisdiction")
        return Decision(here, "unknown_region", msg, (), msg, dept)
    prefix = f"{region_note}；" if region_note else ""

    if facts.kind == "report" and facts.report_target == "staff":
        return _staff_report(facts, here, region, divisions, tables, prefix)

    platform, is_operator = platform_of(facts, tables)
    if platform is not None and is_operator:
        competent = [platform.domicile]
        basis = "platform_domicile"
        why = (f"电子商务平台经营者的投诉由其住所地县级市场监督管理部门处理（《市场监督管理投诉举报处理暂行办法》"
               f"第十二条第二款）：{platform.name} 住所地 {_bureau(platform.domicile, divisions)} / a complaint "
               f"against a platform operator goes to the county of its domicile (Order 20 Art. 12(2))")
    elif platform is not None:
        competent = [region, platform.domicile]
        basis = "platform_merchant"
        why = (f"平台内经营者的投诉由其实际经营地 {_bureau(region, divisions)} 或平台经营者住所地 "
               f"{_bureau(platform.domicile, divisions)} 处理（第十二条第二款）/ a merchant on {platform.key}: its "
               f"operating place or the platform's domicile (Order 20 Art. 12(2))")
    else:
        competent = [region]
        basis = "operating_place"
        why = (f"投诉由被投诉人实际经营地或者住所地县级市场监督管理部门处理（第十二条第一款）："
               f"{_bureau(region, divisions)} / the county where the respondent operates or is domiciled "
               f"(Order 20 Art. 12(1))")
    if facts.kind == "report":
        why = why.replace("投诉由", "举报参照投诉由", 1) + " (reports: the place of the reported conduct)"
    competent = list(dict.fromkeys(competent))
    open_ = [c for c in competent if c not in excluded]
    if not open_:
        msg = (f"有管辖权的单位（{'、'.join(competent)}）均已退回，需人工确定承办单位 / every competent unit "
               f"({', '.join(competent)}) returned the case: a person must decide")
        return Decision(here, "all_returned", prefix + msg, tuple(competent), msg, dept, region=region)

    # Art. 13: when two are competent and this node is one of them (or a station inside
    # one), the first to receive keeps it.
    for c in open_:
        if here == c or (divisions.is_within(here, c) and divisions.level_of(here) == "station"):
            return _inside_county(facts, here, c, divisions, tables, dept, tuple(competent), prefix + why,
                                  multiple=len(open_) > 1, station_routing=station_routing, region=region)
    target = open_[0]
    level = divisions.level_of(target)
    attention = None
    if level in ("province", "prefecture"):
        attention = (f"被投诉人区划 {_bureau(target, divisions)} 只到{'省' if level == 'province' else '地市'}级，"
                     f"需人工指定承办的县级单位 / the respondent's region is {level}-level only: a person must "
                     f"choose the county")
        if divisions.is_within(here, target):
            return Decision(here, "coarse_region", prefix + attention, tuple(competent), attention, dept,
                            region=region)
        return Decision(target, "coarse_region", prefix + why, tuple(competent), attention, dept, region=region)
    return Decision(target, basis, prefix + why, tuple(competent), None, dept, region=region)


def _inside_county(facts: CaseFacts, here: str, county: str, divisions: Any, tables: Tables, dept: str,
                   competent: tuple[str, ...], why: str, *, multiple: bool, station_routing: bool,
                   region: str) -> Decision:
    first = ("；本单位先收到投诉，由本单位处理（第十三条）/ this unit received it first (Order 20 Art. 13)"
             if multiple else "")
    if station_routing:
        station, area = match_station(county, facts, tables)
        if station is not None and station != here:
            note = (f"{why}{first}；按基层所辖区表，「{area}」属 {station} 辖区 / station-area table: "
                    f"{area!r} is covered by station {station}")
            return Decision(station, "station_area", note, competent, None, dept, region=region)
    return Decision(here, "first_received" if multiple else "here", why + first, competent, None, dept,
                    region=region)


def _staff_report(facts: CaseFacts, here: str, region: str, divisions: Any, tables: Tables,
                  prefix: str) -> Decision:
    """R2.3: a report against enforcement staff goes to the discipline unit of the level
    above the unit accused — never to the unit accused itself."""
    accused = region
    station, _area = match_station(region, facts, tables) if divisions.level_of(region) == "county" else (None, "")
    if station is not None and any(k in facts.respondent_name for k in ("所", "站")):
        accused = station
    target = divisions.parent(accused) or accused
    level = divisions.level_of(accused)
    note = (f"{prefix}针对执法人员的举报由纪检监察机构办理，不得交被举报单位（{_bureau(accused, divisions)}）"
            f"办理，转上一级 {_bureau(target, divisions)} 纪检监察机构（R2.3）/ a report against staff of "
            f"{accused} goes to the discipline unit of the level above, {target}, never to the unit accused")
    attention = None
    if level == "hq" or target == accused:
        attention = ("被举报单位为总局，需人工处理 / the unit accused is HQ: a person must decide")
    return Decision(target, "staff_report", note, (target,), attention, "discipline", accused=accused,
                    region=region)


def is_accused_unit(code: str, accused: str | None, divisions: Any) -> bool:
    """The unit accused by a staff report, or a unit inside it (its stations), holds only a
    redacted stub of the report (R2.3)."""
    return accused is not None and divisions.is_within(code, accused)


# -- who supervises a case (R2.6) ---------------------------------------------------------------
def supervision_stage(overdue: bool, working_days_left: int | None, working_days_late: int | None,
                      sup: Supervision) -> str:
    """``escalated`` / ``overdue`` / ``due_soon`` / ``running``."""
    if overdue:
        if working_days_late is not None and working_days_late >= sup.escalate_after_working_days:
            return "escalated"
        return "overdue"
    if working_days_left is not None and working_days_left <= sup.soon_due_working_days:
        return "due_soon"
    return "running"


def supervisors(chain_up: Sequence[tuple[str, str]], stage: str, sup: Supervision) -> list[str]:
    """Ancestors (``(code, level)``, nearest first) that should hold a copy of a case the
    node below handles: up to ``mirror_up_to`` always, further as the clock runs out."""
    out: list[str] = []
    if sup.mirror_up_to:
        limit = LEVEL_RANK[sup.mirror_up_to]
        for code, level in chain_up:
            if LEVEL_RANK.get(level, 0) < limit:
                break
            out.append(code)
    extra = {"due_soon": sup.due_soon_copies_up, "overdue": sup.overdue_copies_up,
             "escalated": sup.escalated_copies_up}.get(stage, 0)
    for code, _level in list(chain_up)[:extra]:
        if code not in out:
            out.append(code)
    return out


# -- outside bodies (R2.5) --------------------------------------------------------------------
def body(code: str, tables: Tables) -> OutsideBody | None:
    return tables.bodies.get(code)


def suggest_bodies(category: str, tables: Tables) -> list[OutsideBody]:
    hits = [(max(len(p) for p in b.categories if category.startswith(p)), b) for b in tables.bodies.values()
            if category and any(category.startswith(p) for p in b.categories)]
    return [b for _, b in sorted(hits, key=lambda h: -h[0])]
