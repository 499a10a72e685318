"""The house rules, read from the imports themselves (issue "The house by domain", STYLE.md).

Every ``import`` and ``from … import`` in the source is read with ``ast`` — at module level
and inside functions alike, since a lazy import is a dependency too — and checked against the
layout written in ``docs/architecture.md``:

* ``admin_cli → node → replication → federation``, never the other way; nothing imports
  ``admin_cli``;
* inside ``node/``, the shared core never names a domain; only the composition modules
  (``app``, ``domains``, ``home``, ``migrations``) wire the domains together;
* a domain reaches another domain only through the names its ``__init__.py`` exports, and the
  domains depend on each other without a cycle;
* only the API and page modules (and the app factory and ``node/web/``) import Flask;
* no module of ``node/`` grows past the size a reader can hold (about 600 lines).
"""
from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("admin_cli", "node", "replication", "federation")
CORE = {"node.errors", "node.config", "node.divisions", "node.db", "node.runtime", "node.jobs"}
COMPOSITION = {"node.app", "node.domains", "node.home", "node.migrations"}
WEB = "node.web"
MAX_LINES = 650


@dataclass(frozen=True)
class Import:
    source: str        # importing module, dotted
    target: str        # imported module, dotted (for ``from X import y``: X, and X.y when that is a module)
    names: tuple[str, ...]
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _exports(module: str) -> set[str]:
    """The ``__all__`` of a package, read from its source (no import needed)."""
    init = ROOT.joinpath(*module.split("."), "__init__.py")
    if not init.exists():
        return set()
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def _source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _imports() -> list[Import]:
    out: list[Import] = []
    for path in _source_files():
        source = _module_name(path)
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out.append(Import(source, alias.name, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = source.split(".") if is_pkg else source.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                names = tuple(a.name for a in node.names)
                out.append(Import(source, module, names, node.lineno))
                for name in names:
                    # ``from node.cases import categories``: the exported function, not the
                    # submodule of the same name, when the package exports it
                    if _is_module(f"{module}.{name}") and name not in _exports(module):
                        out.append(Import(source, f"{module}.{name}", (), node.lineno))
    return out


IMPORTS = _imports()


def _top(dotted: str) -> str:
    return dotted.split(".")[0]


def _domain(dotted: str) -> str | None:
    """``node.cases.intake`` → ``cases``; core, composition and web modules have none."""
    parts = dotted.split(".")
    if parts[0] != "node" or len(parts) < 2 or dotted in CORE | COMPOSITION or parts[1] == "web":
        return None
    return parts[1] if (ROOT / "node" / parts[1] / "__init__.py").exists() else None


def _where(i: Import) -> str:
    return f"{i.source} (line {i.line}) imports {i.target}" + (f" ({', '.join(i.names)})" if i.names else "")


def test_layers_point_one_way():
    """admin_cli → node → replication → federation; nothing imports admin_cli."""
    rank = {"admin_cli": 3, "node": 2, "replication": 1, "federation": 0}
    bad = [_where(i) for i in IMPORTS
           if _top(i.target) in rank and _top(i.source) in rank and rank[_top(i.target)] > rank[_top(i.source)]]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_transport_and_identity_know_no_flask():
    bad = [_where(i) for i in IMPORTS if _top(i.source) in ("replication", "federation") and _top(i.target) == "flask"]
    assert not bad, "\n".join(bad)


def _may_import_flask(module: str) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return (module == "node.app" or module.startswith(WEB + ".") or module == WEB
            or (_domain(module) is not None and (leaf in ("api", "pages") or leaf.endswith("_api"))))


def test_only_api_and_page_modules_import_flask():
    bad = [_where(i) for i in IMPORTS
           if _top(i.target) in ("flask", "werkzeug") and _top(i.source) == "node" and not _may_import_flask(i.source)]
    assert not bad, "Flask outside the API and page modules:\n" + "\n".join(bad)


def test_the_core_names_no_domain():
    """errors, config, divisions, db, runtime, jobs: what every domain may use, and nothing more."""
    bad = [_where(i) for i in IMPORTS if i.source in CORE and (_domain(i.target) or i.target in COMPOSITION
                                                               or i.target.startswith(WEB))]
    assert not bad, "\n".join(bad)


def test_shared_web_layer_needs_only_accounts():
    """node/web/ (auth, errors, body, health, OpenAPI assembly) is used by every domain's API."""
    bad = [_where(i) for i in IMPORTS
           if i.source.startswith(WEB) and _domain(i.target) not in (None, "accounts")]
    bad += [_where(i) for i in IMPORTS if i.source.startswith(WEB) and i.target in COMPOSITION]
    assert not bad, "\n".join(bad)


def test_no_domain_imports_the_composition_modules():
    bad = [_where(i) for i in IMPORTS if _domain(i.source) and i.target in COMPOSITION]
    assert not bad, "\n".join(bad)


def test_domains_meet_only_through_their_public_names():
    """``from node.cases import get_case`` — never ``node.cases.service`` from another domain,
    never a name the package does not export in ``__all__``."""
    bad = []
    for i in IMPORTS:
        src, dst = _domain(i.source), _domain(i.target)
        if not src or not dst or src == dst:
            continue
        package = f"node.{dst}"
        if i.target != package:
            bad.append(_where(i) + f" — use the names of {package}/__init__.py")
            continue
        exported = set(getattr(importlib.import_module(package), "__all__", ()))
        hidden = [n for n in i.names if n not in exported]
        if hidden:
            bad.append(_where(i) + f" — {package} does not export {', '.join(hidden)}")
    assert not bad, "\n".join(bad)


def test_every_export_exists():
    missing = []
    for pkg in sorted({_domain(_module_name(p)) for p in _source_files()} - {None}):
        module = importlib.import_module(f"node.{pkg}")
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing.append(f"node.{pkg} has no __all__")
            continue
        missing += [f"node.{pkg}.{n}" for n in exported if not hasattr(module, n)]
    assert not missing, "\n".join(missing)


def test_domains_depend_on_each_other_without_a_cycle():
    edges: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        src, dst = _domain(i.source), _domain(i.target)
        if src and dst and src != dst:
            edges[src].add(dst)
    seen: dict[str, int] = {}
    path: list[str] = []

    def visit(d: str) -> None:
        seen[d] = 1
        path.append(d)
        for nxt in sorted(edges[d]):
            if seen.get(nxt) == 1:
                raise AssertionError("domain cycle: " + " → ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in seen:
                visit(nxt)
        path.pop()
        seen[d] = 2

    for d in sorted(edges):
        if d not in seen:
            visit(d)


@pytest.mark.parametrize("path", [p for p in _source_files() if p.parts[len(ROOT.parts)] == "node"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_outgrows_a_reader(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it along the jobs it does"


def test_the_checks_see_the_imports_they_judge():
    """Guard against a reader that finds nothing (a rule over no imports always passes)."""
    sources = {i.source for i in IMPORTS}
    assert {"node.domains", "node.app", "admin_cli.cli", "replication.inbox"} <= sources
    assert any(_domain(i.source) == "routing" and _domain(i.target) == "cases" for i in IMPORTS)
    assert any(i.target == "flask" for i in IMPORTS)
