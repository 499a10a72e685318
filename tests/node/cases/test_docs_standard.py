"""docs/data-standard.md is rendered from the field definitions (R7.3: one national standard,
one source of truth). Regenerate it with the command in the file's header comment."""
from __future__ import annotations

from pathlib import Path

from node.cases.standard import DECLINE_GROUNDS, FIELD_SPECS, MEDIATION_END_GROUNDS
from node.cases.standard_doc import render_data_standard_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-standard.md"


def test_data_standard_doc_is_current() -> None:
    rendered = render_data_standard_markdown()
    assert DOC.read_text(encoding="utf-8") == rendered, (
        "docs/data-standard.md is stale: regenerate it with render_data_standard_markdown()"
    )


def test_doc_covers_every_definition() -> None:
    text = render_data_standard_markdown()
    for spec in FIELD_SPECS:
        assert f"`{spec.name}`" in text
    for code in (*DECLINE_GROUNDS, *MEDIATION_END_GROUNDS):
        assert f"`{code}`" in text
    for server_field in ("id", "status", "accepting_node", "handling_node", "rule_set",
                         "deadlines", "outcome", "history"):
        assert f"`{server_field}`" in text
    assert "440305-20260929-000001" in text
