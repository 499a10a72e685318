"""The firm table behind the public respondent look-up (issue 12 item 1; ``node.public.firms``):
a case registered with a named respondent and a USCC teaches it; the same USCC again keeps one
row with the newest name and region and counts how often it was seen; ``load_firms`` fills it
from a register extract. Its upsert is hand-built SQL (issue 15 item 1), so this holds its
behaviour on SQLite and PostgreSQL.
"""
from __future__ import annotations

from node.db import write_tx
from node.public import firms
from node.public.models import Firm
from tests.node.cases.examples import complaint

USCC = "914403001922038216"


def lookup(app_client, q: str) -> list[dict]:
    r = app_client.client.get("/public/v1/firms", query_string={"q": q})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def test_a_registered_case_teaches_the_firm_table_and_a_second_one_updates_it(app_client, clock):
    assert lookup(app_client, USCC) == []
    r = app_client.post("/api/v1/cases", complaint())
    assert r.status_code == 201, r.get_json()
    assert lookup(app_client, USCC) == [{"uscc": USCC, "name": "深圳市某某电器有限公司", "region_code": "440305"}]

    clock.advance(hours=1)
    renamed = complaint(respondent={"name": "深圳市某某电器股份有限公司", "uscc": USCC, "region_code": "440306",
                                    "address": "深圳市宝安区"})
    assert app_client.post("/api/v1/cases", renamed).status_code == 201
    assert lookup(app_client, "某某电器") == [{"uscc": USCC, "name": "深圳市某某电器股份有限公司",
                                              "region_code": "440306"}]
    node = app_client.node
    with node.activate():
        [firm] = list(Firm.select())
        assert firm.seen == 2
        assert firm.updated_at == clock.now.replace(tzinfo=None)


def test_a_register_extract_loads_and_counts_alongside_the_cases(app_client):
    node = app_client.node
    other = "91440300MA5FXXXX1X"
    with node.activate(), write_tx(node.db):
        assert firms.load_firms(node, [{"uscc": other.lower(), "name": "深圳市另一家公司", "region_code": "440304",
                                        "address": "福田区"},
                                       {"uscc": "not-a-uscc", "name": "x"}]) == 1
    with node.activate():
        firm = Firm.get(Firm.uscc == other)
        assert (firm.name, firm.region_code, firm.address, firm.seen) == ("深圳市另一家公司", "440304", "福田区", 1)
    assert lookup(app_client, "另一家") == [{"uscc": other, "name": "深圳市另一家公司", "region_code": "440304"}]
