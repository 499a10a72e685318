"""进度查询 after the first step (issue 12 item 3): the consumer sees the status in plain words,
the dates, the unit and the outcome — never staff names or internal notes — rates the
handling (回访) and may ask, once and in time, for the case to be handled again."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from node.cases import Actor, act, get_case
from tests.node.public.conftest import Consumer, complaint_form, configure

HANDLER = Actor("wang.handler", "handler")
INTERNAL = "内部意见：此商家系老熟人王科长交办"


def filed(county) -> tuple[Consumer, str, str]:
    configure(county, require_phone_code=False)
    c = Consumer(county)
    c.get("/public/complaint")
    assert c.post("/public/complaint", complaint_form()).status_code == 303
    page = c.text(c.get("/public/receipt"))
    return c, re.search(r'id="case-id">([^<]+)<', page).group(1), re.search(r'id="query-code">([^<]+)<', page).group(1)


def staff(county, case_id: str, **payload) -> None:
    with county.activate():
        act(county, case_id, payload, HANDLER)


def look(c: Consumer, case_id: str, code: str) -> str:
    r = c.get(f"/public/track?case_id={case_id}&query_code={code}")
    assert r.status_code == 200
    return c.text(r)


def test_each_step_shows_in_plain_words_without_staff_names_or_internal_notes(county):
    c, case_id, code = filed(county)
    staff(county, case_id, action="accept", note="受理")
    staff(county, case_id, action="comment", note=INTERNAL)
    page = look(c, case_id, code)
    assert re.search(r'id="case-status"[^>]*>已受理<', page)
    assert "wang.handler" not in page and INTERNAL not in page and "王科长" not in page
    staff(county, case_id, action="conclude", outcome="mediated", amount_recovered="2999.00", note="退款 2999 元")
    page = look(c, case_id, code)
    assert re.search(r'id="case-status"[^>]*>已办结<', page)
    assert re.search(r'id="case-outcome">调解成功<', page) and "2999.00" in page
    assert 'id="feedback-form"' in page and 'id="reopen-form"' in page


def test_the_survey_answer_is_recorded_on_the_case_once(county):
    c, case_id, code = filed(county)
    staff(county, case_id, action="accept")
    staff(county, case_id, action="conclude", outcome="mediated")
    look(c, case_id, code)
    r = c.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "basically_satisfied",
                                         "comment": "<b>还行</b>"})
    assert r.status_code == 200 and 'id="progress-notice"' in c.text(r)
    assert "<b>还行</b>" not in c.text(r)
    with county.activate():
        case = get_case(county, case_id, HANDLER)
    assert case["outcome"]["satisfaction"] == "basically_satisfied"
    assert 'id="feedback-form"' not in look(c, case_id, code)
    again = c.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "satisfied"})
    assert again.status_code == 409
    with county.activate():
        assert get_case(county, case_id, HANDLER)["outcome"]["satisfaction"] == "basically_satisfied"


def test_rating_needs_the_session_that_looked_the_case_up(county):
    _, case_id, _ = filed(county)
    staff(county, case_id, action="accept")
    staff(county, case_id, action="conclude", outcome="mediated")
    stranger = Consumer(county)
    stranger.get("/public/track")
    r = stranger.post("/public/track/feedback", {"case_id": case_id, "satisfaction": "dissatisfied"})
    assert r.status_code == 404
    with county.activate():
        assert "satisfaction" not in get_case(county, case_id, HANDLER)["outcome"]


def test_a_reopen_request_goes_to_the_handler_once_and_only_in_time(county, clock):
    c, case_id, code = filed(county)
    staff(county, case_id, action="accept")
    staff(county, case_id, action="conclude", outcome="not_mediated", reason="absent_or_refused")
    look(c, case_id, code)
    r = c.post("/public/track/reopen", {"case_id": case_id, "reason": ""})
    assert r.status_code == 422
    r = c.post("/public/track/reopen", {"case_id": case_id, "reason": "商家拒不退款"})
    assert r.status_code == 200 and 'id="reopen-asked"' in c.text(r)
    with county.activate():
        history = get_case(county, case_id, HANDLER)["history"]
    assert any(e["action"] == "comment" and "商家拒不退款" in e["note"] for e in history)
    assert c.post("/public/track/reopen", {"case_id": case_id, "reason": "再次"}).status_code == 409


def test_no_reopen_request_after_the_period(county, clock):
    c, case_id, code = filed(county)
    staff(county, case_id, action="accept")
    staff(county, case_id, action="conclude", outcome="mediated")
    from node.routing import reopen_within_days
    clock.set(clock.now + timedelta(days=reopen_within_days(county) + 1))
    page = look(c, case_id, code)
    assert 'id="reopen-form"' not in page
    assert c.post("/public/track/reopen", {"case_id": case_id, "reason": "晚了"}).status_code == 409


def test_a_consultation_shows_its_answer(county):
    configure(county, require_phone_code=False)
    c = Consumer(county)
    c.get("/public/complaint?kind=consultation")
    r = c.post("/public/complaint", {"kind": "consultation", "category": "G0303", "summary": "三包期多久？",
                                     "consent": "1"})
    assert r.status_code == 303, c.text(r)[-500:]
    page = c.text(c.get("/public/receipt"))
    case_id, code = (re.search(r'id="case-id">([^<]+)<', page).group(1),
                     re.search(r'id="query-code">([^<]+)<', page).group(1))
    staff(county, case_id, action="answer", text="家用电器三包有效期一般为一年。")
    page = look(c, case_id, code)
    assert re.search(r'id="case-answer">家用电器三包有效期一般为一年。<', page)


@pytest.mark.parametrize("role", ["discipline"])
def test_a_staff_report_is_followed_by_its_reporter(county, role):
    configure(county, require_phone_code=False)
    c = Consumer(county)
    c.get("/public/complaint?kind=report")
    r = c.post("/public/complaint", {"kind": "report", "report_target": "staff", "complainant.name": "李四",
                                     "complainant.phone": "13900139000", "respondent.name": "某所执法人员",
                                     "respondent.region_code": "440305", "category": "S0101",
                                     "summary": "执法人员索要财物", "consent": "1"})
    assert r.status_code == 303, c.text(r)[-500:]
    page = c.text(c.get("/public/receipt"))
    case_id, code = (re.search(r'id="case-id">([^<]+)<', page).group(1),
                     re.search(r'id="query-code">([^<]+)<', page).group(1))
    assert re.search(r'id="case-status"', look(c, case_id, code))
