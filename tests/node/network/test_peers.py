"""Peers over plain http:// are refused beyond this machine (issue 13 item 9): a node joins a
parent, and a parent accepts a child, only at an https:// address, loopback excepted, unless the
operator declares a closed test network (``http.allow_http_peers``)."""
from __future__ import annotations

import dataclasses

import pytest

from node.errors import NodeError
from node.network import control
from node.network.peers import check_peer_url
from tests.network.harness import Network


def closed(node, allow: bool) -> None:
    node.config = dataclasses.replace(node.config, http=dataclasses.replace(node.config.http, allow_http_peers=allow))


@pytest.mark.parametrize(("url", "ok"), [
    ("https://scjg.gd.gov.cn/n12315", True), ("http://127.0.0.1:8315", True), ("http://[::1]:8315", True),
    ("http://localhost:8315", True), ("http://scjg.example.cn", False), ("http://10.1.2.3:8315", False),
    ("ftp://scjg.example.cn", False), ("javascript:alert(1)", False), ("", False),
])
def test_only_https_or_loopback_unless_a_closed_network_is_declared(tmp_path, make_node, url, ok):
    node = make_node(tmp_path, "county", "440305")
    closed(node, False)
    if ok:
        check_peer_url(node, url, "parent")
    else:
        with pytest.raises(NodeError) as exc:
            check_peer_url(node, url, "parent")
        assert exc.value.status == 422 and exc.value.field == "parent" and "https://" in exc.value.message
    closed(node, True)
    if url.startswith("http://"):
        check_peer_url(node, url, "parent")


def test_join_refuses_an_http_parent_before_any_request(tmp_path):
    net = Network(tmp_path)
    try:
        parent, child = net.add("prefecture", "440300"), net.add("county", "440305")
        closed(child, False)
        with pytest.raises(NodeError) as exc:
            control.join_parent(child, net.url_of("440300"), "n12315i_whatever")
        assert exc.value.code == "insecure_peer" and exc.value.field == "parent"
        assert parent is not None
    finally:
        net.close()


def test_a_parent_refuses_a_child_at_an_http_address(tmp_path):
    net = Network(tmp_path)
    try:
        parent = net.add("prefecture", "440300")
        net.add("county", "440305")
        closed(parent, False)
        with pytest.raises(Exception) as exc:
            net.link("440300", "440305")
        assert "insecure_peer" in str(exc.value) or "https://" in str(exc.value)
        closed(parent, True)
        net.link("440300", "440305")                         # declared closed: the same join works
    finally:
        net.close()
