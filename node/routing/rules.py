"""Jurisdiction: which node must handle a case, and who else keeps a copy — pure functions.

Serves R1.5 (distribution from central intake to counties and stations), R2.1-R2.3
(departments inside a bureau; reports against staff to discipline inspection, never to the
unit accused), R2.4 (the level above), R2.5 (the directory of competent bodies outside
market regulation), R2.6 (which ancestors supervise a case) and CONTRACT §5 "Routing".
The rules and their legal basis are written up in ``docs/routing.md``.

Nothing here touches a database, a clock or the network: a case's facts and the
jurisdiction tables go in, a ``Decision`` comes out. ``node/services/case_sync.py`` applies
decisions (documents, custody, copies); the tables are loaded once per node.

Legal basis (SAMR Order No. 20, 市场监督管理投诉举报处理暂行办法, as amended 2022):

* Art. 12 ¶1 — a complaint is handled by the county-level bureau where the respondent
  actually operates or is domiciled;
* Art. 12 ¶2 — complaints against an e-commerce platform operator (or a seller through its
  own website) by the county of its domicile; against a merchant on a platform by the
  merchant's operating place or the platform operator's domicile;
* Art. 12 ¶3 — a superior bureau may handle a complaint received by a subordinate, and a
  subordinate may ask the superior to take one (``take_over``, ``escalate``);
* Art. 13 — when two or more bureaus are competent, the first to receive it handles it.

Tables (``configs/jurisdiction/*.toml``; a node may replace any file with its own copy in
``<home>/jurisdiction/``): ``stations.toml`` (the areas each station of a county covers),
``platforms.toml``, ``departments.toml``, ``bodies.toml``, ``supervision.toml``.
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import CONFIGS_DIR

TABLE_FILES = ("stations.toml", "platforms.toml", "departments.toml", "bodies.toml",
               "supervision.toml")
DEFAULT_DIR = CONFIGS_DIR / "jurisdiction"
LEVEL_RANK = {"hq": 0, "province": 1, "prefecture": 2, "county": 3, "station": 4}
FIXED_DEPARTMENTS = ("consumer_protection", "enforcement", "discipline")


class TableError(ValueError):
    """A jurisdiction table that cannot be used: names the file and the key."""

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key
        self.message = message


# -- tables ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Station:
    code: str
    name: str
    areas: tuple[str, ...]
    forward_to: str | None = None


@dataclass(frozen=True)
class CountyStations:
    county: str
    name: str
    stations: tuple[Station, ...]
    aliases: Mapping[str, str]
    default: str | None = None

    def station(self, code: str) -> Station | None:
        return next((s for s in self.stations if s.code == code), None)


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    operator: str
    aliases: tuple[str, ...]
    domicile: str


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class OutsideBody:
    code: str
    name: str
    name_en: str
    hotline: str
    matters: str
    tell: str
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en,
                "hotline": self.hotline, "matters": self.matters, "tell": self.tell,
                "categories": list(self.categories)}


@dataclass(frozen=True)
class Supervision:
    mirror_up_to: str = "prefecture"
    soon_due_working_days: int = 2
    due_soon_copies_up: int = 5
    overdue_copies_up: int = 5
    escalate_after_working_days: int = 5
    escalated_copies_up: int = 5
    reopen_within_days: int = 30


@dataclass(frozen=True)
class Tables:
    stations: Mapping[str, CountyStations] = field(default_factory=dict)
    platforms: tuple[Platform, ...] = ()
    departments: Mapping[str, Department] = field(default_factory=dict)
    department_rules: tuple[tuple[str, str], ...] = ()   # (category prefix, department)
    default_report_department: str = "enforcement"
    bodies: Mapping[str, OutsideBody] = field(default_factory=dict)
    supervision: Supervision = field(default_factory=Supervision)


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(path.name, "-", f"TOML 格式错误：{exc} / not valid TOML: {exc}") from None


def _str(value: Any, source: str, key: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TableError(source, key, "须为非空字符串 / must be a non-empty string")
    return value.strip()


def _str_list(value: Any, source: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TableError(source, key, "须为字符串列表 / must be a list of strings")
    return tuple(v.strip() for v in value)


def _known(data: Mapping[str, Any], allowed: Iterable[str], source: str, where: str) -> None:
    for key in data:
        if key not in allowed:
            raise TableError(source, f"{where}.{key}" if where else key,
                             f"未知配置项 / unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_stations(data: Mapping[str, Any], divisions: Any, source: str = "stations.toml"
                   ) -> dict[str, CountyStations]:
    """The station-area tables; refuses unknown keys, stations outside their county, an
    area claimed by two stations, aliases to nothing and loops (aliases or forward_to)."""
    _known(data, ("counties", "version"), source, "")
    counties = data.get("counties", {})
    if not isinstance(counties, Mapping):
        raise TableError(source, "counties", "须为表 / must be a table")
    out: dict[str, CountyStations] = {}
    for county, spec in counties.items():
        where = f"counties.{county}"
        if not isinstance(spec, Mapping):
            raise TableError(source, where, "须为表 / must be a table")
        _known(spec, ("name", "default", "stations", "aliases"), source, where)
        if divisions.level_of(county) != "county" and divisions.parent(county + "001") != county:
            raise TableError(source, where, f"{county} 不是县级区划 / {county} is not a county-level division")
        stations: list[Station] = []
        owner: dict[str, str] = {}
        raw_stations = spec.get("stations", [])
        if not isinstance(raw_stations, list):
            raise TableError(source, f"{where}.stations", "须为表数组 / must be an array of tables")
        for i, raw in enumerate(raw_stations):
            key = f"{where}.stations[{i}]"
            if not isinstance(raw, Mapping):
                raise TableError(source, key, "须为表 / must be a table")
            _known(raw, ("code", "name", "areas", "forward_to"), source, key)
            code = _str(raw.get("code"), source, key + ".code")
            if divisions.level_of(code) != "station" or divisions.parent(code) != county:
                raise TableError(source, key + ".code",
                                 f"{code} 不是 {county} 下的基层所代码 / {code} is not a station of {county}")
            if any(s.code == code for s in stations):
                raise TableError(source, key + ".code", f"基层所 {code} 重复 / station {code} listed twice")
            areas = _str_list(raw.get("areas"), source, key + ".areas")
            for area in areas:
                if area in owner and owner[area] != code:
                    raise TableError(source, key + ".areas",
                                     f"区域「{area}」同时属于 {owner[area]} 和 {code} / area {area!r} is "
                                     f"claimed by both {owner[area]} and {code}")
                owner[area] = code
            forward = _str(raw.get("forward_to"), source, key + ".forward_to", required=False) or None
            stations.append(Station(code, _str(raw.get("name", code), source, key + ".name"), areas, forward))
        codes = {s.code for s in stations}
        for s in stations:
            if s.forward_to is not None and s.forward_to not in codes:
                raise TableError(source, f"{where}.stations.{s.code}.forward_to",
                                 f"{s.forward_to} 不在本县基层所表中 / {s.forward_to} is not a station of {county}")
        _check_forward_loops(stations, source, where)
        aliases = spec.get("aliases", {}) or {}
        if not isinstance(aliases, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in aliases.items()):
            raise TableError(source, f"{where}.aliases", "须为 名称 = 名称 的表 / must map names to names")
        _check_aliases(aliases, owner, source, where)
        default = _str(spec.get("default"), source, f"{where}.default", required=False) or None
        if default is not None and default not in codes:
            raise TableError(source, f"{where}.default", f"{default} 不在本县基层所表中 / not a listed station")
        out[county] = CountyStations(county, _str(spec.get("name", county), source, f"{where}.name"),
                                     tuple(stations), dict(aliases), default)
    return out


def _check_forward_loops(stations: Sequence[Station], source: str, where: str) -> None:
    nxt = {s.code: s.forward_to for s in stations}
    for start in nxt:
        seen = [start]
        cur = nxt[start]
        while cur is not None:
            if cur in seen:
                cycle = " → ".join(seen[seen.index(cur):] + [cur])
                raise TableError(source, f"{where}.stations.{start}.forward_to",
                                 f"转交形成环路：{cycle} / forward_to loop: {cycle}")
            seen.append(cur)
            cur = nxt.get(cur)


def _check_aliases(aliases: Mapping[str, str], owner: Mapping[str, str], source: str, where: str) -> None:
    for start in aliases:
        seen = [start]
        cur = aliases[start]
        while cur in aliases:
            if cur in seen:
                cycle = " → ".join(seen[seen.index(cur):] + [cur])
                raise TableError(source, f"{where}.aliases.{start}",
                                 f"别名形成环路：{cycle} / alias loop: {cycle}")
            seen.append(cur)
            cur = aliases[cur]
        if cur not in owner:
            raise TableError(source, f"{where}.aliases.{start}",
                             f"别名「{start}」指向的「{cur}」不属于任何基层所 / alias {start!r} leads to "
                             f"{cur!r}, which no station lists")


def parse_platforms(data: Mapping[str, Any], divisions: Any, source: str = "platforms.toml"
                    ) -> tuple[Platform, ...]:
    _known(data, ("platforms",), source, "")
    out = []
    for i, raw in enumerate(data.get("platforms", []) or []):
        key = f"platforms[{i}]"
        if not isinstance(raw, Mapping):
            raise TableError(source, key, "须为表 / must be a table")
        _known(raw, ("key", "name", "operator", "aliases", "domicile"), source, key)
        domicile = _str(raw.get("domicile"), source, key + ".domicile")
        if not divisions.is_current(domicile):
            raise TableError(source, key + ".domicile", f"{domicile} 不是现行区划代码 / not a current division")
        out.append(Platform(_str(raw.get("key"), source, key + ".key"), _str(raw.get("name"), source, key + ".name"),
                            _str(raw.get("operator"), source, key + ".operator"),
                            _str_list(raw.get("aliases"), source, key + ".aliases"), domicile))
    return tuple(out)


def parse_departments(data: Mapping[str, Any], source: str = "departments.toml"
                      ) -> tuple[dict[str, Department], tuple[tuple[str, str], ...], str]:
    _known(data, ("departments", "rules", "default_report"), source, "")
    depts: dict[str, Department] = {}
    for code, raw in (data.get("departments", {}) or {}).items():
        if not isinstance(raw, Mapping):
            raise TableError(source, f"departments.{code}", "须为表 / must be a table")
        _known(raw, ("name", "name_en"), source, f"departments.{code}")
        depts[code] = Department(code, _str(raw.get("name"), source, f"departments.{code}.name"),
                                 _str(raw.get("name_en", code), source, f"departments.{code}.name_en"))
    for code in FIXED_DEPARTMENTS:
        if code not in depts:
            raise TableError(source, f"departments.{code}", "必须定义 / must be defined (fixed by R2.1-R2.3)")
    rules: list[tuple[str, str]] = []
    for i, raw in enumerate(data.get("rules", []) or []):
        key = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise TableError(source, key, "须为表 / must be a table")
        _known(raw, ("categories", "department"), source, key)
        dept = _str(raw.get("department"), source, key + ".department")
        if dept not in depts:
            raise TableError(source, key + ".department", f"未定义的机构 {dept} / unknown department")
        if dept == "discipline":
            raise TableError(source, key + ".department",
                             "纪检监察只办理针对执法人员的举报 / discipline takes reports against staff only")
        for prefix in _str_list(raw.get("categories"), source, key + ".categories"):
            rules.append((prefix, dept))
    default = _str(data.get("default_report", "enforcement"), source, "default_report")
    if default not in depts:
        raise TableError(source, "default_report", f"未定义的机构 {default} / unknown department")
    return depts, tuple(sorted(rules, key=lambda r: -len(r[0]))), default


def parse_bodies(data: Mapping[str, Any], source: str = "bodies.toml") -> dict[str, OutsideBody]:
    _known(data, ("bodies",), source, "")
    out: dict[str, OutsideBody] = {}
    for i, raw in enumerate(data.get("bodies", []) or []):
        key = f"bodies[{i}]"
        if not isinstance(raw, Mapping):
            raise TableError(source, key, "须为表 / must be a table")
        _known(raw, ("code", "name", "name_en", "hotline", "matters", "tell", "categories"), source, key)
        code = _str(raw.get("code"), source, key + ".code")
        if code in out:
            raise TableError(source, key + ".code", f"{code} 重复 / listed twice")
        out[code] = OutsideBody(code, _str(raw.get("name"), source, key + ".name"),
                                _str(raw.get("name_en", ""), source, key + ".name_en", required=False),
                                _str(raw.get("hotline", ""), source, key + ".hotline", required=False),
                                _str(raw.get("matters", ""), source, key + ".matters", required=False),
                                _str(raw.get("tell"), source, key + ".tell"),
                                _str_list(raw.get("categories"), source, key + ".categories"))
    return out


def parse_supervision(data: Mapping[str, Any], source: str = "supervision.toml") -> Supervision:
    _known(data, ("supervision",), source, "")
    raw = data.get("supervision", {}) or {}
    defaults = Supervision()
    _known(raw, defaults.__dataclass_fields__, source, "supervision")
    values: dict[str, Any] = {}
    for name in defaults.__dataclass_fields__:
        if name not in raw:
            continue
        value = raw[name]
        if name == "mirror_up_to":
            if value not in ("", *LEVEL_RANK):
                raise TableError(source, f"supervision.{name}", "须为层级名或空 / must be a level or empty")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TableError(source, f"supervision.{name}", "须为非负整数 / must be an integer >= 0")
        values[name] = value
    return Supervision(**{**defaults.__dict__, **values})


def load_tables(divisions: Any, dirs: Sequence[Path | str] = (DEFAULT_DIR,)) -> Tables:
    """The tables from the first directory holding each file, searched from the last
    directory given back to the first (a node home's ``jurisdiction/`` overrides the shipped
    ``configs/jurisdiction``). Any error raises ``TableError`` naming file and key."""
    def find(name: str) -> Path | None:
        for d in reversed([Path(p) for p in dirs]):
            if (d / name).is_file():
                return d / name
        return None

    def load(name: str) -> tuple[dict[str, Any], str]:
        path = find(name)
        return (_read(path), str(path)) if path else ({}, name)

    st_data, st_src = load("stations.toml")
    stations = parse_stations(st_data, divisions, st_src)
    pf_data, pf_src = load("platforms.toml")
    platforms = parse_platforms(pf_data, divisions, pf_src)
    dep_data, dep_src = load("departments.toml")
    if not dep_data:
        dep_data = {"departments": {c: {"name": c} for c in FIXED_DEPARTMENTS}}
    depts, rules, default = parse_departments(dep_data, dep_src)
    bodies = parse_bodies(*load("bodies.toml"))
    sup = parse_supervision(*load("supervision.toml"))
    return Tables(stations, platforms, depts, rules, default, bodies, sup)


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


# -- the tree paths: who a document passes, who to send updates to -------------------------------
def on_path(x: str, a: str, b: str, divisions: Any) -> bool:
    """``x`` lies on the tree path from ``a`` to ``b`` (``b`` included, ``a`` excluded).

    Relies on the invariant that a node's code lies inside its parent's region (MISSION):
    a node containing exactly one of the two is strictly between them, and a node
    containing both is on the path only when it is their lowest common ancestor."""
    if x == b:
        return True
    if x == a:
        return False
    ia, ib = divisions.is_within(a, x), divisions.is_within(b, x)
    if ia != ib:
        return True
    if ia and ib:
        return bool(x == divisions.lowest_common_ancestor(a, b))
    return False


def cover(me: str, targets: Iterable[str], divisions: Any) -> list[str]:
    """The fewest destinations whose paths from ``me`` pass every target (a document applied
    by every node it passes reaches all of them); order kept."""
    ts = [t for t in dict.fromkeys(targets) if t and t != me]
    return [t for t in ts if not any(u != t and on_path(t, me, u, divisions) for u in ts)]


def path_nodes(a: str, b: str, divisions: Any) -> list[str]:
    """Region codes on the path from ``a`` to ``b`` by the division table (``b`` included):
    up to the lowest common ancestor, down again."""
    lca = divisions.lowest_common_ancestor(a, b)
    up = [c for c in divisions.chain(a)[1:] if divisions.is_within(c, lca)]
    down = [c for c in divisions.chain(b) if c != lca and divisions.is_within(c, lca)]
    return [c for c in up if c != lca] + ([lca] if lca not in (a, b) else []) + list(reversed(down))


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
