"""The jurisdiction tables: loaded from TOML, checked, cached per node (R1.5, R2.1-R2.6).

``configs/jurisdiction/*.toml`` ships them; a node may replace any file with its own copy in
``<home>/jurisdiction/``: ``stations.toml`` (the areas each station of a county covers),
``platforms.toml`` (e-commerce platforms and the domicile of their operators),
``departments.toml`` (the units inside a bureau and which report categories go where),
``bodies.toml`` (competent bodies outside market regulation, R2.5) and ``supervision.toml``
(how far up copies go as a clock runs out, R2.6). ``docs/routing.md`` explains each.

A table that cannot be used fails loudly when it is loaded, naming the file and the key
(``TableError``): a wrong table must stop a node at start, not misroute cases later. The
decisions made with the tables are in ``node.routing.rules``.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import CONFIGS_DIR
from node.divisions import load_divisions
from node.runtime import Node

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


def for_node(node: Node) -> Tables:
    """This node's tables: the shipped ones, overridden file by file by ``<home>/jurisdiction/``.
    Parsed once per node (the node's cache), so every case decision reads the same tables."""
    t = node.cache.get("jurisdiction")
    if t is None:
        t = load_tables(load_divisions(), [DEFAULT_DIR, Path(node.config.home) / "jurisdiction"])
        node.cache["jurisdiction"] = t
    return t


def reopen_within_days(node: Any) -> int:
    """How long after the conclusion a complainant may ask for a case to be handled again
    (``supervision.toml``; the ``reopen`` action and the public portal both hold to it)."""
    return int(for_node(node).supervision.reopen_within_days)
