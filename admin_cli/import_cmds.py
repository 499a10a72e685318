"""``n12315 import cases FILE``: bring a bureau's legacy cases in (issue 15 item 3, P5;
CONTRACT §12; docs/import.md).

Progress goes to stderr (``click.progressbar``), so ``--json`` leaves exactly one document
on stdout. Every rejected row goes to the report (CSV: line, field, message; UTF-8 with a
BOM so Excel shows the Chinese). Exit 0 when the file was read to the end, whatever was
rejected; a file that cannot be read is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

import node.imports as imports
from admin_cli.cli import Context, emit_json, pass_ctx
from node.errors import NodeError


@click.group("import")
def import_group() -> None:
    """批量导入 / bulk import of legacy data."""


@import_group.command("cases")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(imports.FORMATS)), default=None,
              help="文件格式（默认按扩展名）/ file format (default: from the file name)")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="被拒行报告（CSV：行号、字段、原因）/ where to write the rejected rows (CSV: line, field, message)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@pass_ctx
def cases(ctx: Context, file: Path, fmt: str | None, report: Path | None, as_json: bool) -> None:
    """导入历史案件（CSV / XLSX / JSON Lines）/ import historical cases from a legacy export.

    Columns are the JSON paths of the data standard (complainant.name, respondent.region_code, …)
    plus legacy_id (required; a re-run imports nothing twice) and optional status, outcome and
    concluded_at. Valid rows become cases of this node; rejected rows go to --report.
    """
    kind = imports.detect_format(file, fmt)
    rows = imports.read_rows(file, kind)           # the header is checked here: a bad file stops now
    if report is not None:
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.touch()
        except OSError as exc:
            raise NodeError(400, "unwritable_report", f"无法写入报告文件 {report}：{exc.strerror or exc}"
                                                      f" / cannot write the report file") from None
    node = ctx.node()
    total = imports.estimate_rows(file, kind)
    with click.progressbar(length=total or 0, label="导入 / importing", file=sys.stderr,
                           show_pos=True) as bar, node.activate():
        result = imports.import_rows(node, rows, source=file.name, progress=bar.update,
                                     workers=imports.workers_for(total))
    if report is not None:
        with report.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "field", "message"])
            writer.writerows(result.rejections)
    if as_json:
        emit_json(result.counts())
        return
    click.echo(f"导入 imported: {result.imported}  跳过（已导入）skipped: {result.skipped}  "
               f"拒绝 rejected: {result.rejected}")
    if result.rejected and report is None:
        click.echo("被拒行未写入文件：用 --report FILE 保存 / rejected rows not saved: use --report FILE", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(import_group)
