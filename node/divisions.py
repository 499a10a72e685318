"""The national administrative-division table (GB/T 2260 codes) and node-code rules.

Serves R7.1 (five levels, each node's code lies inside its parent's region), R1.5 / R2
(routing needs parents, ancestors and lowest common ancestors), R7.3 (the data standard
validates ``respondent.region_code`` against *current* codes) and CONTRACT §2 (``init``
checks CODE against LEVEL).

The table is the real one (``node/data/divisions.csv``, provenance in
``node/data/PROVENANCE.md``): the hierarchy follows ``parent_code``, never string
arithmetic, because 117 county-level units sit straight under a province (``419001`` 济源市,
``429004`` 仙桃市, the municipalities' districts) and ``441900`` 东莞市 has no counties at all.

Node levels on top of the table:

* ``"000000"`` is HQ (level ``"hq"``), the root: everything is within it.
* a province / prefecture / county node uses its division code;
* a station (工商所 / 市场监管所) uses its county's code plus three digits ``001``–``999``
  (no packaged source has township codes). The four prefecture-level cities without
  counties (东莞, 中山, 儋州, 嘉峪关) run their town-level offices straight under the city
  bureau, so a 9-digit code under one of them is a station too.

The table never changes while a node runs, so ``load_divisions()`` parses it once per process;
every lookup is a dict access (this sits on the intake hot path).
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from node.errors import NodeError, invalid

HQ_CODE = "000000"

Level = Literal["hq", "province", "prefecture", "county", "station"]
NODE_LEVELS: tuple[str, ...] = ("hq", "province", "prefecture", "county", "station")
DIVISION_LEVELS: tuple[str, ...] = ("province", "prefecture", "county")

LEVEL_NAMES_ZH: dict[str, str] = {
    "hq": "总局",
    "province": "省级",
    "prefecture": "地市级",
    "county": "县级",
    "station": "基层所",
}

_DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_DIVISIONS_CSV = _DATA_DIR / "divisions.csv"
DEFAULT_RETIRED_CSV = _DATA_DIR / "divisions_retired.csv"


@dataclass(frozen=True, slots=True)
class Division:
    """One row of the current table."""

    code: str
    name: str
    type: str  # 省 / 直辖市 / 地级市 / 自治州 / 市辖区 / 县级市 / 县 / 旗 …
    level: str  # province | prefecture | county
    parent_code: str  # "000000" for a province


@dataclass(frozen=True, slots=True)
class RetiredDivision:
    """A code that no longer exists, with the current code that took its area over."""

    code: str
    name: str
    retired_on: str  # year (ISO 8601 reduced precision "YYYY"); sources differ on the day
    successor: str


class DivisionTable:
    """Current and retired division codes with O(1) lookups.

    Ancestor chains and their sets are precomputed at load, so ``parent``, ``ancestors``,
    ``is_within`` and ``lowest_common_ancestor`` never walk the table at request time.
    """

    def __init__(self, divisions: list[Division], retired: list[RetiredDivision] | None = None):
        self._by_code: dict[str, Division] = {}
        for d in divisions:
            if d.code in self._by_code:
                raise ValueError(f"duplicate division code {d.code}")
            if d.level not in DIVISION_LEVELS:
                raise ValueError(f"division {d.code}: unknown level {d.level!r}")
            self._by_code[d.code] = d
        for d in divisions:
            if d.parent_code != HQ_CODE and d.parent_code not in self._by_code:
                raise ValueError(f"division {d.code}: parent {d.parent_code} not in the table")

        # chain[code] = (code, parent, grandparent, ..., "000000"), nearest first
        self._chain: dict[str, tuple[str, ...]] = {HQ_CODE: (HQ_CODE,)}
        for code in self._by_code:
            self._chain[code] = self._build_chain(code)
        self._chain_set: dict[str, frozenset[str]] = {
            code: frozenset(chain) for code, chain in self._chain.items()
        }
        # Prefecture-level cities with no county-level units (东莞 441900 …): stations hang
        # straight under them, see the module docstring.
        has_children = {d.parent_code for d in divisions}
        self._station_parents: frozenset[str] = frozenset(
            d.code
            for d in divisions
            if d.level == "county" or (d.level == "prefecture" and d.code not in has_children)
        )

        self._retired: dict[str, RetiredDivision] = {}
        for r in retired or []:
            if r.code in self._by_code:
                raise ValueError(f"retired division {r.code} is still a current code")
            if r.successor not in self._by_code:
                raise ValueError(f"retired division {r.code}: successor {r.successor} is not current")
            self._retired[r.code] = r

    def _build_chain(self, code: str) -> tuple[str, ...]:
        chain = [code]
        seen = {code}
        parent = self._by_code[code].parent_code
        while parent != HQ_CODE:
            if parent in seen:
                raise ValueError(f"division {code}: parent cycle through {parent}")
            seen.add(parent)
            chain.append(parent)
            parent = self._by_code[parent].parent_code
        chain.append(HQ_CODE)
        return tuple(chain)

    # -- single-code lookups ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Division | None:
        """The current division with this 6-digit code, or None."""
        return self._by_code.get(code)

    def divisions(self) -> list[Division]:
        """Every current division, in table order."""
        return list(self._by_code.values())

    def children(self, code: str) -> list[str]:
        """Codes of the current divisions directly under ``code`` (HQ → the provinces)."""
        return [d.code for d in self._by_code.values() if d.parent_code == code]

    def is_current(self, code: str) -> bool:
        """True for a code of the current table (province, prefecture or county level).

        HQ's ``000000`` and station codes are node codes, not division codes: False.
        """
        return code in self._by_code

    def retired(self, code: str) -> RetiredDivision | None:
        """The retired-code record for ``code``, or None."""
        return self._retired.get(code)

    def _station_parent(self, code: str) -> str | None:
        """The county (or county-less prefecture) a station code hangs under, or None."""
        if (
            len(code) == 9
            and code.isascii()
            and code.isdigit()
            and code[6:] != "000"
            and code[:6] in self._station_parents
        ):
            return code[:6]
        return None

    def level_of(self, code: str) -> Level | None:
        """``"hq"``, ``"province"``, ``"prefecture"``, ``"county"``, ``"station"``; None if unknown."""
        if code == HQ_CODE:
            return "hq"
        d = self._by_code.get(code)
        if d is not None:
            return d.level  # type: ignore[return-value]
        if self._station_parent(code) is not None:
            return "station"
        return None

    def name(self, code: str) -> str | None:
        """The division's name; ``"全国"`` for HQ; None for station codes and unknown codes
        (a station's name is whatever its node was initialised with)."""
        if code == HQ_CODE:
            return "全国"
        d = self._by_code.get(code)
        return d.name if d is not None else None

    def full_name(self, code: str) -> str | None:
        """Names from the province down, e.g. ``"广东省深圳市南山区"``; None if not a division."""
        if code not in self._by_code:
            return None
        return "".join(self._by_code[c].name for c in reversed(self._chain[code][:-1]))

    def parent(self, code: str) -> str | None:
        """The parent node code (``parent_code`` of the table; station → its county;
        province → ``"000000"``); None for HQ and for unknown codes."""
        d = self._by_code.get(code)
        if d is not None:
            return d.parent_code
        return self._station_parent(code)

    def chain(self, code: str) -> tuple[str, ...]:
        """``code`` and all its ancestors, nearest first, ending with ``"000000"``.

        Raises KeyError for a code that is neither HQ, a current division nor a station.
        """
        chain = self._chain.get(code)
        if chain is not None:
            return chain
        county = self._station_parent(code)
        if county is None:
            raise KeyError(code)
        return (code, *self._chain[county])

    def ancestors(self, code: str) -> list[str]:
        """The ancestors of ``code`` (not itself), nearest first, up to ``"000000"``.

        ``ancestors("440305") == ["440300", "440000", "000000"]``; HQ has none.
        Raises KeyError for an unknown code.
        """
        return list(self.chain(code)[1:])

    def province_of(self, code: str) -> str | None:
        """The province-level code a code lies in (itself for a province); None for HQ/unknown."""
        try:
            chain = self.chain(code)
        except KeyError:
            return None
        return chain[-2] if len(chain) >= 2 else None

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` lies inside ``ancestor``'s region (reflexive).

        Everything known is within ``"000000"``; an unknown code is within nothing, so an
        authorisation check built on this fails closed.
        """
        s = self._chain_set.get(code)
        if s is not None:
            return ancestor in s
        if code == ancestor:
            return self._station_parent(code) is not None
        county = self._station_parent(code)
        return county is not None and ancestor in self._chain_set[county]

    def lowest_common_ancestor(self, a: str, b: str) -> str:
        """The deepest node code both lie within (``"000000"`` at worst; ``a`` if b is inside a).

        Raises KeyError for an unknown code.
        """
        chain_b = set(self.chain(b))
        for code in self.chain(a):
            if code in chain_b:
                return code
        return HQ_CODE  # unreachable: both chains end with HQ

    # -- validation (422 errors a user can act on) ----------------------------------------

    def check_current(self, code: object, field: str) -> None:
        """Refuse anything but a current division code, saying *why* (retired, unknown)."""
        if not isinstance(code, str):
            raise invalid(field, f"行政区划代码须为字符串 / {field} must be a string")
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise invalid(
                field,
                f"行政区划代码须为 6 位数字：{code!r} / {field} must be a 6-digit division code",
            )
        if code in self._by_code:
            return
        r = self._retired.get(code)
        if r is not None:
            raise NodeError(
                422,
                "retired_division",
                f"已撤销的行政区划代码 {code}（{r.retired_on} 年并入 {r.successor}）"
                f" / retired division code {code} ({r.name}, merged into {r.successor} in"
                f" {r.retired_on})",
                field,
            )
        if code == HQ_CODE:
            raise invalid(
                field,
                f"000000 不是行政区划代码 / {field}: 000000 is HQ's node code, not a division",
            )
        raise NodeError(
            422,
            "unknown_division",
            f"未知的行政区划代码 {code} / unknown division code {code}",
            field,
        )

    def check_node_code(self, level: str, code: object, field: str = "code") -> None:
        """Refuse a node code that does not fit its level (CONTRACT §2 ``init``).

        HQ is ``000000``; province / prefecture / county nodes use a current division code of
        that level; a station is a county code plus ``001``–``999``.
        """
        if level not in NODE_LEVELS:
            raise invalid(
                "level",
                f"未知的节点层级 {level!r}，应为 {' / '.join(NODE_LEVELS)}"
                f" / unknown level {level!r}",
            )
        if not isinstance(code, str) or not (code.isascii() and code.isdigit()):
            raise invalid(field, f"节点代码须为数字 / node code must be digits, got {code!r}")
        if level == "hq":
            if code != HQ_CODE:
                raise invalid(field, f"总局节点代码必须为 000000 / the HQ node code must be 000000, got {code}")
            return
        if level == "station":
            if len(code) != 9:
                raise invalid(
                    field,
                    "基层所代码为所属县级区划代码加 3 位序号（如 440305001）"
                    f" / a station code is its county's code plus 3 digits (e.g. 440305001), got {code}",
                )
            county = code[:6]
            if code[6:] == "000":
                raise invalid(
                    field,
                    f"基层所序号须为 001–999 / the station suffix must be 001-999, got {code}",
                )
            d = self._by_code.get(county)
            if d is None:
                self.check_current(county, field)  # says retired or unknown
            if county not in self._station_parents:
                raise invalid(
                    field,
                    f"{county}（{self.name(county)}）不是县级行政区划，基层所须设在县级区划下"
                    f" / {county} is not a county-level division; a station sits under a county",
                )
            return
        if len(code) != 6:
            raise invalid(
                field,
                f"{LEVEL_NAMES_ZH[level]}节点代码须为 6 位行政区划代码 / a {level} code has 6 digits, got {code}",
            )
        if code == HQ_CODE:
            raise invalid(field, f"000000 仅用于总局 / 000000 is reserved for HQ, not a {level}")
        self.check_current(code, field)
        actual = self._by_code[code].level
        if actual != level:
            d = self._by_code[code]
            raise invalid(
                field,
                f"{code}（{d.name}）是{LEVEL_NAMES_ZH[actual]}区划，不是{LEVEL_NAMES_ZH[level]}"
                f" / {code} is a {actual}-level division, not a {level}",
            )


def read_divisions_csv(path: str | Path) -> list[Division]:
    """Parse ``code,name,type,level,parent_code``; an empty parent means a province."""
    out: list[Division] = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                Division(
                    code=row["code"].strip(),
                    name=row["name"].strip(),
                    type=row["type"].strip(),
                    level=row["level"].strip(),
                    parent_code=row["parent_code"].strip() or HQ_CODE,
                )
            )
    return out


def read_retired_csv(path: str | Path) -> list[RetiredDivision]:
    """Parse ``code,name,retired_on,successor``."""
    with open(path, encoding="utf-8", newline="") as f:
        return [
            RetiredDivision(
                code=row["code"].strip(),
                name=row["name"].strip(),
                retired_on=row["retired_on"].strip(),
                successor=row["successor"].strip(),
            )
            for row in csv.DictReader(f)
        ]


@functools.cache
def load_divisions() -> DivisionTable:
    """The shipped table, parsed once per process (it never changes while a node runs)."""
    return DivisionTable(
        read_divisions_csv(DEFAULT_DIVISIONS_CSV), read_retired_csv(DEFAULT_RETIRED_CSV)
    )
