"""The case list (案件, issue 11 item 4) through the pages: the API's filters, the home tiles'
links, sorting, the keyset paging, user text escaped, the XLSX export of the filtered list."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest

from tests.node.cases import examples
from tests.node.desk.conftest import Desk


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


def _signed_in(desk: Desk, role: str = "handler") -> Desk:
    desk.user(f"{role}1", role)
    desk.sign_in(f"{role}1")
    return desk


def _register(desk: Desk, body: dict) -> str:
    from node.cases import Actor, create_case
    with desk.node.activate():
        return create_case(desk.node, body, Actor("earlier", "intake"))["id"]


def _set(desk: Desk, case_id: str, **columns) -> None:
    from node.cases import Case
    with desk.node.activate():
        Case.update(**columns).where(Case.case_id == case_id).execute()


def ids_on(page: str) -> list[str]:
    return re.findall(r'<tr class="case-row[^"]*" data-case-id="([^"]+)"', page)


@pytest.fixture
def cases(desk) -> dict[str, str]:
    """Eight cases at 440305, received an hour apart on 2026-09-29, each singled out by one filter."""
    c = {}
    at = "2026-09-29T{:02d}:00:00+08:00"
    other = {"description": "详见来电记录"}
    c["fridge"] = _register(desk, examples.complaint(received_at=at.format(8)))
    c["consult"] = _register(desk, examples.consultation(received_at=at.format(9)))
    c["child"] = _register(desk, examples.complaint(received_at=at.format(10), summary="儿童玩具有尖锐边角", **other))
    c["fire"] = _register(desk, examples.complaint(received_at=at.format(11), summary="商场电梯起火，疑似火灾隐患", **other))
    c["accepted"] = _register(desk, examples.complaint(received_at=at.format(12), summary="手机屏幕碎裂", **other))
    c["copy"] = _register(desk, examples.complaint(received_at=at.format(13), summary="外卖少送一份", **other))
    c["station"] = _register(desk, examples.complaint(received_at=at.format(14), summary="理发店办卡后跑路", **other))
    c["report"] = _register(desk, examples.report(received_at=at.format(15)))
    from node.cases import Actor, act
    with desk.node.activate():
        act(desk.node, c["accepted"], {"action": "accept"}, Actor("h", "handler"))
    _set(desk, c["fridge"], overdue=True, next_due=date(2026, 9, 28))
    _set(desk, c["copy"], held_as="copy", handling_node="440306")
    _set(desk, c["station"], handling_node="440305001", attention="退回：请重新分流")
    _set(desk, c["report"], department="enforcement")
    return c


FILTERS = [
    ("status=accepted", ["accepted"]),
    ("kind=consultation", ["consult"]),
    ("kind=report", ["report"]),
    ("urgency=urgent", ["child"]),
    ("urgency=critical", ["fire"]),
    ("overdue=true", ["fridge"]),
    ("due_within_days=0", ["fridge"]),
    ("department=enforcement", ["report"]),
    ("handling_node=440305001", ["station"]),
    ("held_as=copy", ["copy"]),
    ("attention=true", ["station"]),
    ("q=冰箱", ["fridge"]),
    ("q=跑路", ["station"]),
    ("kind=complaint&urgency=general&held_as=handler&handling_node=440305&status=registered", ["fridge"]),
]


@pytest.mark.parametrize("query, expected", FILTERS, ids=[q for q, _ in FILTERS])
def test_each_filter_narrows_the_list(desk, cases, query, expected):
    _signed_in(desk)
    everything = ids_on(desk.text(desk.get("/desk/cases")))
    assert sorted(everything) == sorted(cases.values())
    resp = desk.get(f"/desk/cases?{query}")
    assert resp.status_code == 200
    assert sorted(ids_on(desk.text(resp))) == sorted(cases[k] for k in expected)


def test_the_language_switch_is_not_taken_for_a_filter(desk, cases):
    _signed_in(desk)
    page = desk.text(desk.get("/desk/cases?lang=en&kind=consultation"))
    assert '<html lang="en">' in page and "Case number" in page and ids_on(page) == [cases["consult"]]


def test_the_filter_form_keeps_what_was_chosen(desk, cases):
    _signed_in(desk)
    page = desk.text(desk.get("/desk/cases?kind=complaint&status=registered&q=冰箱&accepting_node=440305"))
    assert re.search(r'<select id="f-kind" name="kind".*?<option value="complaint" selected>', page, re.S)
    assert re.search(r'<select id="f-status" name="status".*?<option value="registered" selected>', page, re.S)
    assert 'name="q" type="search" value="冰箱"' in page
    assert '<input type="hidden" name="accepting_node" value="440305">' in page     # an API filter the form lacks


def test_a_bad_filter_value_is_shown_beside_its_filter(desk, cases):
    _signed_in(desk)
    resp = desk.get("/desk/cases?status=bogus&due_within_days=x")
    assert resp.status_code == 422
    page = desk.text(resp)
    assert re.search(r'id="e-status"[^>]*>[^<]*状态（status）取值无效|id="e-status"[^>]*>[^<]*status 取值无效', page)
    assert ids_on(page) == []
    unknown = desk.get("/desk/cases?colour=red")
    assert unknown.status_code == 422 and "未知查询参数 colour" in desk.text(unknown)


def test_the_home_tiles_link_to_the_list_they_count(desk, cases):
    from node.desk import home
    _signed_in(desk)
    from node.cases import Actor
    with desk.node.activate():
        tiles = [t for t in home.tiles(desk.node, Actor("handler1", "handler")) if t.href.startswith("/desk/cases?")]
    assert {t.key for t in tiles} >= {"waiting", "due-soon", "overdue", "attention"}
    assert any(t.count for t in tiles)
    for tile in tiles:
        page = desk.text(desk.get(tile.href))
        assert len(ids_on(page)) == tile.count, tile
        assert f"共 {tile.count} 件" in page
    home_page = desk.text(desk.get("/desk/"))
    for tile in tiles:
        href = re.search(rf'href="([^"]+)" id="tile-{tile.key}"', home_page).group(1).replace("&amp;", "&")
        assert len(ids_on(desk.text(desk.get(href)))) == tile.count


def test_each_row_shows_the_case_and_links_to_its_page(desk, cases):
    _signed_in(desk)
    page = desk.text(desk.get("/desk/cases?q=冰箱"))
    row = re.search(r'<tr class="case-row[^"]*".*?</tr>', page, re.S).group(0)
    assert f'<a href="/desk/cases/{cases["fridge"]}">{cases["fridge"]}</a>' in row
    for text in ("2026-09-29 08:00", "投诉", "已登记", "一般", "新买的冰箱不制冷，商家拒绝退货", "深圳市某某电器有限公司",
                 "440305 南山区", "2026-09-28", "已超期"):
        assert text in row, text
    assert 'class="case-row overdue"' in row


def test_a_summary_with_a_script_tag_is_shown_as_text(desk):
    case_id = _register(desk, examples.complaint(summary="<script>alert(1)</script>",
                                                 respondent={"name": "<b>某公司</b>", "region_code": "440305"}))
    _signed_in(desk, "analyst")
    page = desk.text(desk.get("/desk/cases"))
    assert ids_on(page) == [case_id]
    assert "<script>alert(1)</script>" not in page and "<b>某公司</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;某公司&lt;/b&gt;" in page


def test_reports_against_staff_are_listed_for_discipline_inspection_only(desk):
    staff = _register(desk, examples.staff_report())
    other = _register(desk, examples.complaint())
    _signed_in(desk, "analyst")
    assert ids_on(desk.text(desk.get("/desk/cases"))) == [other]
    desk.user("discipline1", "discipline")
    desk.sign_in("discipline1")
    assert sorted(ids_on(desk.text(desk.get("/desk/cases")))) == sorted([staff, other])


SORTED = {
    "": ["report", "station", "copy", "accepted", "fire", "child", "consult", "fridge"],
    "received": ["report", "station", "copy", "accepted", "fire", "child", "consult", "fridge"],
    "received_asc": ["fridge", "consult", "child", "fire", "accepted", "copy", "station", "report"],
    "urgency": ["fire", "child", "report", "station", "copy", "accepted", "consult", "fridge"],
}


@pytest.mark.parametrize("sort", list(SORTED))
def test_the_list_sorts(desk, cases, sort):
    _signed_in(desk)
    page = desk.text(desk.get(f"/desk/cases?sort={sort}"))
    assert ids_on(page) == [cases[k] for k in SORTED[sort]]


def test_sorting_by_next_due_puts_the_earliest_first_and_cases_without_a_clock_last(desk, cases):
    from node.cases import Actor, search_cases
    _signed_in(desk)
    ids = ids_on(desk.text(desk.get("/desk/cases?sort=next_due")))
    with desk.node.activate():
        items = {c["id"]: c["next_due"] for c in search_cases(desk.node, {}, Actor("t", "admin"), limit=200)["items"]}
    dues = [items[i] for i in ids]
    assert ids[0] == cases["fridge"] and dues[0] == "2026-09-28"
    assert cases["consult"] in ids[-1:] and dues[-1] is None
    assert [d for d in dues if d] == sorted(d for d in dues if d)


def test_received_order_follows_the_time_received_not_the_time_registered(desk, cases):
    late_entry = _register(desk, examples.complaint(received_at="2026-09-28T16:00:00+08:00", summary="补录的来信"))
    _signed_in(desk)
    assert ids_on(desk.text(desk.get("/desk/cases")))[0] == late_entry              # newest registered
    assert ids_on(desk.text(desk.get("/desk/cases?sort=received")))[-1] == late_entry
    assert ids_on(desk.text(desk.get("/desk/cases?sort=received_asc")))[0] == late_entry


def _pages(desk: Desk, first: str) -> list[list[str]]:
    out, url = [], first
    while url:
        page = desk.text(desk.get(url))
        out.append(ids_on(page))
        nxt = re.search(r'id="next-page" href="([^"]+)"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        assert len(out) < 20
    return out


@pytest.mark.parametrize("sort", ["", "received", "received_asc", "next_due", "urgency"])
def test_paging_walks_the_whole_list_once_in_order(desk, cases, sort):
    _signed_in(desk)
    whole = ids_on(desk.text(desk.get(f"/desk/cases?sort={sort}")))
    pages = _pages(desk, f"/desk/cases?sort={sort}&limit=3")
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for p in pages for i in p] == whole
    filtered = _pages(desk, f"/desk/cases?kind=complaint&sort={sort}&limit=2")
    assert [i for p in filtered for i in p] == ids_on(desk.text(desk.get(f"/desk/cases?kind=complaint&sort={sort}")))
    assert len([i for p in filtered for i in p]) == 6


def test_the_newest_first_cursor_is_the_apis(desk, cases):
    token = desk.user("api1", "handler")
    api = desk.client.get("/api/v1/cases?limit=3", headers={"Authorization": f"Bearer {token}"}).get_json()
    _signed_in(desk)
    page = desk.text(desk.get(f"/desk/cases?limit=3&cursor={api['next_cursor']}"))
    nxt = desk.client.get(f"/api/v1/cases?limit=3&cursor={api['next_cursor']}",
                          headers={"Authorization": f"Bearer {token}"}).get_json()
    assert ids_on(page) == [c["id"] for c in nxt["items"]]
    bad = desk.get(f"/desk/cases?sort=urgency&cursor={api['next_cursor']}")
    assert bad.status_code == 400 and "分页游标无效" in desk.text(bad)     # a cursor is opaque: 400 (issue 13)


def _sheet(resp):
    from openpyxl import load_workbook
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(resp.get_data())).active


def test_the_export_holds_the_filtered_list_with_chinese_headings(desk, cases):
    _signed_in(desk, "analyst")
    page = desk.text(desk.get("/desk/cases?kind=complaint&sort=urgency"))
    href = re.search(r'id="export-xlsx" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert href == "/desk/cases/export.xlsx?kind=complaint&sort=urgency"
    ws = _sheet(desk.get(href))
    rows = list(ws.iter_rows(values_only=True))
    headings = rows[2]
    assert headings[:3] == ("案件编号", "登记时间", "类型") and headings[4:6] == ("状态", "紧急程度")
    assert all(re.search(r"[\u4e00-\u9fff]", h) for h in headings)          # every heading in Chinese
    data = rows[3:]
    assert [r[0] for r in data] == ids_on(page)
    fire = next(r for r in data if r[0] == cases["fire"])
    assert fire[2] == "投诉" and fire[5] == "特别紧急" and fire[1] == "2026-09-29 11:00"
    assert ws.freeze_panes == "A4"
    everything = list(_sheet(desk.get("/desk/cases/export.xlsx")).iter_rows(values_only=True))[3:]
    assert len(everything) == len(cases)


def test_a_summary_typed_as_a_formula_stays_text_in_the_export(desk):
    _register(desk, examples.complaint(summary="=HYPERLINK(\"http://evil.example\",\"点我\")"))
    _signed_in(desk)
    ws = _sheet(desk.get("/desk/cases/export.xlsx"))
    cell = ws.cell(row=4, column=8)
    assert cell.value == "=HYPERLINK(\"http://evil.example\",\"点我\")" and cell.data_type == "s"


def test_more_rows_than_the_export_allows_are_refused_with_a_message(desk, cases, monkeypatch):
    import node.cases.pages as pages
    monkeypatch.setattr(pages, "EXPORT_MAX", 5)
    _signed_in(desk)
    resp = desk.get("/desk/cases/export.xlsx")
    assert resp.status_code == 422 and resp.mimetype == "text/html"
    assert "筛选结果共 8 件，超过导出上限 5 件" in desk.text(resp)
    listed = desk.text(desk.get("/desk/cases"))
    assert 'id="export-too-many"' in listed and 'id="export-xlsx"' not in listed
    assert re.search(r'id="case-count">超过 5 件<', listed)
    assert _sheet(desk.get("/desk/cases/export.xlsx?kind=complaint&urgency=general")).max_row == 3 + 4


def test_the_list_needs_a_session_and_has_no_inline_script(desk, cases):
    assert desk.get("/desk/cases").status_code == 302
    assert desk.get("/desk/cases/export.xlsx").status_code == 302
    _signed_in(desk, "leader")
    page = desk.text(desk.get("/desk/cases"))
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and "style=" not in page
    for ident in re.findall(r'<(?:input|select)[^>]*\bid="(f-[^"]+)"', page):
        assert f'<label for="{ident}"' in page
