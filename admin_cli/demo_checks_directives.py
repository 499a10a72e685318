"""Demo checks of emergency dispatch (``n12315 demo [--check]``; R3.1-R3.4, R4.4; CONTRACT §6, §8).

The demo issues, through the HTTP API as a leader at HQ, a directive from the food-poisoning
plan to every node below HQ (``issue_demo_directive``), and publishes a consumer warning.
The checks then verify, end to end over the real processes: the directive reaches every
node, every node acknowledges it (签收 by a named person) and HQ's progress view counts
them all, the CAP 1.2 rendering validates against the OASIS schema at HQ and at a station,
and the warning appears on the public feed of every node.
"""
from __future__ import annotations

from typing import Any

from admin_cli.demo import DemoError, Federation
from admin_cli.demo_checks import check

HQ = "000000"
_STATE: dict[str, Any] = {}


def issue_demo_directive(fed: Federation) -> str:
    """Issue the demo's directive at HQ over the API (role leader); return its id."""
    resp = fed.api(HQ, "POST", "/api/v1/directives", role="leader", json={
        "plan": "food_poisoning",
        "title": "国庆假期食品安全专项应急响应：排查集体用餐配送单位",
        "body": "多地报告集体用餐配送引起的食物中毒。请各级市场监管部门立即排查辖区集体用餐配送单位和"
                "学校食堂，封存可疑食品，按预案时限签收并报告处置情况。",
        "ack_within_minutes": 30,
        "report_within_minutes": 240,
    })
    if resp.status_code != 201:
        raise DemoError(f"issuing the directive at HQ failed: {resp.status_code} {resp.text[:300]}")
    directive_id = str(resp.json()["id"])
    _STATE["directive"] = directive_id
    return directive_id


def _below_hq(fed: Federation) -> list[str]:
    return [code for code in fed.nodes if code != HQ]


def _directive(fed: Federation) -> str:
    directive_id = _STATE.get("directive")
    if not directive_id:
        raise DemoError("no directive was issued (see the first directive check)")
    return str(directive_id)


@check("指令下达 / HQ's directive reaches every node below it")
def directive_reaches_everyone(fed: Federation, created: list[dict[str, Any]]) -> str:
    directive_id = issue_demo_directive(fed)
    missing: list[str] = []
    for code in _below_hq(fed):
        try:
            fed.wait_for(f"directive {directive_id} at {code}",
                         lambda code=code: fed.api(code, "GET", f"/api/v1/directives/{directive_id}",
                                                   role="leader").status_code == 200, timeout=60)
        except DemoError:
            missing.append(code)
    if missing:
        raise DemoError(f"directive {directive_id} never reached {missing}")
    return f"{directive_id} 已送达 {len(_below_hq(fed))} 个下级节点 / reached every node below HQ"


@check("签收与进度 / every node acknowledges; HQ's progress counts all of them")
def everyone_acknowledges(fed: Federation, created: list[dict[str, Any]]) -> str:
    directive_id = _directive(fed)
    targets = _below_hq(fed)
    for i, code in enumerate(targets):
        resp = fed.api(code, "POST", f"/api/v1/directives/{directive_id}/ack", role="leader",
                       json={"name": f"值班员{i + 1:02d}", "note": "已收到，立即部署"})
        if resp.status_code != 200:
            raise DemoError(f"acknowledging at {code} failed: {resp.status_code} {resp.text[:200]}")
    station = next((c for c in targets if len(c) == 9), None)
    if station:
        resp = fed.api(station, "POST", f"/api/v1/directives/{directive_id}/reports", role="leader",
                       json={"text": "已排查辖区集体用餐配送单位 3 家，封存可疑食品 12 公斤。",
                             "counts": {"shops_inspected": 3, "goods_sealed_kg": 12}})
        if resp.status_code != 201:
            raise DemoError(f"reporting at {station} failed: {resp.status_code} {resp.text[:200]}")

    def complete() -> bool:
        p = fed.api(HQ, "GET", f"/api/v1/directives/{directive_id}", role="leader").json()["progress"]
        _STATE["progress"] = p
        return (p["targets"] == len(targets) and p["delivered"] == len(targets)
                and p["acknowledged"] == len(targets) and (not station or p["reported"] == 1))

    try:
        fed.wait_for("HQ's progress view complete", complete, timeout=60)
    except DemoError:
        p = _STATE.get("progress") or {}
        raise DemoError(f"HQ progress incomplete: targets {p.get('targets')}, delivered {p.get('delivered')}, "
                        f"acknowledged {p.get('acknowledged')}, reported {p.get('reported')}") from None
    p = _STATE["progress"]
    return (f"总局进度：对象 {p['targets']}，已送达 {p['delivered']}，已签收 {p['acknowledged']}，"
            f"已反馈 {p['reported']} / HQ counts {p['acknowledged']} of {p['targets']} acknowledged")


@check("CAP 1.2 / the directive renders as a CAP alert valid against the OASIS schema")
def cap_validates(fed: Federation, created: list[dict[str, Any]]) -> str:
    from node.directives import cap
    directive_id = _directive(fed)
    checked = []
    for code in (HQ, next((c for c in fed.nodes if len(c) == 9), HQ)):
        resp = fed.api(code, "GET", f"/cap/v1/directives/{directive_id}.xml", role="leader")
        if resp.status_code != 200:
            raise DemoError(f"CAP at {code}: {resp.status_code} {resp.text[:200]}")
        try:
            cap.validate(resp.content)
        except cap.CapError as exc:
            raise DemoError(f"CAP at {code} is not valid: {exc}") from None
        if b"+08:00" not in resp.content or b"Z</" in resp.content:
            raise DemoError(f"CAP at {code}: timestamps must carry +08:00")
        checked.append(code)
    return f"{len(checked)} 份 CAP 校验通过（{', '.join(checked)}）/ CAP valid at {', '.join(checked)}"


@check("消费警示 / a warning published at HQ appears on every node's public feed")
def warning_on_every_feed(fed: Federation, created: list[dict[str, Any]]) -> str:
    resp = fed.api(HQ, "POST", "/api/v1/warnings", role="leader", json={
        "kind": "warning", "category": "food_safety", "severity": "moderate",
        "title": "节日期间谨慎选择集体用餐配送服务",
        "body": "选择持有效许可证的配送单位，留存订餐凭证；出现呕吐、腹泻等症状及时就医并拨打 12315 投诉举报。"})
    if resp.status_code != 201:
        raise DemoError(f"publishing the warning failed: {resp.status_code} {resp.text[:200]}")
    warning_id = resp.json()["id"]
    import requests
    for code in fed.nodes:
        url = fed.nodes[code].url + "/public/v1/warnings"
        fed.wait_for(f"warning on {code}'s feed",
                     lambda url=url: any(w["id"] == warning_id for w in requests.get(url, timeout=10).json()["items"]),
                     timeout=60)
    return f"{warning_id} 已出现在 {len(fed.nodes)} 个节点的公众页面 / on every public feed"
