"""The data dashboard of the desk (数据看板, issue 11 item 8; CONTRACT §7, §9): roles, the
figures against ``node.stats.query`` (the API's function), the JSON the charts are drawn from,
bad parameters shown beside their field, the XLSX export, coverage with a stale child — all
through the pages, as a browser would. Runs on SQLite and on PostgreSQL (``make_node``).
"""
from __future__ import annotations

import io
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest

from node.stats import GROUP_FIELDS, query
from node.stats.rollup import rollup
from tests.node.desk.conftest import Desk
from tests.node.stats.test_stats import USCCS, act, case_body, create

RANGE = "from=2026-09-01&to=2026-09-30"
FIRM = "深圳市<script>alert(1)</script>电器有限公司"


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    clock.set(datetime(2026, 9, 30, 4, 0, tzinfo=UTC))
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


@pytest.fixture
def seeded(desk) -> Desk:
    """Cases of every kind over September, some handled, and a surge in S0601 this week."""
    node = desk.node
    made = [create(node, case_body(day="2026-09-02", channel="phone", category="G0303", amount="1299.00")),
            create(node, case_body(day="2026-09-02", channel="visit", category="G0101", region="330106")),
            create(node, case_body("report", day="2026-09-15", channel="letter", category="S0101")),
            create(node, case_body("consultation", day="2026-09-21", channel="phone")),
            create(node, case_body(day="2026-08-31", category="G0303"))]          # outside the range
    act(node, made[0]["id"], action="accept")
    act(node, made[0]["id"], action="conclude", outcome="mediated", amount_recovered="300.50")
    create(node, case_body(day="2026-09-20", category="S0601", uscc=USCCS[1], firm=FIRM))
    for i in range(12):
        create(node, case_body(day=f"2026-09-{24 + i % 7:02d}", category="S0601", uscc=USCCS[1], firm=FIRM,
                               channel="web" if i % 3 else "phone"))
    with node.activate():
        rollup(node)
    return desk


def _figures(desk: Desk, **params) -> dict:
    with desk.node.activate():
        return query(desk.node, {"from": "2026-09-01", "to": "2026-09-30", **params})


def _signed_in(desk: Desk, role: str = "analyst") -> Desk:
    desk.user(f"{role}1", role)
    assert desk.sign_in(f"{role}1").status_code == 302
    return desk


def _table(page: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, f"no table #{table_id}"
    return found.group(1)


def _cells(html: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)]


def _totals(page: str, table_id: str) -> dict[str, str]:
    table = _table(page, table_id)
    return {m: unescape(v) for m, v in re.findall(r'data-total="(\w+)">([^<]*)<', table)}


def _money(value: str) -> str:
    return f"¥{Decimal(value):,.2f}"


# -- roles ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/desk/stats", "/desk/stats/data", "/desk/stats/export.xlsx"])
def test_only_analysts_leaders_and_admins_reach_the_dashboards(desk, path):
    assert desk.get(path).status_code == 302                      # no session: the sign-in form
    for role in ("intake", "handler", "supervisor", "discipline"):
        desk.user(f"{role}1", role)
        desk.sign_in(f"{role}1")
        resp = desk.get(path)
        assert resp.status_code == 403, (role, path)
        assert "件数" not in desk.text(resp) and "Content-Disposition" not in resp.headers
    for role in ("analyst", "leader", "admin"):
        desk.user(f"{role}1", role)
        desk.sign_in(f"{role}1")
        assert desk.get(path).status_code == 200, (role, path)


# -- the page -----------------------------------------------------------------------------------
def test_the_page_shows_the_figures_of_the_query(seeded):
    desk = _signed_in(seeded)
    resp = desk.get(f"/desk/stats?{RANGE}&group_by=kind&group_by=region")
    assert resp.status_code == 200
    page = desk.text(resp)
    doc = _figures(desk, group_by="kind,region")
    totals = doc["totals"]
    assert totals["cases"] == 17
    assert re.search(r'id="total-cases">(\d+)<', page).group(1) == str(totals["cases"])
    assert unescape(re.search(r'id="total-amount_recovered">([^<]+)<', page).group(1)) == _money("300.50")
    # every chart's table ends with the query's totals
    for table_id in ("table-trend", "table-category", "table-kind", "table-channel", "table-region",
                     "table-grouped"):
        assert _totals(page, table_id)["cases"] == str(totals["cases"]), table_id
    for table_id in ("table-category", "table-kind", "table-channel", "table-region"):
        shown = _totals(page, table_id)
        assert shown["amount"] == _money(totals["amount"]) and shown["overdue"] == str(totals["overdue"])
    grouped = _totals(page, "table-grouped")
    assert grouped["concluded"] == str(totals["concluded"]) and grouped["amount_recovered"] == _money("300.50")
    # the rows themselves: cases per kind, per channel as the query groups them
    for field in ("kind", "channel"):
        rows = _figures(desk, group_by=field)["rows"]
        body = re.search(r"<tbody>(.*?)</tbody>", _table(page, f"table-{field}"), re.S).group(1)
        shown = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
        assert [int(cells[2]) for cells in shown] == [r["cases"] for r in rows], field
    assert "投诉" in _table(page, "table-kind") and "12315 电话" in _table(page, "table-channel")
    assert "浙江省杭州市西湖区" in _table(page, "table-region")
    # the grouped table has one row per (kind, region) of the query
    body = re.search(r"<tbody>(.*?)</tbody>", _table(page, "table-grouped"), re.S).group(1)
    assert len(re.findall(r"<tr>", body)) == len(doc["rows"])
    # the trend: one row per day of the range, summing to the total
    trend = re.search(r"<tbody>(.*?)</tbody>", _table(page, "table-trend"), re.S).group(1)
    days = re.findall(r'<th scope="row">(2026-09-\d\d)</th><td class="num">(\d+)</td>', trend)
    assert len(days) == 30 and sum(int(n) for _, n in days) == totals["cases"]
    assert dict(days)["2026-09-02"] == "2"
    # the form keeps what was asked; the export link carries the same parameters
    assert re.search(r'id="f-group_by-kind"\s+checked', page) and re.search(r'id="f-group_by-region"\s+checked', page)
    assert not re.search(r'id="f-group_by-channel"\s+checked', page)
    assert 'href="/desk/stats/export.xlsx?from=2026-09-01&amp;to=2026-09-30&amp;group_by=kind%2Cregion' in page
    # labels on every input
    for input_id in re.findall(r'<(?:input|select)[^>]*id="([^"]+)"', page):
        assert f'for="{input_id}"' in page, input_id


def test_the_page_loads_echarts_and_its_script_and_nothing_inline(seeded):
    desk = _signed_in(seeded, "leader")
    resp = desk.get(f"/desk/stats?{RANGE}")
    page = desk.text(resp)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert any("vendor/echarts-6.1.0/echarts.min.js" in attrs for attrs, _ in scripts)
    assert any("stats/dashboard.js" in attrs for attrs, _ in scripts)
    assert " style=" not in page and "<style" not in page and " on" + "click=" not in page
    assert 'data-source="/desk/stats/data?from=2026-09-01&amp;to=2026-09-30' in page
    # a chart box per chart, each followed by its table
    for key in ("trend", "category", "kind", "channel", "region", "hotspots", "firms"):
        assert re.search(rf'data-chart="{key}" hidden aria-hidden="true"></div>\s*<details class="figures" open>',
                         page), key
    for path in ("/static/stats/dashboard.js", "/static/stats/dashboard.css",
                 "/static/vendor/echarts-6.1.0/echarts.min.js"):
        assert desk.get(path).status_code == 200, path


def test_the_data_endpoint_returns_the_series(seeded):
    desk = _signed_in(seeded)
    resp = desk.get(f"/desk/stats/data?{RANGE}&group_by=channel&basis=accepted")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    doc = _figures(desk, group_by="channel")
    assert data["totals"] == doc["totals"] and data["coverage"] == doc["coverage"]
    assert data["grouped"] == doc["rows"]
    assert len(data["trend"]["days"]) == 30 and sum(data["trend"]["cases"]) == doc["totals"]["cases"]
    for field in ("category", "kind", "channel", "region"):
        series = data["series"][field]
        rows = _figures(desk, group_by=field)["rows"]
        assert [(s["code"], s["cases"]) for s in series] == [(r[field], r["cases"]) for r in rows], field
    assert {s["code"]: s["name"] for s in data["series"]["kind"]}["complaint"] == "投诉"
    surge = next(s for s in data["hotspots"]["surges"] if s["dimension"] == "category")
    assert (surge["value"], surge["this_week"], surge["last_week"]) == ("S0601", 12, 1)
    assert data["hotspots"]["top_firms"][0] == {"uscc": USCCS[1], "name": FIRM, "cases": 12}
    assert data["labels"]["cases"] == "件数" and data["labels"]["trend"] == "每日趋势"
    assert data["units"] == []
    english = desk.get(f"/desk/stats/data?{RANGE}&lang=en").get_json()
    assert english["labels"]["cases"] == "Number of cases" and english["totals"] == data["totals"]
    handled = desk.get(f"/desk/stats/data?{RANGE}&basis=handled").get_json()
    want = _figures(desk, basis="handled")
    assert handled["totals"] == want["totals"] and sum(handled["trend"]["cases"]) == want["totals"]["cases"]


def test_the_trend_follows_the_basis_asked(seeded):
    from node.stats import trend
    node = seeded.node
    with node.activate():
        for basis in ("accepted", "handled"):
            got = trend(node, {"from": "2026-08-25", "to": "2026-09-30", "basis": basis})
            want = query(node, {"from": "2026-08-25", "to": "2026-09-30", "basis": basis})["totals"]["cases"]
            assert sum(got["cases"]) == want == 18, basis
            assert got["cases"][got["days"].index("2026-08-31")] == 1


def test_the_trend_on_the_handled_basis_counts_where_cases_are_handled(tmp_path, make_node, clock):
    """A case taken in at the county and handled at its station counts in the station's
    handled trend only (as ``query`` counts it)."""
    from node.stats import trend
    from tests.node.stats.test_stats import insert_copy
    station = make_node(tmp_path, "station", "440305001")
    county = make_node(tmp_path, "county", "440305")
    insert_copy(station, create(county, case_body(day="2026-09-20")), handling_node="440305001")
    create(station, case_body(day="2026-09-22"))
    with station.activate():
        rollup(station)
        accepted = trend(station, {"from": "2026-09-01", "to": "2026-09-30"})
        handled = trend(station, {"from": "2026-09-01", "to": "2026-09-30", "basis": "handled"})
        want = query(station, {"from": "2026-09-01", "to": "2026-09-30", "basis": "handled"})["totals"]["cases"]
    day = accepted["days"].index
    assert (accepted["cases"][day("2026-09-20")], accepted["cases"][day("2026-09-22")]) == (0, 1)
    assert (handled["cases"][day("2026-09-20")], handled["cases"][day("2026-09-22")]) == (1, 1)
    assert sum(handled["cases"]) == want == 2 and handled["basis"] == "handled"


BAD = [
    ("from=2026-09-30&to=2026-09-01", "from", "晚于"),
    ("group_by=kind,colour", "group_by", "未知的分组字段"),
    ("group_by=kind&group_by=colour", "group_by", "colour"),
    ("from=2026/09/01", "from", "YYYY-MM-DD"),
    ("to=2026-02-30", "to", "不是有效日期"),
    ("basis=everything", "basis", "basis"),
    ("from=2023-01-01&to=2026-09-30", "to", "1100"),
]


@pytest.mark.parametrize("qs,field,message", BAD)
def test_bad_parameters_are_shown_beside_their_field(desk, qs, field, message):
    _signed_in(desk)
    resp = desk.get(f"/desk/stats?{qs}")
    assert resp.status_code == 422
    page = desk.text(resp)
    shown = re.search(rf'<p class="error" id="e-{field}" role="alert">([^<]+)</p>', page)
    assert shown and message in unescape(shown.group(1)), page
    assert page.count('role="alert"') == 1
    # the form again, with what was typed; no figures
    assert 'id="stats-form"' in page and 'id="stats-dashboard"' not in page
    if field in ("from", "to"):
        typed = dict(p.split("=") for p in qs.split("&"))[field]
        assert re.search(rf'id="f-{field}"[^>]*value="{re.escape(typed)}"', page)
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true" aria-describedby="e-{field}"', page)
    resp = desk.get(f"/desk/stats/data?{qs}")
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == field
    resp = desk.get(f"/desk/stats/export.xlsx?{qs}")
    assert resp.status_code == 422 and f'id="e-{field}"' in desk.text(resp)


def test_the_message_follows_the_page_language(desk):
    _signed_in(desk)
    page = desk.text(desk.get("/desk/stats?from=2026-09-30&to=2026-09-01&lang=en"))
    assert '<html lang="en">' in page and "from is after to" in page and "晚于" not in page


def test_the_xlsx_export_has_chinese_headings_and_the_same_totals(seeded):
    from openpyxl import load_workbook
    desk = _signed_in(seeded, "admin")
    resp = desk.get(f"/desk/stats/export.xlsx?{RANGE}&group_by=kind,channel&lang=en")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="stats-440305-2026-09-01-2026-09-30.xlsx"'
    wb = load_workbook(io.BytesIO(resp.get_data()))
    assert wb.sheetnames == ["统计", "覆盖情况", "每日趋势", "按分类", "按类别", "按渠道", "按被投诉方地区", "单位绩效", "热点"]
    doc = _figures(desk, group_by="kind,channel")
    values = [[c.value for c in row] for row in wb["统计"].iter_rows()]
    assert values[1][:5] == ["类别代码", "类别", "渠道代码", "渠道", "件数"] and "挽回经济损失（元）" in values[1]
    assert values[-1][0] == "合计" and values[-1][4] == doc["totals"]["cases"]
    assert Decimal(values[-1][-1]) == Decimal(doc["totals"]["amount_recovered"])
    assert Counter({(r[0], r[2]): r[4] for r in values[2:-1]}) == Counter(
        {(r["kind"], r["channel"]): r["cases"] for r in doc["rows"]})
    trend = [[c.value for c in row] for row in wb["每日趋势"].iter_rows()]
    assert trend[0] == ["受理日期", "件数"] and trend[-1] == ["合计", doc["totals"]["cases"]]
    assert len(trend) == 32
    for sheet, field in (("按分类", "category"), ("按类别", "kind"), ("按渠道", "channel"), ("按被投诉方地区", "region")):
        rows = [[c.value for c in row] for row in wb[sheet].iter_rows()]
        by = _figures(desk, group_by=field)
        assert rows[1][:3] == [f"{rows[1][1]}代码", rows[1][1], "件数"]
        assert rows[-1][0] == "合计" and rows[-1][2] == doc["totals"]["cases"], sheet
        assert [r[2] for r in rows[2:-1]] == [r["cases"] for r in by["rows"]], sheet
    assert [c.value for c in wb["按被投诉方地区"][3]][:2] != [None, None]
    hot = [[c.value for c in row] for row in wb["热点"].iter_rows()]
    assert hot[1] == ["维度", "代码", "名称", "本周件数", "上周件数", "环比倍数", "泊松上尾概率"]
    assert hot[2][:2] == ["分类", "S0601"] or any(r[:2] == ["分类", "S0601"] for r in hot)
    assert any(r[0] == USCCS[1] and r[1] == FIRM and r[3] == 12 for r in hot)
    units = [[c.value for c in row] for row in wb["单位绩效"].iter_rows()]
    assert units[1][:4] == ["名次", "单位代码", "单位名称", "受理件数（按受理节点）"]
    assert units[2][:2] == ["本级", "440305"]
    cov = [[c.value for c in row] for row in wb["覆盖情况"].iter_rows()]
    assert cov[0] == ["应报节点数", "已报节点数", "超时未报节点", "超时阈值（小时）"] and cov[1][:2] == [0, 0]


def test_long_tables_show_the_rows_with_most_cases_and_say_so(seeded, monkeypatch):
    import node.stats.pages as pages
    monkeypatch.setattr(pages, "TABLE_ROWS", 2)
    desk = _signed_in(seeded)
    page = desk.text(desk.get(f"/desk/stats?{RANGE}&group_by=category"))
    doc = _figures(desk, group_by="category")
    assert len(doc["rows"]) == 4
    for table_id in ("table-category", "table-grouped"):
        body = re.search(r"<tbody>(.*?)</tbody>", _table(page, table_id), re.S).group(1)
        assert len(re.findall(r"<tr>", body)) == 2, table_id
        assert _totals(page, table_id)["cases"] == str(doc["totals"]["cases"])
        assert re.search(rf'<table id="{table_id}">.*?</table>\s*</div>\s*(?:</details>\s*)?<p class="hint">'
                         r"仅列出件数最多的 2 行（共 4 行）；全部行见 XLSX 导出。</p>", page, re.S), table_id
    assert len(desk.get(f"/desk/stats/data?{RANGE}").get_json()["series"]["category"]) == 4


def test_text_from_cases_is_escaped(seeded):
    desk = _signed_in(seeded)
    page = desk.text(desk.get(f"/desk/stats?{RANGE}"))
    assert "<script>alert(1)</script>" not in page
    assert "深圳市&lt;script&gt;alert(1)&lt;/script&gt;电器有限公司" in _table(page, "table-firms")


def test_english_on_request(seeded):
    desk = _signed_in(seeded)
    page = desk.text(desk.get(f"/desk/stats?{RANGE}&lang=en"))
    assert '<html lang="en">' in page
    for text in ("Dashboards", "Daily trend", "By category", "Coverage", "Export these figures (XLSX)", "Table"):
        assert text in page, text
    assert "数据看板" not in page.split('<main id="main"', 1)[1]
    zh = desk.text(desk.get(f"/desk/stats?{RANGE}&lang=zh_CN"))
    for text in ("数据看板", "每日趋势", "按分类", "覆盖情况", "表格"):
        assert text in zh, text


def test_every_group_by_field_has_a_labelled_checkbox(desk):
    page = desk.text(_signed_in(desk).get("/desk/stats"))
    for field in GROUP_FIELDS:
        assert re.search(rf'<label class="check" for="f-group_by-{field}"><input type="checkbox" name="group_by" '
                         rf'value="{field}"', page), field
    assert re.search(r'<label for="f-from">', page) and re.search(r'<label for="f-basis">', page)


# -- coverage across two nodes ------------------------------------------------------------------
@pytest.fixture
def pair(tmp_path, db_backend):
    from tests.conftest import drop_pg_schema, new_pg_url
    from tests.network.conftest import build
    from tests.network.harness import Network
    made: list[str] = []

    def url_for(code: str):
        if db_backend == "sqlite":
            return None
        made.append(new_pg_url())
        return made[-1]

    net = Network(tmp_path, seed=11, db_url_for=url_for)
    build(net, [("county", "440305"), ("station", "440305001")], {"440305001": "440305"})
    yield net
    net.close()
    for url in made:
        drop_pg_schema(url)


def test_a_child_that_never_reported_is_listed_stale_at_the_parent(pair):
    county, station = pair.nodes["440305"], pair.nodes["440305001"]
    create(station, case_body(day="2026-09-28"))
    create(county, case_body(day="2026-09-28", kind="report"))
    desk = _signed_in(Desk(county, pair.clock))
    with county.activate():
        rollup(county)
    page = desk.text(desk.get("/desk/stats"))
    assert re.search(r'id="coverage-reporting">0<', page) and re.search(r'id="coverage-expected">1<', page)
    stale = re.search(r'<ul id="stats-stale">(.*?)</ul>', page, re.S).group(1)
    assert "440305001" in stale
    assert re.search(r'id="total-cases">1<', page)                       # the station's case not yet here
    # the station reports: its figures arrive, the list of stale nodes empties
    with station.activate():
        rollup(station)
    pair.settle()
    with county.activate():
        rollup(county)
    page = desk.text(desk.get("/desk/stats?group_by=kind"))
    assert re.search(r'id="coverage-reporting">1<', page) and 'id="stats-stale"' not in page
    assert re.search(r'id="total-cases">2<', page)
    data = desk.get("/desk/stats/data").get_json()
    assert data["coverage"]["stale"] == [] and data["totals"]["cases"] == 2
    assert [u["code"] for u in data["units"]] == ["440305001"]
    unit_rows = _cells(_table(page, "table-units"))
    assert "440305001" in " ".join(unit_rows)
