"""Jurisdiction as pure functions (``node/routing/rules.py``, ``tables.py``, ``paths.py``;
docs/routing.md): a case's facts and the tables in, a destination out — and tables that
refuse to load when they are wrong (loops in the station-area table, stations outside their county, ...)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from node.divisions import load_divisions
from node.routing import paths, rules
from node.routing import tables as jurisdiction
from node.routing.rules import CaseFacts
from node.routing.tables import TableError

DIV = load_divisions()
TABLES = jurisdiction.load_tables(DIV)


def decide(here: str, **facts) -> rules.Decision:
    facts.setdefault("kind", "complaint")
    return rules.decide(CaseFacts(**facts), here, DIV, TABLES)


# -- Order 20 Art. 12(1): the county where the respondent operates ----------------------------------
@pytest.mark.parametrize("here, region, target, basis", [
    ("440000", "440305", "440305", "operating_place"),      # the province's phone centre: down
    ("440300", "440305", "440305", "operating_place"),      # the prefecture: down
    ("440305", "330106", "330106", "operating_place"),      # across branches: via the common ancestor
    ("440305001", "330106", "330106", "operating_place"),   # a station taking a case for elsewhere
    ("440305", "440305", "440305", "here"),                 # the county itself
    ("440305001", "440305", "440305001", "here"),           # a station inside the county keeps it
    ("000000", "440305", "440305", "operating_place"),      # HQ intake goes down too
])
def test_the_county_of_the_respondent_handles_it(here, region, target, basis):
    d = decide(here, region=region, respondent_name="某公司")
    assert (d.target, d.basis) == (target, basis)
    assert d.competent == (region,) and d.attention is None and d.department == "consumer_protection"
    assert "第十二条" in d.note and "Order 20 Art. 12" in d.note


def test_a_county_routes_on_to_the_station_whose_area_covers_the_respondent():
    d = decide("440305", region="440305", respondent_address="深圳市南山区南头街道某路 1 号")
    assert (d.target, d.basis) == ("440305002", "station_area") and "南头" in d.note
    # the most specific (longest) area wins; aliases lead to an area
    assert decide("440305", region="440305", respondent_address="高新园某楼").target == "440305001"
    assert decide("440305", region="440305", respondent_name="蛇口海上世界某店").target == "440305003"
    # a station taking a case in another station's area hands it over; in its own, keeps it
    assert decide("440305001", region="440305", respondent_address="西丽街道").target == "440305004"
    assert decide("440305001", region="440305", respondent_address="粤海街道").target == "440305001"
    # no area matches: the county keeps it; the origin of a long transfer leaves stations to the county
    assert decide("440305", region="440305", respondent_address="某地").target == "440305"
    assert rules.decide(CaseFacts("complaint", region="440305", respondent_address="南头"), "440000", DIV,
                          TABLES).target == "440305"


# -- Art. 12(2): platforms; Art. 13: first to receive ------------------------------------------------
def test_a_platform_operator_by_its_domicile():
    d = decide("440305", region="440305", respondent_name="北京三快在线科技有限公司")
    assert (d.target, d.basis) == ("110105", "platform_domicile") and "第十二条第二款" in d.note


def test_a_platform_merchant_by_its_operating_place_or_the_platform_domicile():
    d = decide("440000", region="330106", respondent_name="某餐馆", text="通过美团下单")
    assert (d.target, d.basis, d.competent) == ("330106", "platform_merchant", ("330106", "110105"))
    # the platform's county received it first: it handles it (Art. 13)
    first = decide("110105", region="330106", respondent_name="某餐馆", text="通过美团下单")
    assert first.target == "110105" and first.basis == "first_received" and "第十三条" in first.note
    # the operating place returned it: the other competent unit
    d = rules.decide(CaseFacts("complaint", region="330106", text="美团"), "440000", DIV, TABLES,
                       exclude=["330106"])
    assert d.target == "110105"
    gone = rules.decide(CaseFacts("complaint", region="330106"), "440305", DIV, TABLES, exclude=["330106"])
    assert gone.target == "440305" and gone.basis == "all_returned" and "退回" in gone.attention


# -- bad input: regions ---------------------------------------------------------------------------
def test_a_retired_region_code_routes_by_its_successor():
    d = decide("440305", region="110103")
    assert d.target == "110101" and d.region == "110101"
    assert "110103" in d.note and "已于 2010 年撤销" in d.note and "successor 110101" in d.note


@pytest.mark.parametrize("region", ["999999", "", None])
def test_an_unknown_region_is_kept_and_flagged(region):
    d = decide("440305", region=region)
    assert d.target == "440305" and d.basis == "unknown_region" and "无法识别" in d.attention


def test_a_coarse_region_goes_to_that_level_for_a_person_to_choose_the_county():
    d = decide("330106", region="440300")
    assert d.target == "440300" and "地市级" in d.attention
    inside = decide("440305", region="440300")
    assert inside.target == "440305" and inside.basis == "coarse_region" and inside.attention


# -- R2.1-R2.3: departments; staff reports never go to the unit accused ----------------------------
@pytest.mark.parametrize("kind, target, category, department", [
    ("complaint", None, "G0101", "consumer_protection"),
    ("consultation", None, "G0101", "consumer_protection"),
    ("report", "business", "G0101", "food_safety"),
    ("report", "business", "S0304", "food_safety"),
    ("report", "business", "G0303", "product_quality"),
    ("report", "business", "G0801", "drugs"),
    ("report", "business", "S0303", "online_trade"),
    ("report", "business", "S99", "enforcement"),
    ("report", "staff", "S99", "discipline"),
])
def test_departments_by_kind_and_category(kind, target, category, department):
    assert rules.department_for(CaseFacts(kind, target, category=category), TABLES) == department


def test_a_staff_report_goes_to_discipline_of_the_level_above_the_unit_accused():
    d = decide("440305", kind="report", report_target="staff", region="440305", respondent_name="某执法人员")
    assert (d.target, d.department, d.accused) == ("440300", "discipline", "440305")
    assert "不得交被举报单位" in d.note
    # staff of a station: the county above it
    station = decide("440305", kind="report", report_target="staff", region="440305",
                     respondent_name="南头市场监管所某工作人员")
    assert (station.target, station.accused) == ("440305", "440305002")
    assert rules.is_accused_unit("440305001", "440305", DIV) and not rules.is_accused_unit("440300", "440305", DIV)


# -- the tree paths -----------------------------------------------------------------------------
def test_paths_and_the_fewest_update_destinations():
    assert paths.path_nodes("440305001", "330106", DIV) == [
        "440305", "440300", "440000", "000000", "330000", "330100", "330106"]
    assert paths.path_nodes("440000", "440305", DIV) == ["440300", "440305"]
    # from Xihu, one document to Nanshan passes every other holder on the route
    assert paths.cover("330106", ["440305", "440300", "440000", "000000", "330000", "330100"], DIV) == ["440305"]
    # two branches: two documents
    assert sorted(paths.cover("440300", ["440305", "440306", "440000"], DIV)) == ["440000", "440305", "440306"]
    assert paths.cover("440305", ["440305"], DIV) == []
    assert paths.on_path("000000", "440305", "330106", DIV)
    assert not paths.on_path("000000", "440305", "440306", DIV)


def test_who_supervises_as_the_clock_runs_out():
    sup = TABLES.supervision
    chain = [("440305", "county"), ("440300", "prefecture"), ("440000", "province"), ("000000", "hq")]
    # shipped: every case up to the prefecture; soon due or overdue, every level above
    assert rules.supervisors(chain, "running", sup) == ["440305", "440300"]
    assert rules.supervisors(chain[1:], "running", sup) == ["440300"]
    assert rules.supervisors(chain[1:], "due_soon", sup) == ["440300", "440000", "000000"]
    assert rules.supervisors(chain[1:], "overdue", sup) == ["440300", "440000", "000000"]
    # a network that keeps HQ for cases overdue a week (supervision.toml)
    narrow = jurisdiction.Supervision(due_soon_copies_up=1, overdue_copies_up=2, escalated_copies_up=5)
    assert rules.supervisors(chain[1:], "due_soon", narrow) == ["440300"]
    assert rules.supervisors(chain[1:], "overdue", narrow) == ["440300", "440000"]
    assert rules.supervisors(chain[1:], "escalated", narrow) == ["440300", "440000", "000000"]
    assert rules.supervisors(chain, "running", jurisdiction.Supervision(mirror_up_to="")) == []
    assert rules.supervision_stage(False, 2, None, sup) == "due_soon"
    assert rules.supervision_stage(False, 3, None, sup) == "running"
    assert rules.supervision_stage(True, None, 4, sup) == "overdue"
    assert rules.supervision_stage(True, None, 5, sup) == "escalated"


def test_the_directory_of_outside_bodies():
    telecom = rules.body("telecom", TABLES)
    assert telecom is not None and telecom.hotline == "12300" and "12300" in telecom.tell
    assert [b.code for b in rules.suggest_bodies("S0401", TABLES)] == ["telecom"]
    assert [b.code for b in rules.suggest_bodies("S0701", TABLES)] == ["culture_tourism"]
    assert rules.body("no-such", TABLES) is None


# -- bad tables: refused at load, naming the file and key ------------------------------------------
def _tables_from(tmp_path: Path, name: str, text: str) -> jurisdiction.Tables:
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return jurisdiction.load_tables(DIV, [jurisdiction.DEFAULT_DIR, tmp_path])


@pytest.mark.parametrize("text, key, says", [
    ("""
     [counties.440305]
     [[counties.440305.stations]]
     code = "440305001"
     areas = ["粤海"]
     forward_to = "440305002"
     [[counties.440305.stations]]
     code = "440305002"
     areas = ["南头"]
     forward_to = "440305001"
     """, "counties.440305.stations.440305001.forward_to", "440305001 → 440305002 → 440305001"),
    ("""
     [counties.440305]
     [[counties.440305.stations]]
     code = "440305001"
     areas = ["粤海"]
     [counties.440305.aliases]
     "甲" = "乙"
     "乙" = "丙"
     "丙" = "甲"
     """, "counties.440305.aliases.甲", "别名形成环路"),
    ("""
     [counties.440305]
     [[counties.440305.stations]]
     code = "440306001"
     areas = ["粤海"]
     """, "counties.440305.stations[0].code", "不是 440305 下的基层所"),
    ("""
     [counties.440305]
     [[counties.440305.stations]]
     code = "440305001"
     areas = ["粤海"]
     [[counties.440305.stations]]
     code = "440305002"
     areas = ["粤海"]
     """, "counties.440305.stations[1].areas", "同时属于"),
    ("""
     [counties.440305]
     [[counties.440305.stations]]
     code = "440305001"
     areas = ["粤海"]
     [counties.440305.aliases]
     "高新园" = "不存在"
     """, "counties.440305.aliases.高新园", "不属于任何基层所"),
    ("""
     [counties.440300]
     """, "counties.440300", "不是县级区划"),
    ("""
     [counties.440305]
     colour = "red"
     """, "counties.440305.colour", "未知配置项"),
])
def test_a_misconfigured_station_area_table_is_refused_at_load(tmp_path, text, key, says):
    with pytest.raises(TableError) as err:
        _tables_from(tmp_path, "stations.toml", text)
    assert err.value.key == key and says in err.value.message and "stations.toml" in err.value.source


@pytest.mark.parametrize("name, text, key", [
    ("platforms.toml", '[[platforms]]\nkey = "x"\nname = "x"\noperator = "x"\ndomicile = "110103"\n',
     "platforms[0].domicile"),
    ("departments.toml", '[departments.consumer_protection]\nname = "消保"\n', "departments.enforcement"),
    ("departments.toml", ('[departments.consumer_protection]\nname="a"\n[departments.enforcement]\nname="b"\n'
                          '[departments.discipline]\nname="c"\n[[rules]]\ncategories=["G"]\ndepartment="discipline"\n'),
     "rules[0].department"),
    ("bodies.toml", '[[bodies]]\ncode = "x"\nname = "x"\n', "bodies[0].tell"),
    ("supervision.toml", '[supervision]\nmirror_up_to = "township"\n', "supervision.mirror_up_to"),
    ("supervision.toml", '[supervision]\nsoon_due_working_days = -1\n', "supervision.soon_due_working_days"),
])
def test_other_bad_tables_are_refused_naming_the_key(tmp_path, name, text, key):
    with pytest.raises(TableError) as err:
        _tables_from(tmp_path, name, text)
    assert err.value.key == key


def test_a_node_home_overrides_a_table(tmp_path):
    t = _tables_from(tmp_path, "supervision.toml", "[supervision]\nmirror_up_to = \"province\"\n")
    assert t.supervision.mirror_up_to == "province" and t.supervision.reopen_within_days == 30
    assert t.stations == TABLES.stations          # the other files are the shipped ones
