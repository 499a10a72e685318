"""The goods / services category table of the data standard (R7.3; CONTRACT §5 ``category``).

Every case names a ``category`` code from the node's table; ``GET /api/v1/categories``
serves ``{"items": [{"code", "name", "name_en", "parent"}, ...]}``. Statistics group by it
(R4.3), so codes are stable short strings (``G`` 商品 → ``G01`` 食品 → ``G0101`` 预包装食品;
``S`` 服务 → ``S03`` 互联网服务 → ``S0301`` 网络购物) and never reused for another meaning.

The default table ships in ``node/data/categories.json`` (provenance in
``node/data/PROVENANCE.md``); a node may override it with its own file of the same format
(``load_categories(path)``). The table is read once and cached by the caller — it sits on the
intake hot path and does not change between requests.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CATEGORIES_JSON = Path(__file__).resolve().parents[1] / "data" / "categories.json"

# Upper-case letter(s) then digits/letters: "G", "G01", "G0101", "S08". Kept ASCII so codes
# are safe in URLs, CSV exports and statistics keys.
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")


class CategoryTableError(ValueError):
    """A category file that cannot be used; the message names the file and the item."""


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    name_en: str
    parent: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "parent": self.parent}


class CategoryTable:
    """Category codes with O(1) lookups, in the file's order."""

    def __init__(self, categories: list[Category], *, version: str | None = None,
                 source: str = "<memory>"):
        self.version = version
        self.source = source
        self._by_code: dict[str, Category] = {}
        for c in categories:
            if not _CODE_RE.match(c.code):
                raise CategoryTableError(f"{source}: bad category code {c.code!r}")
            if c.code in self._by_code:
                raise CategoryTableError(f"{source}: duplicate category code {c.code}")
            if not c.name.strip():
                raise CategoryTableError(f"{source}: category {c.code} has no name")
            if c.parent is not None and c.parent not in self._by_code:
                # Parents must come first: it also rules out cycles.
                raise CategoryTableError(
                    f"{source}: category {c.code}: parent {c.parent} is unknown or listed after it"
                )
            self._by_code[c.code] = c
        self._items: list[dict[str, str | None]] = [c.to_dict() for c in categories]

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    def is_known(self, code: str) -> bool:
        return code in self._by_code

    def name(self, code: str) -> str | None:
        c = self._by_code.get(code)
        return c.name if c is not None else None

    def items(self) -> list[dict[str, str | None]]:
        """The table as the API serves it (a fresh list of fresh dicts, safe to mutate)."""
        return [dict(i) for i in self._items]

    def children(self, code: str | None) -> list[Category]:
        """Direct children of ``code`` (``None`` → the top level)."""
        return [c for c in self._by_code.values() if c.parent == code]

    def top_level_of(self, code: str) -> str | None:
        """The root (``G`` or ``S`` in the default table) a code belongs to."""
        c = self._by_code.get(code)
        while c is not None and c.parent is not None:
            c = self._by_code[c.parent]
        return c.code if c is not None else None


def _parse(doc: Any, source: str) -> CategoryTable:
    if isinstance(doc, dict):
        raw_items = doc.get("items")
        version = doc.get("version")
    else:
        raw_items, version = doc, None  # a bare list of items is accepted too
    if not isinstance(raw_items, list):
        raise CategoryTableError(f"{source}: expected {{\"items\": [...]}}")
    cats: list[Category] = []
    for n, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise CategoryTableError(f"{source}: items[{n}] is not an object")
        unknown = set(item) - {"code", "name", "name_en", "parent"}
        if unknown:
            raise CategoryTableError(f"{source}: items[{n}]: unknown key {min(unknown)!r}")
        code, name = item.get("code"), item.get("name")
        name_en, parent = item.get("name_en", ""), item.get("parent")
        if not isinstance(code, str) or not isinstance(name, str) or not isinstance(name_en, str):
            raise CategoryTableError(f"{source}: items[{n}]: code, name, name_en must be strings")
        if parent is not None and not isinstance(parent, str):
            raise CategoryTableError(f"{source}: items[{n}]: parent must be a string or null")
        cats.append(Category(code=code, name=name, name_en=name_en, parent=parent))
    return CategoryTable(cats, version=version if isinstance(version, str) else None, source=source)


@functools.cache
def _load_default() -> CategoryTable:
    return _load_file(DEFAULT_CATEGORIES_JSON)


def _load_file(path: Path) -> CategoryTable:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CategoryTableError(f"{path}: cannot read category table: {e}") from e
    return _parse(doc, str(path))


def load_categories(path: str | Path | None = None) -> CategoryTable:
    """The node's category table: the shipped default, or the file at ``path`` (a node's own
    table in its home). The default is parsed once per process; a node caches its own."""
    if path is None:
        return _load_default()
    return _load_file(Path(path))
