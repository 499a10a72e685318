"""The case form (办理单) as a Word document, laid out as an official form (issue 11 item 5).

Serves R4.1 (a complete, standard record of every case, printable for the file) and R2.6
(the handling requirements on paper): a title by kind (投诉处理单 / 举报处理单 / 咨询记录单)
under the unit's name, a table of the registration fields, the complaint itself, the
statutory clocks, the handling trail and the custody trail, the outcome, and signature lines
for the handler, the reviewer and the head. A4, 宋体 for Chinese, built with python-docx from
the same sections the case page shows (``case_view.build``); nothing here imports Flask.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from node.web.catalogs import N_

TITLES = {"complaint": N_("Complaint handling form"), "report": N_("Report handling form"),
          "consultation": N_("Consultation record form")}
CHINESE_FONT = "SimSun"          # 宋体: the face official forms are printed in
LATIN_FONT = "Times New Roman"


def _font(run: Any, size: float | None = None, bold: bool = False) -> None:
    run.font.name = LATIN_FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), CHINESE_FONT)
    if size:
        run.font.size = Pt(size)
    run.bold = bold


def _para(doc: Any, text: str, *, size: float = 10.5, bold: bool = False, center: bool = False) -> Any:
    p = doc.add_paragraph()
    _font(p.add_run(text), size, bold)
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return p


def _cell(cell: Any, text: str, bold: bool = False) -> None:
    cell.text = ""
    _font(cell.paragraphs[0].add_run(text), 10, bold)


def _grid(doc: Any, rows: Sequence[Sequence[tuple[str, str]]]) -> None:
    """A label/value table, two pairs a row; a row with one pair spans the width."""
    table = doc.add_table(rows=0, cols=4)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for pairs in rows:
        cells = table.add_row().cells
        if len(pairs) == 1:
            _cell(cells[0], pairs[0][0], bold=True)
            merged = cells[1].merge(cells[3])
            _cell(merged, pairs[0][1])
            continue
        for i, (label, value) in enumerate(pairs[:2]):
            _cell(cells[2 * i], label, bold=True)
            _cell(cells[2 * i + 1], value)


def _list_table(doc: Any, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headings, strict=True):
        _cell(cell, text, bold=True)
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            _cell(cell, text)


def render(view: Mapping[str, Any], *, unit_name: str, printed_at: str, t: Callable[[str], str],
           loc: Callable[[str], str]) -> bytes:
    """The form for one case as ``.docx`` bytes. ``view``: ``case_view.build``; ``t``
    translates a msgid; ``loc`` picks the page language's half of a "中文 / English" text."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(25)
    section.top_margin = section.bottom_margin = Mm(20)

    _para(doc, unit_name, size=14, bold=True, center=True)
    _para(doc, t(TITLES.get(view["kind"], TITLES["complaint"])), size=18, bold=True, center=True)
    number_label, status_label = t(N_("Case number")), t(N_("Status"))
    _para(doc, f"{number_label}：{view['id']}    {status_label}：{t(view['status_label'])}", center=True)

    reg, comp, resp = view["registration"], view["complainant"], view["respondent"]
    kind = t(view["kind_label"]) + (f"（{t(view['report_target_label'])}）" if view["report_target_label"] else "")
    doc.add_heading(t(N_("Registration")), level=2)
    _grid(doc, [
        [(t(N_("Case number")), view["id"]), (t(N_("Kind")), kind)],
        [(t(N_("Intake channel")), t(reg["channel"])), (t(N_("Urgency")), t(view["urgency_label"]))],
        [(t(N_("Received")), reg["received_at"]), (t(N_("Registered by")), f"{reg['by']}（{reg['by_node']}）")],
        [(t(N_("Accepting unit")), f"{reg['accepting_name']}（{reg['accepting_node']}）"),
         (t(N_("Handling unit")), f"{reg['handling_name']}（{reg['handling_node']}）")],
        [(t(N_("Department")), reg["department"]), (t(N_("Deadline rules")), reg["rule_set"])],
    ])

    doc.add_heading(t(N_("Complaint form")), level=2)
    anonymous = comp.get("anonymous") and not comp.get("name")
    rows: list[list[tuple[str, str]]] = [
        [(t(N_("Complainant")), t(N_("Anonymous")) if anonymous else str(comp.get("name") or "")),
         (t(N_("Phone")), str(comp.get("phone") or ""))],
        [(t(N_("Complainant address")), str(comp.get("address") or ""))],
        [(t(N_("Respondent")), str(resp.get("name") or "")), (t(N_("USCC")), str(resp.get("uscc") or ""))],
        [(t(N_("Region")), f"{resp.get('region_name') or ''}（{resp.get('region_code') or ''}）"
          if resp.get("region_code") else ""), (t(N_("Respondent address")), str(resp.get("address") or ""))],
        [(t(N_("Category")), f"{view['category_name']}（{view['category']}）"),
         (t(N_("Amount in dispute")), view["amount"])],
        [(t(N_("Summary")), view["summary"])],
        [(t(N_("Description")), view["description"])],
    ]
    rows += [[(key, value)] for key, value in view["extensions"]]
    _grid(doc, rows)

    doc.add_heading(t(N_("Handling requirements")), level=2)
    clock_rows = []
    for c in view["clocks"]:
        if c["state"] == "running":
            left = t(N_("%(n)s working days left")) % {"n": c["left"]}
        elif c["state"] == "late":
            left = t(N_("%(n)s working days late")) % {"n": c["late"]}
        else:
            left = t(c["state_label"])
        clock_rows.append([t(c["label"]), c["due"], left, c["met_on"]])
    _list_table(doc, [t(N_("Deadline")), t(N_("Due date")), t(N_("Time left")), t(N_("Met on"))], clock_rows)

    doc.add_heading(t(N_("Handling trail")), level=2)
    _list_table(doc, [t(N_("Time")), t(N_("Unit")), t(N_("By")), t(N_("Action")), t(N_("Record"))],
                [[e["at"], e["node"], e["actor"], t(e["label"]), loc(e["note"])] for e in view["history"]])
    if view["custody"]:
        doc.add_heading(t(N_("Custody trail")), level=2)
        _list_table(doc, [t(N_("Unit")), t(N_("Sent from")), t(N_("Since")), t(N_("Until")), t(N_("Reason"))],
                    [[f"{h['name']}（{h['node']}）", h["from"], h["since"] or h["sent_at"], h["until"],
                      loc(h["reason"])] for h in view["custody"]])

    doc.add_heading(t(N_("Outcome")), level=2)
    outcome = view["outcome"]
    _grid(doc, [
        [(t(N_("Outcome")), t(view["outcome_label"]) if view["outcome_label"] else ""),
         (t(N_("Amount recovered")), view["amount_recovered"])],
        [(t(N_("Note")), loc(str(outcome.get("note") or outcome.get("answer") or outcome.get("tell") or "")))],
    ])

    doc.add_paragraph()
    date_label, printed_label = t(N_("Date")), t(N_("Printed"))
    for label in (N_("Handler (signature)"), N_("Reviewer (signature)"), N_("Head's opinion (signature)")):
        _para(doc, f"{t(label)}：____________________    {date_label}：________年____月____日", size=11)
    _para(doc, f"{printed_label}：{printed_at}", size=9)

    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
