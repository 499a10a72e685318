"""An administrator at the desk of a county node (the page-test pattern of tests/node/desk)."""
from __future__ import annotations

import pytest

from tests.node.desk.conftest import Desk


@pytest.fixture
def desk(tmp_path, make_node, clock) -> Desk:
    node = make_node(tmp_path, "county", "440305", name="深圳市南山区市场监督管理局")
    return Desk(node, clock)


@pytest.fixture
def admin(desk) -> Desk:
    """``desk`` signed in as ``admin1`` (role admin)."""
    desk.user("admin1", "admin")
    assert desk.sign_in("admin1").status_code == 302
    assert desk.get("/desk/admin/users").status_code == 200     # a page of the new session: its CSRF token
    return desk


@pytest.fixture
def other(desk) -> Desk:
    """A second browser on the same node (another person's session)."""
    return Desk(desk.node, desk.clock)
