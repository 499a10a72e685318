"""Bulk import of legacy cases (issue 15 item 3, P5; CONTRACT §12; docs/import.md): each
format, the rejected rows with their exact line, field and message, the idempotent re-run and
the crash half-way, historical status and outcome kept, statistics counting them, no notice
and no replication document for closed ones, a GB18030 export, a bad file refused. SQLite and
PostgreSQL (``make_node``)."""
from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

import node.cases as cases
import node.imports as imports
from node.cases import Actor, Case, CaseEvent
from node.errors import NodeError
from node.imports import service
from node.notify import Notification
from tests.network.conftest import network_db_url, pair, seed  # noqa: F401 - fixtures
from tests.node.cases.examples import complaint

HANDLER = Actor("h1", "handler")
INTAKE = Actor("i1", "intake")
HEADER = ["legacy_id", "kind", "channel", "received_at", "complainant.name", "complainant.phone",
          "complainant.address", "respondent.name", "respondent.region_code", "category", "summary",
          "description", "amount", "amount_recovered", "status", "outcome", "concluded_at"]


def legacy_row(legacy_id: str, /, **over: str) -> dict[str, str]:
    row = {"legacy_id": legacy_id, "kind": "complaint", "channel": "phone",
           "received_at": "2026-08-03T10:00:00+08:00", "complainant.name": "张三",
           "complainant.phone": "13800000000", "complainant.address": "深圳市南山区科技园",
           "respondent.name": "深圳市某某电器有限公司", "respondent.region_code": "440305", "category": "G0303",
           "summary": "新买的冰箱不制冷，商家拒绝退货", "description": "使用三天后不制冷。", "amount": "1299.00",
           "amount_recovered": "", "status": "concluded", "outcome": "mediated",
           "concluded_at": "2026-08-20T16:00:00+08:00"}
    row.update(over)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8-sig",
              header: list[str] | None = None) -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header or HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def node(tmp_path, make_node):
    n = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    with n.activate():
        yield n


def case_of(node, legacy_id: str) -> dict:
    record = imports.ImportRecord.get(imports.ImportRecord.legacy_id == legacy_id)
    return cases.get_case(node, record.case_id, HANDLER)


# -- each format ---------------------------------------------------------------------------------
def test_a_csv_export_becomes_cases_that_keep_their_history(node, tmp_path):
    file = write_csv(tmp_path / "legacy.csv", [
        legacy_row("SZ-1"),
        legacy_row("SZ-2", status="declined", outcome="", concluded_at="2026-08-05T09:00:00+08:00"),
        legacy_row("SZ-3", kind="consultation", status="answered", outcome="", **{
            "respondent.region_code": "", "respondent.name": "", "complainant.phone": "", "amount": ""}),
        legacy_row("SZ-4", status="", outcome="", concluded_at="", summary="洗衣机漏水，商家拖延维修"),
    ])
    result = imports.import_file(node, file)
    assert result.counts() == {"imported": 4, "skipped": 0, "rejected": 0}

    done = case_of(node, "SZ-1")
    assert done["id"] == "440305-20260803-000001"          # numbered on its receipt day
    assert done["received_at"] == "2026-08-03T10:00:00+08:00"
    assert (done["status"], done["outcome"]["outcome"]) == ("concluded", "mediated")
    assert done["outcome"]["concluded_at"] == "2026-08-20T16:00:00+08:00"
    assert done["attention"] is None and done["overdue"] is False and done["held_as"] == "handler"
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in done["history"]] == [
        ("import", None, "concluded", "import")]
    assert "SZ-1" in done["history"][0]["note"]
    assert case_of(node, "SZ-2")["status"] == "declined"
    assert case_of(node, "SZ-2")["outcome"]["outcome"] == "declined"
    assert case_of(node, "SZ-3")["status"] == "answered"

    # an open case stays here, flagged for a person to check jurisdiction and route it
    open_case = case_of(node, "SZ-4")
    assert open_case["status"] == "registered" and open_case["handling_node"] == "440305"
    assert "route" in open_case["attention"] and open_case["deadlines"]["accept_by"]
    # long past its accept-by date on this node's clock (2026-09-30): overdue, as it is
    assert open_case["overdue"] is True

    # search finds imported cases like any other (CONTRACT §5 ``q``)
    found = cases.list_cases(node, {"q": "拖延维修"}, HANDLER)["items"]
    assert [c["id"] for c in found] == [open_case["id"]]


def test_personal_data_of_imported_cases_is_stored_as_intake_stores_it(node, tmp_path, clock):
    """Encrypted complainant, and the keyed phone hash that finds the same caller (issue 13
    item 1): an imported case is a duplicate hint like any other."""
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("P-1", received_at="2026-09-25T10:00:00+08:00",
                                                          concluded_at="2026-09-28T10:00:00+08:00",
                                                          **{"complainant.phone": "13912345678"})])
    assert imports.import_file(node, file).imported == 1
    hits = cases.similar_cases(node, phone="+86 139-1234-5678", now=clock(), actor=HANDLER)
    assert [h["id"] for h in hits] == [case_of(node, "P-1")["id"]] and hits[0]["matched"] == ["phone"]
    stored = node.db.execute_sql('SELECT complainant FROM "case"').fetchone()[0]
    assert "13912345678" not in str(stored) and "张三" not in str(stored)


def test_an_xlsx_export_with_typed_cells(node, tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    row = legacy_row("X-1")
    row.update({"received_at": datetime(2026, 8, 3, 10, 0), "complainant.phone": 13800000000,
                "respondent.region_code": 440305, "amount": 1299.5,
                "concluded_at": "2026-08-20T16:00:00+08:00"})
    sheet.append([row[h] or None for h in HEADER])
    sheet.append([None] * len(HEADER))        # an empty row is no row
    sheet.append([legacy_row("X-2", kind="letter")[h] or None for h in HEADER])
    book.save(tmp_path / "legacy.xlsx")

    result = imports.import_file(node, tmp_path / "legacy.xlsx")
    assert result.counts() == {"imported": 1, "skipped": 0, "rejected": 1}
    assert result.rejections[0][:2] == (4, "kind")   # the sheet's own row number (row 3 is empty)
    case = case_of(node, "X-1")
    # a spreadsheet time has no zone: a 12315 export is in Beijing time
    assert case["received_at"] == "2026-08-03T10:00:00+08:00"
    assert case["complainant"]["phone"] == "13800000000" and case["amount"] == "1299.50"
    assert case["respondent"]["region_code"] == "440305"


def test_a_json_lines_export(node, tmp_path):
    doc = complaint(received_at="2026-08-03T10:00:00+08:00")
    lines = [dict(doc, legacy_id="J-1", status="closed", outcome="settled"),
             dict(doc, legacy_id=2),                                    # a numbered export
             "not json",
             dict(doc, legacy_id="J-3", also_report=True)]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    (tmp_path / "legacy.jsonl").write_text(text + "\n\n", encoding="utf-8")
    result = imports.import_file(node, tmp_path / "legacy.jsonl")
    assert result.counts() == {"imported": 2, "skipped": 0, "rejected": 2}
    assert [r[:2] for r in result.rejections] == [(3, ""), (4, "also_report")]
    assert case_of(node, "J-1")["status"] == "closed"
    assert case_of(node, "2")["status"] == "registered"


def test_a_gb18030_csv_from_an_old_system(node, tmp_path):
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("GB-1", summary="购买的羽绒服充绒量不足")],
                     encoding="gb18030")
    assert "羽绒服".encode("gb18030") in file.read_bytes()        # not UTF-8: the old systems' export
    assert imports.import_file(node, file).imported == 1
    assert case_of(node, "GB-1")["summary"] == "购买的羽绒服充绒量不足"


# -- rejected rows -------------------------------------------------------------------------------
@pytest.mark.parametrize("over, field, message", [
    ({"complainant.phone": ""}, "complainant.phone",
     "投诉人联系电话（complainant.phone）为必填项 / complainant.phone is required for a complaint (Order 20 Art. 9)"),
    ({"respondent.region_code": "999999"}, "respondent.region_code", None),
    ({"amount": "12.345"}, "amount", None),
    ({"received_at": "2026-08-03 10:00"}, "received_at",
     "登记时间（received_at）须带时区偏移，如 +08:00 / received_at must carry a UTC offset such as +08:00 "
     "(a time without one is ambiguous)"),
    ({"status": "transferred"}, "status", None),
    ({"status": "answered", "outcome": ""}, "status",
     "状态（status）对投诉无效：answered，可选值：accepted、closed、concluded、declined、in_mediation、referred、"
     "registered / status must be one of accepted, closed, concluded, declined, in_mediation, referred, "
     "registered for a complaint"),
    ({"outcome": ""}, "outcome",
     "状态为 concluded 的投诉须填写办理结果（outcome），可选值：mediated、not_mediated、settled、withdrawn"
     " / outcome is required for a concluded complaint: one of mediated, not_mediated, settled, withdrawn"),
    ({"outcome": "filed"}, "outcome", None),
    ({"status": "accepted", "outcome": ""}, "concluded_at",
     "状态为 accepted 的案件尚未办结，不应填写办结时间（concluded_at） / concluded_at applies to finished "
     "cases, not to status accepted"),
    ({"concluded_at": "2026-08-01T10:00:00+08:00"}, "concluded_at",
     "办结时间（concluded_at）早于登记时间（received_at）/ concluded_at is before received_at"),
    ({"legacy_id": ""}, "legacy_id", "原系统编号（legacy_id）为必填项 / legacy_id is required"),
])
def test_a_rejected_row_is_reported_with_its_line_field_and_message(node, tmp_path, over, field, message):
    rows = [legacy_row("OK-1"), legacy_row("BAD", **over), legacy_row("OK-2")]
    result = imports.import_file(node, write_csv(tmp_path / "legacy.csv", rows))
    assert result.counts() == {"imported": 2, "skipped": 0, "rejected": 1}
    line, got_field, got_message = result.rejections[0]
    assert (line, got_field) == (3, field)        # the header is line 1
    if message is not None:
        assert got_message == message
    assert Case.select().count() == 2


def test_the_same_checks_as_intake(node, tmp_path):
    """What intake refuses, the import refuses with the same words (one validator)."""
    body = complaint(respondent={"name": "某公司", "region_code": "440305", "uscc": "91440300708461136X"})
    with pytest.raises(NodeError) as err:
        cases.create_case(node, body, INTAKE)
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("U-1", **{"respondent.uscc": "91440300708461136X"})],
                     header=[*HEADER, "respondent.uscc"])
    result = imports.import_file(node, file)
    assert result.rejections == [(2, err.value.field, err.value.message)]


def test_a_legacy_id_twice_in_one_file_is_imported_once(node, tmp_path):
    result = imports.import_file(node, write_csv(tmp_path / "legacy.csv", [legacy_row("D-1"), legacy_row("D-1")]))
    assert result.counts() == {"imported": 1, "skipped": 0, "rejected": 1}
    assert result.rejections[0][:2] == (3, "legacy_id") and "第 2 行" in result.rejections[0][2]


# -- idempotence and crashes -----------------------------------------------------------------------
def test_a_rerun_imports_nothing_twice(node, tmp_path):
    file = write_csv(tmp_path / "legacy.csv", [legacy_row(f"R-{i}") for i in range(7)] + [
        legacy_row("R-bad", **{"complainant.phone": "x"})])
    assert imports.import_file(node, file, batch_rows=3).counts() == {"imported": 7, "skipped": 0, "rejected": 1}
    assert imports.import_file(node, file, batch_rows=3).counts() == {"imported": 0, "skipped": 7, "rejected": 1}
    assert Case.select().count() == 7 and CaseEvent.select().count() == 7


class Killed(BaseException):
    """Stands for the process dying: nothing catches it on the way out."""


def test_a_failure_inside_a_batch_leaves_none_of_it_and_a_rerun_finishes(node, tmp_path, monkeypatch):
    file = write_csv(tmp_path / "legacy.csv", [legacy_row(f"K-{i}") for i in range(10)])
    real_insert, batches = service._insert, []

    def dies_in_the_third_batch(n, model, rows):
        real_insert(n, model, rows)
        if model is imports.ImportRecord:
            batches.append(len(rows))
            if len(batches) == 3:   # the cases of the batch are written, its transaction open
                raise Killed

    monkeypatch.setattr(service, "_insert", dies_in_the_third_batch)
    with pytest.raises(Killed):
        imports.import_file(node, file, batch_rows=3)
    monkeypatch.setattr(service, "_insert", real_insert)
    assert Case.select().count() == 6 and imports.ImportRecord.select().count() == 6

    again = imports.import_file(node, file, batch_rows=3)
    assert again.counts() == {"imported": 4, "skipped": 6, "rejected": 0}
    assert sorted(r.legacy_id for r in imports.ImportRecord.select()) == sorted(f"K-{i}" for i in range(10))
    assert Case.select().count() == 10 and CaseEvent.select().count() == 10


def test_a_killed_import_rerun_holds_every_row_exactly_once(node, tmp_path):
    """The brief's scenario with a real process: SIGKILL half-way, run again."""
    import signal
    import subprocess
    import sys
    import time
    n = 6000
    file = write_csv(tmp_path / "legacy.csv", [legacy_row(f"P-{i}", received_at=f"2026-08-{1 + i % 28:02d}T10:00:00+08:00",
                                                          concluded_at="2026-08-29T10:00:00+08:00") for i in range(n)])
    proc = subprocess.Popen([sys.executable, "-m", "admin_cli", "--home", str(node.config.home), "import", "cases",
                             str(file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while imports.ImportRecord.select().count() == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = imports.ImportRecord.select().count()
    assert 0 < done < n, "the kill came too late to test anything"
    assert Case.select().count() == done            # whole batches only
    again = imports.import_file(node, file)
    assert again.counts() == {"imported": n - done, "skipped": done, "rejected": 0}
    assert Case.select().count() == n and len({r.legacy_id for r in imports.ImportRecord.select()}) == n


# -- statistics, notices, routing ------------------------------------------------------------------
def test_imported_cases_count_in_statistics(tmp_path, make_node, clock):
    from tests.conftest import ApiClient
    n = make_node(tmp_path, "county", "440305")
    api = ApiClient(n, clock)
    file = write_csv(tmp_path / "legacy.csv", [
        legacy_row("S-1"), legacy_row("S-2", outcome="not_mediated"),
        legacy_row("S-3", kind="consultation", status="answered", outcome="",
                   **{"respondent.region_code": "", "respondent.name": "", "amount": ""}),
        legacy_row("S-4", received_at="2026-08-04T10:00:00+08:00", status="", outcome="", concluded_at="")])
    assert imports.import_file(n, file).imported == 4
    stats = api.get("/api/v1/stats?from=2026-08-01&to=2026-08-31&group_by=kind", role="analyst").json
    assert stats["totals"]["cases"] == 4
    assert stats["totals"]["concluded"] == 3 and stats["totals"]["mediated"] == 1
    assert {r["kind"]: r["cases"] for r in stats["rows"]} == {"complaint": 3, "consultation": 1}


def test_no_notice_to_a_complainant_of_an_imported_case(node, tmp_path):
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("N-1"), legacy_row("N-2", status="", outcome="",
                                                                            concluded_at="")])
    assert imports.import_file(node, file).imported == 2
    assert Notification.select().count() == 0
    cases.create_case(node, complaint(), INTAKE)        # intake of the same kind of case does tell
    assert [n.event for n in Notification.select()] == ["received"]


def test_closed_cases_at_a_station_send_no_document_to_the_county(pair, tmp_path):  # noqa: F811
    """At a station a new case goes up to its county (a supervisor's copy): intake queues a
    document; a closed historical case is not routed, so nothing is queued."""
    station = pair.nodes["440305001"]
    before = pair.backlog("440305001")
    file = write_csv(tmp_path / "legacy.csv", [legacy_row(f"C-{i}") for i in range(3)])
    assert imports.import_file(station, file).imported == 3
    assert pair.backlog("440305001") == before
    with station.activate():
        cases.create_case(station, complaint(), INTAKE)
    assert pair.backlog("440305001") > before


# -- the command -----------------------------------------------------------------------------------
def _cli(home: Path, *args: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(home), "import", "cases", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_command_prints_counts_and_writes_the_report(node, tmp_path):
    file = write_csv(tmp_path / "legacy.csv", [legacy_row("C-1"), legacy_row("C-2", **{"complainant.phone": ""})])
    report = tmp_path / "rejected.csv"
    proc = _cli(Path(node.config.home), str(file), "--report", str(report), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"imported": 1, "skipped": 0, "rejected": 1}
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["line", "field", "message"],
            ["3", "complainant.phone", "投诉人联系电话（complainant.phone）为必填项 / complainant.phone is required "
                                       "for a complaint (Order 20 Art. 9)"]]
    again = _cli(Path(node.config.home), str(file), "--json")
    assert json.loads(again.stdout) == {"imported": 0, "skipped": 1, "rejected": 1}


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    (b"PK\x03\x04 not really a zip", "XLSX"),
    ("summary,kind\n冰箱,complaint\n".encode(), "legacy_id"),
    (b"legacy_id,colour\nA,red\n", "unknown column: colour"),
    (b"legacy_id,kind\n\xff\xfe\xfd\x80\x81,complaint\n", "GB18030"),
])
def test_a_file_that_cannot_be_read_is_one_line_and_a_non_zero_exit(node, tmp_path, content, fragment):
    name = "legacy.xlsx" if content and content.startswith(b"PK") else "legacy.csv"
    file = tmp_path / name
    if content is not None:
        file.write_bytes(content)
    proc = _cli(Path(node.config.home), str(file), "--json")
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[0]
    assert proc.stdout == ""
    assert Case.select().count() == 0
