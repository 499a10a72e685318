"""A status change at the handling node reaches the complainant's phone from the accepting node
(issue 12 item 4; R2.7): a complaint taken at the Guangdong province centre about a Nanshan
firm, accepted and concluded at Nanshan; each step comes back to the province, which sends the
SMS and the e-mail through its own gateway and relay. The tree is the in-process harness
(tests/network), on SQLite and PostgreSQL."""
from __future__ import annotations

from node.accounts import service as users
from node.notify import flush
from tests.network.conftest import network_db_url, seed, tree  # noqa: F401 - the harness's fixtures
from tests.node.notify.stubs import MailServer, SmsGateway, configure


def call(net, code, method, path, role, body=None):
    tokens = net.__dict__.setdefault("notify_tokens", {})
    if (code, role) not in tokens:
        node = net.nodes[code]
        with node.activate():
            tokens[(code, role)] = users.add_user(f"{role}1", role, node.now())
    token = tokens[(code, role)]
    return net.clients[code].open(path, method=method, headers={"Authorization": f"Bearer {token}"}, json=body)


def test_each_step_at_the_handler_reaches_the_complainant_from_the_accepting_node(tree):  # noqa: F811
    province, county = tree.nodes["440000"], tree.nodes["440305"]
    with SmsGateway(secret="gd-secret") as sms, SmsGateway(secret="nanshan") as county_sms, MailServer() as mail:
        configure(province, sms_url=sms.url, sms_secret="gd-secret", smtp_host=mail.host, smtp_port=mail.port)
        configure(county, sms_url=county_sms.url, sms_secret="nanshan")
        body = {"kind": "complaint", "channel": "phone", "category": "S0304", "summary": "外卖食品中吃出异物",
                "description": "米饭中发现金属异物。", "received_at": "2026-09-29T10:00:00+08:00",
                "complainant": {"name": "陈女士", "phone": "13600001111", "address": "深圳市南山区",
                                "email": "chen@example.cn"},
                "respondent": {"name": "深圳市南山区某餐饮店", "region_code": "440305"}}
        r = call(tree, "440000", "POST", "/api/v1/cases", "intake", body)
        assert r.status_code == 201, r.get_json()
        cid = r.get_json()["id"]
        tree.settle()
        for action in ({"action": "accept"}, {"action": "conclude", "outcome": "mediated"}):
            assert call(tree, "440305", "POST", f"/api/v1/cases/{cid}/actions", "handler", action).status_code == 200
        tree.settle()
        with province.activate():
            assert flush(province) == 6      # three steps, each by SMS and by e-mail
        with county.activate():
            assert flush(county) == 0     # the handler tells nobody: the accepting node does
        texts = [m["text"] for m in sms.messages]
        assert [m["to"] for m in sms.messages] == ["13600001111"] * 3 and county_sms.requests == []
        assert all(cid in t for t in texts)
        assert "已收到" in texts[0] and "深圳市南山区市场监督管理局" in texts[0]
        assert "受理" in texts[1] and "办结" in texts[2] and "结果：调解成功" in texts[2]
        assert [(m["To"], cid in m["Subject"], cid in m.get_content()) for m in mail.messages] == [
            ("chen@example.cn", True, True)] * 3
