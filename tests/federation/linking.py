"""Helpers for federation tests: serve nodes to each other in-process and link them
through the same invite/join code the CLI uses (STYLE.md "Fixtures build the tree through
the same init and link code paths operators use")."""
from __future__ import annotations

from typing import Any

import requests

from federation import links
from node.app import create_app
from node.divisions import load_divisions
from tests.harness_adapter import FlaskAdapter

IS_WITHIN = load_divisions().is_within


class Net:
    """Nodes by code, each served by its Flask app to one shared session."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.nodes: dict[str, Any] = {}
        self.adapters: dict[str, FlaskAdapter] = {}

    def add(self, node: Any) -> Any:
        node.transport = self.session
        self.nodes[node.code] = node
        adapter = FlaskAdapter(create_app(node), node.config.url)
        adapter.mount(self.session)
        self.adapters[node.code] = adapter
        return node

    def invite(self, parent: Any, child_code: str, ttl_hours: float = 24) -> str:
        with parent.activate():
            return links.create_invite(child_code, parent.code, ttl_hours, parent.now(), IS_WITHIN)

    def join(self, parent: Any, child: Any, token: str) -> dict[str, Any]:
        with child.activate():
            return links.join_parent(parent.config.url, token, identity=links.identity_of(child),
                                     keypair=child.keypair, session=self.session,
                                     now=child.now(), is_within=IS_WITHIN)

    def link(self, parent: Any, child: Any) -> dict[str, Any]:
        return self.join(parent, child, self.invite(parent, child.code))
