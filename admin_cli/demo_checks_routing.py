"""Demo checks of case routing (``n12315 demo [--check]``; R1.5, R2.1-R2.7; CONTRACT §5, §8;
docs/routing.md).

Over the real processes: the Guangdong 12315 phone-centre cases reached Nanshan 440305 with
the same id; the Nanshan cases about Xihu firms reached Xihu 330106 through HQ with the same
id; a conclusion at the handler flows back to the accepting node (and the complainant's
notice is recorded there); the station's case stays at the station, its county and
prefecture hold copies; the prefecture urges a county case and the urge is recorded at the
county and comes back.
"""
from __future__ import annotations

from typing import Any

from admin_cli.demo import DemoError, Federation
from admin_cli.demo_checks import check


def _get(fed: Federation, code: str, case_id: str) -> dict[str, Any] | None:
    resp = fed.api(code, "GET", f"/api/v1/cases/{case_id}", role="admin")
    return resp.json() if resp.status_code == 200 else None


def _wait_case(fed: Federation, code: str, case_id: str, what: str, pred, timeout: float = 60) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def ok() -> bool:
        case = _get(fed, code, case_id)
        if case is None:
            return False
        seen["case"] = case
        return bool(pred(case))
    fed.wait_for(f"{what} ({case_id} at {code})", ok, timeout=timeout)
    return seen["case"]


def _taken(created: list[dict[str, Any]], at: str, region: str) -> list[dict[str, Any]]:
    return [c for c in created if c["accepting_node"] == at and (c.get("respondent") or {}).get("region_code") == region
            and c["kind"] != "consultation"]


@check("分流 / the Guangdong 12315 phone-centre cases reached Nanshan 440305 with the same id")
def phone_centre_cases_reach_the_county(fed: Federation, created: list[dict[str, Any]]) -> str:
    phone = _taken(created, "440000", "440305")
    if not phone:
        raise DemoError("no case was taken at the Guangdong phone centre")
    for c in phone:
        case = _wait_case(fed, "440305", c["id"], "held by Nanshan", lambda x: x["held_as"] == "handler")
        if case["accepting_node"] != "440000":
            raise DemoError(f"{c['id']} arrived with accepting node {case['accepting_node']}")
        at_pref = _get(fed, "440300", c["id"])
        if not at_pref or at_pref["held_as"] != "copy":
            raise DemoError(f"{c['id']}: Shenzhen 440300 on the route holds no copy")
    return f"{len(phone)} 件省级 12315 电话受理的投诉已到南山区，深圳市局保留副本 / {len(phone)} cases at 440305"


@check("跨省 / the Nanshan cases about Xihu firms reached Xihu 330106 through HQ with the same id")
def cross_branch_cases_reach_xihu(fed: Federation, created: list[dict[str, Any]]) -> str:
    cross = _taken(created, "440305", "330106")
    if not cross:
        raise DemoError("no Nanshan case about a Xihu firm was seeded")
    for c in cross:
        case = _wait_case(fed, "330106", c["id"], "held by Xihu", lambda x: x["held_as"] == "handler")
        via = case["custody"][-1].get("via") or []
        if "000000" not in via:
            raise DemoError(f"{c['id']} did not travel through HQ: via {via}")
        if not _get(fed, "000000", c["id"]):
            raise DemoError(f"{c['id']}: HQ holds no copy")
    return (f"{len(cross)} 件经 440300→440000→000000→330000→330100 到达西湖区，编号不变 / "
            f"{len(cross)} cases at 330106 with the same id")


@check("反馈 / a conclusion at the handler flows back to the accepting node")
def conclusion_flows_back(fed: Federation, created: list[dict[str, Any]]) -> str:
    pairs = [(c, "440305") for c in _taken(created, "440000", "440305")[:1]]
    pairs += [(c, "330106") for c in _taken(created, "440305", "330106")[:1]]
    for c, handler in pairs:
        _wait_case(fed, handler, c["id"], "held by its handler", lambda x: x["held_as"] == "handler")
        for body in ({"action": "accept"}, {"action": "conclude", "outcome": "mediated", "note": "演示：调解成功"}):
            resp = fed.api(handler, "POST", f"/api/v1/cases/{c['id']}/actions", role="handler", json=body)
            if resp.status_code != 200:
                raise DemoError(f"{body['action']} at {handler} failed: {resp.status_code} {resp.text[:200]}")
        _wait_case(fed, c["accepting_node"], c["id"], "concluded at the accepting node",
                   lambda x: x["status"] == "concluded" and x["outcome"]["outcome"] == "mediated")
        notices = fed.api(c["accepting_node"], "GET", f"/api/v1/notifications?case_id={c['id']}", role="admin")
        if notices.status_code != 200 or not any(n["status"] == "concluded" for n in notices.json()["items"]):
            raise DemoError(f"{c['accepting_node']} recorded no notice of the conclusion of {c['id']}")
    return (f"{len(pairs)} 件在承办单位办结，结果已回到受理单位并登记告知投诉人 / conclusions back at "
            f"{', '.join(sorted({c['accepting_node'] for c, _ in pairs}))}")


@check("基层所 / the station's case stays at the station; Nanshan and Shenzhen hold copies")
def station_case_stays_with_copies_above(fed: Federation, created: list[dict[str, Any]]) -> str:
    mine = [c for c in created if c["accepting_node"] == "440305001"]
    if not mine:
        raise DemoError("no case was taken at the station")
    for c in mine:
        case = _get(fed, "440305001", c["id"])
        if not case or case["held_as"] != "handler":
            raise DemoError(f"{c['id']} is not handled by the station")
        for code in ("440305", "440300"):
            _wait_case(fed, code, c["id"], "copy for supervision", lambda x: x["held_as"] == "copy")
    return f"{len(mine)} 件由基层所承办，南山区、深圳市局可督办 / handled at 440305001, copies at 440305 and 440300"


@check("督办 / the prefecture urges a county case; recorded at the county and back")
def prefecture_urges_the_county(fed: Federation, created: list[dict[str, Any]]) -> str:
    local = [c for c in _taken(created, "440305", "440305") if c["handling_node"] == "440305"]
    if not local:
        raise DemoError("no case handled by Nanshan was seeded")
    cid = local[0]["id"]
    _wait_case(fed, "440300", cid, "copy at the prefecture", lambda x: x["held_as"] == "copy")
    resp = fed.api("440300", "POST", f"/api/v1/cases/{cid}/actions", role="supervisor",
                   json={"action": "urge", "note": "演示督办：请于三个工作日内答复"})
    if resp.status_code != 202:
        raise DemoError(f"urge at 440300 answered {resp.status_code}: {resp.text[:200]}")
    urged = lambda x: any(e["action"] == "urge" for e in x["history"])  # noqa: E731
    _wait_case(fed, "440305", cid, "urge recorded at the county", urged)
    _wait_case(fed, "440300", cid, "urge back at the prefecture", urged)
    return f"深圳市局督办 {cid}：南山区已记录，结果已回传 / urge recorded at 440305 and back at 440300"
