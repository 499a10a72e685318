"""The figures as people read them (R4.3, R8.2): Chinese names of the group-by values, the
headings and rows of a figures table, and XLSX workbooks (openpyxl) with Chinese headings —
``n12315 stats show --format xlsx`` (``figures_workbook``) and the desk's export of the
dashboard (``dashboard_workbook``: the same two sheets, then one sheet per chart).

Plain functions over the answers of ``query``, ``units`` and ``hotspots``; they read no table
themselves (``value_labels`` loads the reference data once: enumerations, divisions,
categories).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import node.cases as case_domain
from node.divisions import load_divisions
from node.runtime import Node
from node.stats.common import FIELD_NAMES_ZH, MEASURE_NAMES_ZH, OUTPUT_MEASURES

NO_REGION_ZH = "（无）"


def value_labels(node: Node) -> dict[str, Any]:
    """What ``value_label`` needs: the Chinese names of the enumerations, the division table
    and this node's category table (call inside ``node.activate()``)."""
    enum = {"kind": {k.value: k.zh for k in case_domain.KINDS},
            "channel": {c.value: c.zh for c in case_domain.CHANNELS},
            "urgency": {u.value: u.zh for u in case_domain.URGENCIES},
            "status": {k: v[0] for k, v in case_domain.STATUSES.items()}}
    return {"enum": enum, "divisions": load_divisions(), "categories": case_domain.categories(node)}


def value_label(labels: Mapping[str, Any], field: str, value: str) -> str:
    """The Chinese name of a group-by value (the code itself when there is none)."""
    if field in labels["enum"]:
        return labels["enum"][field].get(value, value)
    if field == "region":
        return (labels["divisions"].full_name(value) or value) if value else NO_REGION_ZH
    if field == "category":
        return labels["categories"].name(value) or value
    return value


def figure_headings(group_by: Sequence[str], measures: Sequence[str]) -> list[str]:
    """Chinese headings: code and name of each group-by field, then the measures."""
    out = []
    for g in group_by:
        out += [f"{FIELD_NAMES_ZH[g]}代码", FIELD_NAMES_ZH[g]]
    return out + [MEASURE_NAMES_ZH[m] for m in measures]


def figure_rows(doc: Mapping[str, Any], labels: Mapping[str, Any], measures: Sequence[str]) -> list[list[Any]]:
    """Data rows of a ``query`` answer and its totals row (合计); values as str/int/Decimal."""
    group_by = doc["group_by"]
    out = []
    for row in doc["rows"]:
        cells: list[Any] = []
        for g in group_by:
            cells += [row[g], value_label(labels, g, row[g])]
        cells += [Decimal(row[m]) if m.startswith("amount") else row[m] for m in measures]
        out.append(cells)
    total: list[Any] = ["合计", ""] if group_by else []
    total += [""] * (2 * len(group_by) - len(total))
    total += [Decimal(doc["totals"][m]) if m.startswith("amount") else doc["totals"][m] for m in measures]
    out.append(total)
    return out


def _bold(row: Any) -> None:
    from openpyxl.styles import Font
    for cell in row:
        cell.font = Font(bold=True)


def _figures_sheet(ws: Any, doc: Mapping[str, Any], labels: Mapping[str, Any], title: str) -> None:
    ws.append([f"{doc['scope_name']}（{doc['scope']}）{title}  {doc['from']} 至 {doc['to']}  截至 {doc['as_of']}"])
    ws.append(figure_headings(doc["group_by"], OUTPUT_MEASURES))
    _bold(ws[2])
    for r in figure_rows(doc, labels, OUTPUT_MEASURES):
        ws.append(r)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = "0.00"
    _bold(ws[ws.max_row])
    ws.freeze_panes = "A3"


def figures_workbook(doc: Mapping[str, Any], labels: Mapping[str, Any]) -> Any:
    """A ``query`` answer as a workbook: sheet 统计 (headings, rows, 合计) and 覆盖情况."""
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = "统计"
    _figures_sheet(ws, doc, labels, "统计")
    cov = wb.create_sheet("覆盖情况")
    c = doc["coverage"]
    cov.append(["应报节点数", "已报节点数", "超时未报节点", "超时阈值（小时）"])
    cov.append([c["nodes_expected"], c["nodes_reporting"], "、".join(c["stale"]), c.get("stale_after_hours")])
    return wb


# -- the dashboard's workbook --------------------------------------------------------------------
UNIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "名次"), ("code", "单位代码"), ("name", "单位名称"), ("cases_taken", "受理件数（按受理节点）"),
    ("cases_handled", "办理件数（按办理节点）"), ("acceptance_rate", "受理率"),
    ("on_time_acceptance_rate", "按期受理率"), ("on_time_conclusion_rate", "按期办结率"),
    ("mediation_success_rate", "调解成功率"), ("satisfaction_rate", "满意率"),
    ("amount_recovered", "挽回经济损失（元）"), ("overdue", "超期"), ("score", "综合得分"),
)
HOTSPOT_DIMENSIONS_ZH = {"category": "分类", "region": "地区", "firm": "企业"}


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key.startswith("amount"):
        return Decimal(value)
    return value


def _append_formatted(ws: Any, cells: Sequence[Any], keys: Sequence[str]) -> None:
    ws.append(list(cells))
    for cell, key in zip(ws[ws.max_row], keys, strict=False):
        if isinstance(cell.value, Decimal):
            cell.number_format = "0.00"
        elif key.endswith("rate") or key == "score":
            cell.number_format = "0.0%"


def _trend_sheet(wb: Any, view: Mapping[str, Any]) -> None:
    ws = wb.create_sheet("每日趋势")
    ws.append(["受理日期", "件数"])
    _bold(ws[1])
    trend = view["trend"]
    for day, n in zip(trend["days"], trend["cases"], strict=True):
        ws.append([day, n])
    ws.append(["合计", sum(trend["cases"])])
    _bold(ws[ws.max_row])
    ws.freeze_panes = "A2"


def _units_sheet(wb: Any, view: Mapping[str, Any]) -> None:
    ws = wb.create_sheet("单位绩效")
    doc = view["units"]
    ws.append([f"下级单位绩效排名  {doc['from']} 至 {doc['to']}"])
    ws.append([name for _, name in UNIT_COLUMNS])
    _bold(ws[2])
    keys = [k for k, _ in UNIT_COLUMNS]
    for u in doc["units"]:
        _append_formatted(ws, [_cell(k, u.get(k)) for k in keys], keys)
    own = doc["own"]
    _append_formatted(ws, ["本级", own["code"], own["name"], *[_cell(k, own.get(k)) for k in keys[3:]]], keys)
    ws.append([])
    ws.append([doc["ranking_rule"].split(" / ")[0]])
    ws.freeze_panes = "A3"


def _hotspots_sheet(wb: Any, view: Mapping[str, Any], labels: Mapping[str, Any]) -> None:
    ws = wb.create_sheet("热点")
    doc = view["hotspots"]
    ws.append([f"热点：本周 {doc['week']['from']} 至 {doc['week']['to']}，"
               f"上周 {doc['previous_week']['from']} 至 {doc['previous_week']['to']}"])
    ws.append(["维度", "代码", "名称", "本周件数", "上周件数", "环比倍数", "泊松上尾概率"])
    _bold(ws[2])
    for h in doc["hotspots"]:
        name = h["name"] or (value_label(labels, h["dimension"], h["value"]) if h["dimension"] != "firm" else "")
        ws.append([HOTSPOT_DIMENSIONS_ZH.get(h["dimension"], h["dimension"]), h["value"], name, h["this_week"],
                   h["last_week"], h["ratio"], h["p_value"]])
    if not doc["hotspots"]:
        ws.append(["本周无激增"])
    ws.append([])
    ws.append(["投诉最多的企业"])
    ws.append(["统一社会信用代码", "企业名称", "被投诉方地区", "本周件数", "投诉", "举报", "上周件数"])
    _bold(ws[ws.max_row])
    for f in doc["top_firms"]:
        region = value_label(labels, "region", f["region"]) if f["region"] else ""
        ws.append([f["uscc"], f["name"] or "", region, f["cases"], f["complaints"], f["reports"], f["last_week"]])
    ws.append([])
    ws.append([doc["rule"]["text"].split(" / ")[0]])


def dashboard_workbook(view: Mapping[str, Any], labels: Mapping[str, Any]) -> bytes:
    """The dashboard (``node.stats.dashboard``) as XLSX bytes: sheets 统计 and 覆盖情况 as
    ``n12315 stats show --format xlsx`` writes them, then 每日趋势, one sheet per chart field
    (按分类, 按类别, 按渠道, 按被投诉方地区), 单位绩效 and 热点 — all headings in Chinese."""
    figures = view["figures"]
    wb = figures_workbook(figures, labels)
    _trend_sheet(wb, view)
    for field, rows in view["by"].items():
        doc = {**figures, "group_by": [field], "rows": rows}
        _figures_sheet(wb.create_sheet(f"按{FIELD_NAMES_ZH[field]}"), doc, labels, f"按{FIELD_NAMES_ZH[field]}统计")
    _units_sheet(wb, view)
    _hotspots_sheet(wb, view, labels)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
