"""Reading a legacy export (issue 15 item 3, P5; CONTRACT §12): CSV, XLSX or JSON Lines in,
one ``SourceRow`` per case out — the §5 document as a nested dict plus the import keys, or
the reason the row could not even be read.

CSV and XLSX columns are the dotted JSON paths of CONTRACT §5 (``complainant.name``,
``respondent.region_code``, ``extensions.<key>``) plus ``legacy_id`` (required) and the
optional ``status``, ``outcome``, ``concluded_at``. An empty cell is a field not given.
Nothing here judges a value: every check is the intake validator's (``service.py``), so a
value a reader cannot convert is passed on as text and refused there with intake's message.

Encodings: legacy exports from Chinese systems are often GB18030 (GBK's superset) without a
BOM, newer ones UTF-8 with a BOM (what Excel writes for "CSV UTF-8"); a CSV is read as UTF-8
(BOM or not) when it decodes as such, else as GB18030. A file that cannot be opened, decoded
or parsed as a table at all raises ``NodeError`` (``unreadable_file``): the caller exits
non-zero; a bad row is a rejected row and the file is read on.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from node.cases import SHANGHAI, SPECS_BY_NAME
from node.errors import NodeError

FORMATS = ("csv", "xlsx", "jsonl")
IMPORT_KEYS = ("legacy_id", "status", "outcome", "concluded_at")
# the leaves of the §5 document a column may name (objects are named through their leaves)
COLUMNS = frozenset(s.name for s in SPECS_BY_NAME.values() if s.type not in ("object", "extensions")) | set(IMPORT_KEYS)
EXTENSION_PREFIX = "extensions."
_TRUE = frozenset({"true", "1", "是", "yes", "y"})
_FALSE = frozenset({"false", "0", "否", "no", "n"})
_BOOLEAN_COLUMNS = frozenset(s.name for s in SPECS_BY_NAME.values() if s.type == "boolean")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of the file: ``doc`` (the §5 object with the import keys) or ``error``
    (``(field, message)``) when the row could not be read as a document."""
    line: int
    doc: dict[str, Any] | None = None
    error: tuple[str, str] | None = None


def unreadable(path: Path | str, why: str) -> NodeError:
    return NodeError(400, "unreadable_file", f"无法读取导入文件 {Path(path).name}：{why}", "file")


def detect_format(path: Path, given: str | None) -> str:
    """``--format`` when given, else from the file name (``.csv``, ``.xlsx``, ``.jsonl``/``.ndjson``)."""
    if given:
        if given not in FORMATS:
            raise NodeError(400, "invalid_enum", f"--format 须为 {'、'.join(FORMATS)} / --format must be one of "
                                                 f"{', '.join(FORMATS)}", "format")
        return given
    suffix = path.suffix.lower()
    by_suffix = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    if suffix not in by_suffix:
        raise NodeError(400, "unknown_format", f"无法从文件名 {path.name} 判断格式，请用 --format csv|xlsx|jsonl"
                                               f" / cannot tell the format of {path.name}: give --format")
    return by_suffix[suffix]


def read_rows(path: Path, fmt: str) -> Iterator[SourceRow]:
    """The rows of ``path`` in file order (the header checked first: a bad one is a file error)."""
    if not path.is_file():
        raise unreadable(path, "文件不存在或不是普通文件 / no such file")
    if fmt == "csv":
        return _csv_rows(path)
    if fmt == "xlsx":
        return _xlsx_rows(path)
    return _jsonl_rows(path)


# -- the header and the cells --------------------------------------------------------------------
def check_header(path: Path, header: list[Any]) -> list[str]:
    names = ["" if h is None else str(h).strip() for h in header]
    while names and names[-1] == "":
        names.pop()   # trailing empty columns: what spreadsheets leave behind
    if not names:
        raise unreadable(path, "没有表头行 / no header row")
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        if not name:
            raise unreadable(path, f"第 {i} 列没有列名 / column {i} has no name")
        if name in seen:
            raise unreadable(path, f"列名重复：{name} / column {name} appears twice")
        seen.add(name)
        if name not in COLUMNS and not (name.startswith(EXTENSION_PREFIX) and len(name) > len(EXTENSION_PREFIX)):
            raise unreadable(path, f"未知列 / unknown column: {name[:80]}（列名应为 CONTRACT §5 的字段路径，"
                                   "如 complainant.name）")
    if "legacy_id" not in seen:
        raise unreadable(path, "缺少 legacy_id 列（原系统编号，用于防止重复导入）/ the legacy_id column is required")
    return names


def nest(names: list[str], values: list[Any]) -> dict[str, Any]:
    """``{"complainant.name": "张三"}`` → ``{"complainant": {"name": "张三"}}``; empty cells
    are fields not given."""
    doc: dict[str, Any] = {}
    for name, value in zip(names, values, strict=False):
        if value is None or value == "":
            continue
        if name in _BOOLEAN_COLUMNS and isinstance(value, str):
            low = value.strip().lower()
            value = True if low in _TRUE else False if low in _FALSE else value
        parent, _, key = name.rpartition(".")
        if parent:
            doc.setdefault(parent, {})[key] = value
        else:
            doc[key] = value
    return doc


# -- CSV -------------------------------------------------------------------------------------
def decode(path: Path, raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8", "gb18030")
    for enc in encodings:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise unreadable(path, "编码无法识别，请另存为 UTF-8 或 GB18030 / neither UTF-8 nor GB18030")


def _csv_rows(path: Path) -> Iterator[SourceRow]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise unreadable(path, exc.strerror or str(exc)) from None
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise unreadable(path, "不是文本文件（含 NUL 字节；XLSX 请用 --format xlsx）/ not a text file")
    reader = csv.reader(io.StringIO(decode(path, raw), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise unreadable(path, f"CSV 格式错误 / malformed CSV: {exc}") from None
    names = check_header(path, header or [])
    return _csv_body(path, reader, names)


def _csv_body(path: Path, reader: Any, names: list[str]) -> Iterator[SourceRow]:
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # an unclosed quote swallows the rest of the file: that is the file, not a row
            raise unreadable(path, f"第 {start} 行起 CSV 格式错误 / malformed CSV from line {start}: {exc}") from None
        end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names):]):
            yield SourceRow(start, error=("", f"该行有 {len(cells)} 个值，多于表头的 {len(names)} 列"
                                              f" / {len(cells)} cells for {len(names)} columns"))
            continue
        yield SourceRow(start, doc=nest(names, cells))


# -- XLSX ------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    """A typed spreadsheet cell as the §5 document carries it: text, or a bool."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # money and codes typed as numbers: 1299.5 → "1299.5"; 440305.0 → "440305"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        # Excel keeps no time zone; a 12315 export is in Beijing time (docs/import.md)
        return (value if value.tzinfo else value.replace(tzinfo=SHANGHAI)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(path: Path) -> Iterator[SourceRow]:
    import openpyxl  # a dependency already (the statistics export); loaded only for XLSX
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise unreadable(path, f"不是有效的 XLSX 文件 / not a valid XLSX file ({type(exc).__name__})") from None
    except Exception as exc:  # openpyxl's InvalidFileException and friends
        raise unreadable(path, f"不是有效的 XLSX 文件 / not a valid XLSX file ({type(exc).__name__})") from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        book.close()
        raise unreadable(path, "工作簿没有工作表 / the workbook has no sheet")
    rows = sheet.iter_rows()
    header = next(rows, None)
    try:
        names = check_header(path, [c.value for c in header or ()])
    except NodeError:
        book.close()
        raise
    return _xlsx_body(book, rows, names)


def _xlsx_body(book: Any, rows: Iterator[tuple[Any, ...]], names: list[str]) -> Iterator[SourceRow]:
    try:
        for cells in rows:
            # the sheet's own row number (a read-only sheet leaves out rows with no cells)
            line = next((c.row for c in cells if getattr(c, "row", None)), None)
            if line is None:
                continue
            values = [_cell(c.value) for c in cells]
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            if len(values) > len(names) and any(v not in (None, "") for v in values[len(names):]):
                yield SourceRow(line, error=("", f"该行在表头以外的列有值 / cells beyond the {len(names)} named columns"))
                continue
            yield SourceRow(line, doc=nest(names, values))
    finally:
        book.close()


# -- JSON Lines ------------------------------------------------------------------------------
def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise unreadable(path, exc.strerror or str(exc)) from None
    return _jsonl_body(handle)


def _jsonl_body(handle: Any) -> Iterator[SourceRow]:
    with handle:
        for line, raw in enumerate(handle, start=1):
            if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield SourceRow(line, error=("", "该行不是 UTF-8 文本 / the line is not UTF-8"))
                continue
            except ValueError as exc:
                yield SourceRow(line, error=("", f"该行不是有效的 JSON / the line is not valid JSON: {exc}"))
                continue
            if not isinstance(doc, dict):
                yield SourceRow(line, error=("", "每行须为一个 JSON 对象 / each line must be a JSON object"))
                continue
            yield SourceRow(line, doc=doc)


def estimate_rows(path: Path, fmt: str) -> int | None:
    """About how many rows the file holds (the progress bar's length); ``None``: unknown."""
    try:
        if fmt == "xlsx":
            import openpyxl
            book = openpyxl.load_workbook(path, read_only=True)
            try:
                rows = book.worksheets[0].max_row if book.worksheets else None
            finally:
                book.close()
            return max(0, rows - 1) if rows else None
        count = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                count += block.count(b"\n")
        return max(0, count - (1 if fmt == "csv" else 0))
    except Exception:  # noqa: BLE001 - an estimate only; reading the file reports the real problem
        return None
