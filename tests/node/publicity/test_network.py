"""Publicity across nodes (issue 12 item 6): a complaint filed at a province about a county
firm is concluded at the county; the county and every node holding a copy publish it.

The tree is built through ``init`` and invite/join (``tests/network``), documents travel
through the in-process harness, on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import pytest

from tests.conftest import drop_pg_schema, new_pg_url
from tests.network.conftest import build
from tests.network.harness import Network
from tests.network.test_case_routing import Api, complaint, holders_of, no_quarantine

PERSON = ("陈女士", "13600001111")


@pytest.fixture
def chain(tmp_path, db_backend):
    made: list[str] = []

    def url_for(code: str):
        if db_backend == "sqlite":
            return None
        made.append(new_pg_url())
        return made[-1]

    net = Network(tmp_path, seed=12, db_url_for=url_for)
    build(net, [("province", "440000"), ("prefecture", "440300"), ("county", "440305")],
          {"440300": "440000", "440305": "440300"})
    yield net
    net.close()
    for url in made:
        drop_pg_schema(url)


def published(net, code: str) -> list[dict]:
    r = net.clients[code].get("/public/v1/disclosures")
    assert r.status_code == 200
    for value in PERSON:
        assert value not in r.get_data(as_text=True), code
    return r.get_json()["items"]


def test_a_complaint_concluded_at_the_county_is_listed_at_the_province_holding_its_copy(chain):
    api = Api(chain)
    cid = api.create("440000", complaint(respondent={"name": "深圳市南山区某餐饮有限公司", "region_code": "440305"}))["id"]
    chain.settle()
    assert api.get("440305", cid)["held_as"] == "handler"
    api.act("440305", cid, action="accept")
    api.act("440305", cid, action="conclude", outcome="mediated")
    chain.settle()
    held = holders_of(chain, cid)
    assert held["440000"][0] == "copy" and held["440000"][2] == "concluded"
    for code in ("440305", "440000"):
        items = published(chain, code)
        assert [(i["case_id"], i["business_name"], i["result"], i["handling_node"]) for i in items] == [
            (cid, "深圳市南山区某餐饮有限公司", "调解成功", "440305")], code
    api.act("440305", cid, action="reopen", reason="回访不满意")
    chain.settle()
    for code in ("440305", "440000"):
        assert published(chain, code) == [], code
    no_quarantine(chain)
