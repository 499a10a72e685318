"""An administrator at the desk: of a single county node (``admin``), or of a county linked to its
station through the in-process network harness (``pair``; tests/network/harness.py)."""
from __future__ import annotations

import pytest

from tests.network import notes
from tests.network.harness import Network
from tests.node.desk.conftest import Desk

COUNTY, STATION = "440305", "440305001"


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", COUNTY, name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


def signed_in_admin(desk: Desk, login: str = "admin1") -> Desk:
    desk.user(login, "admin")
    assert desk.sign_in(login).status_code == 302
    assert desk.get("/desk/admin").status_code == 200      # a page of the new session: its CSRF token
    return desk


@pytest.fixture
def admin(desk) -> Desk:
    return signed_in_admin(desk)


@pytest.fixture
def pair(tmp_path, db_backend):
    """A county and its station, linked through invite/join, with the test note kind installed."""
    from tests.conftest import drop_pg_schema, new_pg_url
    made: list[str] = []

    def url_for(code: str):
        if db_backend == "sqlite":
            return None
        made.append(new_pg_url())
        return made[-1]

    net = Network(tmp_path, db_url_for=url_for)
    net.add("county", COUNTY)
    net.add("station", STATION)
    net.link(COUNTY, STATION)
    for node in net.nodes.values():
        notes.install(node)
    yield net
    net.close()
    for url in made:
        drop_pg_schema(url)


def admin_at(net: Network, code: str) -> Desk:
    """An administrator signed in at the desk of ``code`` (the harness's clock)."""
    return signed_in_admin(Desk(net.nodes[code], net.clock))
