"""The page catalogues, one per domain (issue 11: every text from the catalogues).

Each domain keeps the Chinese of its own page strings beside its code
(``node/<domain>/translations/zh_Hans_CN/LC_MESSAGES/messages.po``; the shell's — layout, sign-in,
home — in ``node/translations/``); Flask-Babel merges them all. Msgids are English, so ``en``
needs no catalogue; ``zh_CN`` is the default locale and must translate every msgid.

``python -m node.web.catalogs`` (``make i18n``) extracts the msgids of every catalogue from its
Python files (``_``, ``gettext``, ``N_``) and templates, merges them into its ``.po`` (new
entries empty, for a person to fill) and compiles the ``.mo``. ``problems()`` is what the test
checks: no msgid missing, none untranslated or fuzzy, every ``.mo`` compiled from its ``.po``.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

NODE = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "lazy_gettext": None}
LOCALE = "zh_Hans_CN"   # what Babel makes of "zh_CN" (Simplified Chinese, China)


def N_(message: str) -> str:
    """Mark a msgid for extraction where it is translated later (menus, labels held in Python
    tables). Flask-free, so a domain's plain modules can mark their labels too."""
    return message


@dataclass(frozen=True)
class Source:
    name: str
    directory: Path               # holds zh_CN/LC_MESSAGES/messages.po
    python: tuple[Path, ...]      # folders whose *.py are read (not recursively)
    templates: tuple[Path, ...]   # folders whose *.html are read (recursively)

    @property
    def po(self) -> Path:
        return self.directory / LOCALE / "LC_MESSAGES" / "messages.po"

    @property
    def mo(self) -> Path:
        return self.po.with_suffix(".mo")


def sources() -> list[Source]:
    out = [Source("shell", NODE / "translations", (NODE / "web", NODE / "desk"), (NODE / "templates" / "desk",))]
    for pkg in sorted(p.parent.name for p in NODE.glob("*/__init__.py")):
        if pkg in ("web", "desk"):
            continue
        pages = [NODE / "templates" / pkg]
        if (NODE / pkg / "pages.py").exists() or any(p.exists() for p in pages):
            out.append(Source(pkg, NODE / pkg / "translations", (NODE / pkg,), tuple(pages)))
    return out


def translation_directories() -> str:
    """For ``BABEL_TRANSLATION_DIRECTORIES`` (semicolon-separated)."""
    return ";".join(str(s.directory) for s in sources())


def _files(src: Source) -> list[tuple[str, Path]]:
    files = [("python", p) for d in src.python for p in sorted(d.glob("*.py"))]
    files += [("jinja2", p) for d in src.templates if d.exists() for p in sorted(d.rglob("*.html"))]
    return files


def extract(src: Source) -> Catalog:
    catalog = Catalog(locale=LOCALE, project="n12315")
    for method, path in _files(src):
        options = {"extensions": "jinja2.ext.do"} if method == "jinja2" else {}
        for lineno, message, comments, context in extract_from_file(method, str(path), keywords=KEYWORDS,
                                                                      options=options):
            catalog.add(message, None, [(str(path.relative_to(NODE.parent)), lineno)], auto_comments=comments,
                        context=context)
    return catalog


def _read(path: Path) -> Catalog:
    if not path.exists():
        return Catalog(locale=LOCALE, project="n12315")
    with path.open("rb") as fh:
        return read_po(fh, locale=LOCALE)


def _mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def update() -> list[str]:
    """Merge extracted msgids into each ``.po`` and compile; return what still needs a person."""
    for src in sources():
        template = extract(src)
        if not len(template) and not src.po.exists():
            continue
        catalog = _read(src.po)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        src.po.parent.mkdir(parents=True, exist_ok=True)
        with src.po.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, sort_output=True)
        src.mo.write_bytes(_mo_bytes(catalog))
    return problems()


def problems() -> list[str]:
    out = []
    for src in sources():
        wanted = {m.id for m in extract(src) if m.id}
        if not wanted and not src.po.exists():
            continue
        catalog = _read(src.po)
        have = {m.id: m for m in catalog if m.id}
        out += [f"{src.po.relative_to(NODE.parent)}: missing msgid {mid!r}" for mid in sorted(wanted - set(have))]
        for mid, msg in sorted(have.items()):
            if mid in wanted and (not msg.string or msg.fuzzy):
                out.append(f"{src.po.relative_to(NODE.parent)}: untranslated {mid!r}")
        if not src.mo.exists() or src.mo.read_bytes() != _mo_bytes(catalog):
            out.append(f"{src.mo.relative_to(NODE.parent)}: not compiled from its .po (run make i18n)")
    return out


def disagreements() -> list[str]:
    """Msgids translated differently in two catalogues. Flask-Babel merges every catalogue into
    one, so only one Chinese would win, on every page: a msgid must mean one thing across the
    desk (give a different meaning its own msgid: "Directive category", not "Category")."""
    seen: dict[str, tuple[str, str]] = {}
    out = []
    for src in sources():
        if not src.po.exists():
            continue
        for msg in _read(src.po):
            if not msg.id or not msg.string:
                continue
            first = seen.setdefault(msg.id, (src.name, msg.string))
            if first[1] != msg.string:
                out.append(f"{msg.id!r}: {first[0]} says {first[1]!r}, {src.name} says {msg.string!r}")
    return out


def main() -> int:
    left = update() + disagreements()
    for line in left:
        print(line, file=sys.stderr)
    print(f"{len(sources())} catalogues; {len(left)} entries need a translation", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
