"""The publicity as a spreadsheet and as a feed (issue 12 item 6; docs/publicity.md).

* ``csv_bytes`` — UTF-8 with a byte-order mark (Excel on Windows reads a file without one as
  GBK and shows Chinese as mojibake), Chinese headers, and every cell that a spreadsheet
  would read as a formula (``= + - @``, tab, carriage return first) led by an apostrophe
  (OWASP "CSV injection"): a business name typed as ``=HYPERLINK(…)`` stays text.
* ``atom_bytes`` — Atom 1.0 (RFC 4287) built with ``xml.etree`` (every text escaped), links
  absolute from the node's configured ``url`` — never the request's ``Host`` header, which a
  client chooses.
"""
from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from node.cases import SHANGHAI
from node.runtime import Node

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# (JSON field, CSV header)
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "编号"), ("complainant_type", "投诉人类型"), ("business_name", "被投诉人"),
    ("business_uscc", "统一社会信用代码"), ("goods_or_service", "商品或服务"), ("submitted_on", "投诉日期"),
    ("dispute_on", "争议发生日期"), ("problem", "投诉问题"), ("demand", "投诉诉求"), ("handled_on", "处理日期"),
    ("result", "处理结果"), ("published_at", "公示时间"),
)
COMPLAINANT_TYPE_ZH = {"individual": "个人", "organisation": "单位"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# XML 1.0 forbids these characters; intake refuses them, a copy from elsewhere might not have
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_bytes(items: list[Mapping[str, Any]], truncated: bool, cap: int) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([header for _, header in CSV_COLUMNS])
    for item in items:
        row = dict(item)
        row["complainant_type"] = COMPLAINANT_TYPE_ZH.get(row["complainant_type"], row["complainant_type"])
        out.writerow([csv_cell(row[key]) for key, _ in CSV_COLUMNS])
    if truncated:
        out.writerow([f"仅导出最新 {cap} 条，请缩小查询范围 / only the newest {cap} entries; narrow the search"])
    return buf.getvalue().encode("utf-8-sig")


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def base_url(node: Node) -> str:
    return node.config.url.rstrip("/")


def atom_bytes(node: Node, items: list[Mapping[str, Any]], query: Mapping[str, str]) -> bytes:
    base = base_url(node)
    ET.register_namespace("", ATOM_NS)
    qs = ("?" + urlencode(query)) if query else ""

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = _clean(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed", {f"{{{XML_NS}}}lang": "zh-CN"})
    sub(feed, "id", f"{base}/public/v1/disclosures.atom")
    sub(feed, "title", f"{node.config.name} 投诉信息公示")
    sub(feed, "updated", items[0]["published_at"] if items else
        node.now().astimezone(SHANGHAI).isoformat(timespec="seconds"))
    sub(feed, "link", rel="self", href=f"{base}/public/v1/disclosures.atom{qs}", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/public/disclosures{qs}", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", node.config.name)
    for d in items:
        entry = sub(feed, "entry")
        url = f"{base}/public/v1/disclosures/{d['case_id']}"
        sub(entry, "id", url)
        sub(entry, "title", f"{d['business_name'] or '（未具名）'}：{d['problem']}")
        sub(entry, "updated", d["published_at"])
        sub(entry, "published", d["published_at"])
        sub(entry, "category", term=d["result_code"], label=d["result"])
        sub(entry, "link", rel="alternate", href=url, type="application/json")
        lines = [f"{header}：{d[key] if key != 'complainant_type' else COMPLAINANT_TYPE_ZH.get(d[key], d[key])}"
                 for key, header in CSV_COLUMNS if d.get(key) not in (None, "")]
        sub(entry, "content", "\n".join(lines), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
