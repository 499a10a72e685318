"""Every page string is in the catalogues (issue 11 item 10): no msgid missing from a domain's
zh_CN catalogue, none left untranslated, every compiled ``.mo`` made from its ``.po``."""
from __future__ import annotations

from node.web import catalogs


def test_every_page_string_has_its_chinese_and_the_catalogues_are_compiled():
    assert catalogs.problems() == [], "run `make i18n` and fill the msgstr it lists"


def test_the_check_sees_the_strings_it_judges():
    shell = next(s for s in catalogs.sources() if s.name == "shell")
    ids = {m.id for m in catalogs.extract(shell) if m.id}
    assert {"Sign in", "My desk", "Overdue"} <= ids


def test_a_msgid_means_the_same_on_every_page():
    assert catalogs.disagreements() == []
