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


def test_a_bilingual_message_is_cut_where_the_english_begins(monkeypatch):
    from node.web import i18n
    message = "规则集已被取代（总局令第121号 / SAMR Order 121）/ the rule set is superseded"
    for english, expected in ((False, "规则集已被取代（总局令第121号 / SAMR Order 121）"),
                              (True, "the rule set is superseded")):
        monkeypatch.setattr(i18n, "is_english", lambda english=english: english)
        assert i18n.localize(message) == expected
        assert i18n.localize("受理（调解）/ accepted (mediation)") == ("accepted (mediation)" if english else "受理（调解）")
        assert i18n.localize("only one language") == "only one language"
