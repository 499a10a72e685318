"""A fast in-process multi-node harness (STYLE.md "Tests"; RELIABILITY "Run the catalogue").

Production code talks through a ``requests.Session``; the harness mounts, for every node
URL, an adapter that hands the request to that node's Flask app — and can drop the
request, drop the response, duplicate, hold back and release later, or partition a node.
Every node shares one ``FakeClock``; time moves only when a test moves it, so backoff and
expiry never sleep. Nodes are created and linked through the same ``init`` and
invite/join code paths operators use. ``Network.restart(code)`` throws away a node's
in-memory state (a crash) and reopens it from its home.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from node.app import create_app
from node.home import open_node
from node.runtime import Node
from tests.fastinit import init_node


class FakeClock:
    def __init__(self, start: datetime | None = None):
        self.t = start or datetime(2026, 9, 29, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Faults:
    """What happens to the next requests from one node (or all, with ``"*"``)."""
    drop_request: float = 0.0      # F1: lost on the way there
    drop_response: float = 0.0     # F2: applied, answer lost
    duplicate: float = 0.0         # F3: delivered twice
    hold: float = 0.0              # F4: kept back, released later (reordering)
    partitioned: set[str] = field(default_factory=set)   # codes this node cannot reach


class NotSettled(AssertionError):
    """The network did not converge within its budget (issue 14: never return silently)."""

    def __init__(self, net: Network, rounds: int):
        self.backlogs = net.backlogs()
        super().__init__(f"network did not settle in {rounds} rounds; outboxes not empty: "
                         f"{self.backlogs}; down: {sorted(net.down)} (seed {net.seed})")


class NetworkAdapter(BaseAdapter):
    """The transport of one node: routes by URL to the node's in-process app."""

    def __init__(self, net: Network, src: str):
        super().__init__()
        self.net = net
        self.src = src

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        dst = self.net.code_for_url(request.url)
        if dst is None or dst in self.net.down:
            self.net.stats["refused_down"] += 1
            raise requests.ConnectionError(f"connection refused: {request.url}")
        faults = self.net.faults.get(self.src) or self.net.faults.get("*") or Faults()
        if dst in faults.partitioned or self.src in self.net.partitioned_pairs.get(dst, set()):
            self.net.stats["partitioned"] += 1
            raise requests.ConnectionError(f"network unreachable: {dst}")
        rng = self.net.rng
        if faults.drop_request and rng.random() < faults.drop_request:
            self.net.stats["dropped_requests"] += 1
            raise requests.ConnectionError("request dropped (fault)")
        if faults.hold and rng.random() < faults.hold:
            self.net.held.append((self.src, request.copy()))
            self.net.stats["held"] += 1
            raise requests.Timeout("request held back (fault)")
        response = self.net.deliver(dst, request)
        if faults.duplicate and rng.random() < faults.duplicate:
            self.net.stats["duplicated"] += 1
            second = self.net.deliver(dst, request)
            # a retrying middlebox hands back one of the two answers, either one
            if rng.random() < 0.5:
                response = second
        if faults.drop_response and rng.random() < faults.drop_response:
            self.net.stats["dropped_responses"] += 1
            raise requests.ConnectionError("response lost (fault)")
        return response

    def close(self) -> None:
        pass


class Network:
    def __init__(self, base: Path, *, seed: int = 0, clock: FakeClock | None = None,
                 db_url_for: Callable[[str], str | None] | None = None):
        self.base = base
        self.clock = clock or FakeClock()
        self.rng = random.Random(seed)
        self.seed = seed
        self.nodes: dict[str, Node] = {}
        self.apps: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}
        self.faults: dict[str, Faults] = {}
        self.partitioned_pairs: dict[str, set[str]] = {}
        self.down: set[str] = set()
        self.held: list[tuple[str, requests.PreparedRequest]] = []
        # how often each fault really fired: a fault-injecting test asserts its own (issue 14)
        self.stats = {"dropped_requests": 0, "dropped_responses": 0, "duplicated": 0, "held": 0,
                      "refused_down": 0, "partitioned": 0}
        self.db_url_for = db_url_for or (lambda code: None)
        self.before_deliver: list[Callable[[str, requests.PreparedRequest], None]] = []
        # sees every answer a node gave, even one the network then loses (F2)
        self.after_deliver: list[Callable[[str, requests.PreparedRequest, requests.Response], None]] = []

    # -- nodes -----------------------------------------------------------------------------
    @staticmethod
    def url_of(code: str) -> str:
        return f"http://n{code}.test"

    def code_for_url(self, url: str | None) -> str | None:
        if not url or not url.startswith("http://n"):
            return None
        host = url[len("http://n"):].split("/", 1)[0]
        code = host.removesuffix(".test")
        return code if code in self.nodes else None

    def _session(self, code: str) -> requests.Session:
        s = requests.Session()
        s.mount("http://", NetworkAdapter(self, code))
        return s

    def _attach(self, node: Node) -> Node:
        node.transport = self._session(node.code)
        self.nodes[node.code] = node
        app = create_app(node)
        self.apps[node.code] = app
        self.clients[node.code] = app.test_client()
        return node

    def add(self, level: str, code: str, name: str | None = None) -> Node:
        home = self.base / code
        node = init_node(home, level=level, code=code, name=name or f"节点{code}", url=self.url_of(code),
                         db_url=self.db_url_for(code), clock=self.clock)
        return self._attach(node)

    def restart(self, code: str) -> Node:
        """Crash and restart: in-memory state (caches, locks, replicator) is gone."""
        old = self.nodes.pop(code)
        old.close()
        node = open_node(old.config.home, clock=self.clock)
        return self._attach(node)

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, dst: str, request: requests.PreparedRequest) -> requests.Response:
        for hook in self.before_deliver:
            hook(dst, request)
        client = self.clients[dst]
        path = request.url.split(".test", 1)[1]
        body = request.body if isinstance(request.body, (bytes, type(None))) else request.body.encode()
        res = client.open(path, method=request.method, headers=dict(request.headers), data=body,
                          base_url=self.url_of(dst))
        resp = requests.Response()
        resp.status_code = res.status_code
        resp._content = res.get_data()
        resp.headers = CaseInsensitiveDict(dict(res.headers))
        resp.url = request.url
        resp.request = request
        for after in self.after_deliver:
            after(dst, request, resp)
        return resp

    def release_held(self, shuffle: bool = True) -> int:
        """Deliver held requests late (answers are discarded, as a timed-out sender would)."""
        held, self.held = self.held, []
        if shuffle:
            self.rng.shuffle(held)
        for _src, req in held:
            dst = self.code_for_url(req.url)
            if dst and dst not in self.down:
                self.deliver(dst, req)
        return len(held)

    def partition(self, a: str, b: str) -> None:
        self.partitioned_pairs.setdefault(a, set()).add(b)
        self.partitioned_pairs.setdefault(b, set()).add(a)

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        if a is None:
            self.partitioned_pairs.clear()
            return
        self.partitioned_pairs.get(a, set()).discard(b)
        self.partitioned_pairs.get(b or "", set()).discard(a)

    # -- linking through the operators' code path -------------------------------------------
    def link(self, parent: str, child: str, *, pull_only: bool = False) -> None:
        from federation import links
        from node.divisions import load_divisions
        p, c = self.nodes[parent], self.nodes[child]
        with p.activate():
            token = links.create_invite(child, p.code, p.config.invite_ttl_hours, p.now(),
                                        load_divisions().is_within)
        from node.network import control as federation_docs
        federation_docs.join_parent(c, self.url_of(parent), token, pull_only=pull_only)

    # -- replication helpers -----------------------------------------------------------------
    def sync(self, code: str, force: bool = True):
        from node.network.transport import replicator
        from replication import sender
        node = self.nodes[code]
        with node.activate():
            return sender.sync_all(replicator(node), force=force)

    def settle(self, rounds: int = 50, advance_s: float = 0.0, *, must_converge: bool = True) -> int:
        """Sync every live node until no outbox holds anything; return the rounds taken.

        Issue 14: a network that does not converge within ``rounds`` raises
        ``NotSettled`` naming the outboxes still holding rows. A test that expects rows
        to stay (a node down, a link cut, a quarantined channel) says so with
        ``must_converge=False`` and then gets ``rounds`` back."""
        for i in range(rounds):
            for code in list(self.nodes):
                if code not in self.down:
                    self.sync(code)
            if advance_s:
                self.clock.advance(advance_s)
            if all(self.backlog(c) == 0 for c in self.nodes if c not in self.down):
                return i + 1
        if must_converge:
            raise NotSettled(self, rounds)
        return rounds

    def settle_with_time(self, rounds: int = 200, advance_s: float = 61.0, *,
                         must_converge: bool = True) -> int:
        """Like ``settle`` but unforced: each node syncs only links that are due, and the
        clock moves ``advance_s`` per round (past any backoff below the cap in a few
        rounds), so backoff and ``Retry-After`` are honoured as ``serve`` would."""
        for i in range(rounds):
            for code in list(self.nodes):
                if code not in self.down:
                    self.sync(code, force=False)
            self.clock.advance(advance_s)
            if all(self.backlog(c) == 0 for c in self.nodes if c not in self.down):
                return i + 1
        if must_converge:
            raise NotSettled(self, rounds)
        return rounds

    def backlogs(self) -> dict[str, dict[str, int]]:
        """Non-empty outboxes of live nodes: ``{node: {"dest/channel": rows}}``."""
        from peewee import fn

        from replication.models import OutboxEntry
        out: dict[str, dict[str, int]] = {}
        for code, node in self.nodes.items():
            if code in self.down:
                continue
            with node.activate():
                rows = (OutboxEntry.select(OutboxEntry.dest, OutboxEntry.channel, fn.COUNT(OutboxEntry.id))
                        .group_by(OutboxEntry.dest, OutboxEntry.channel)
                        .tuples())
                held = {f"{dest}/{channel}": n for dest, channel, n in rows}
            if held:
                out[code] = held
        return out

    def assert_drained(self) -> None:
        """Every live node's outbox is empty (the sender's backlog, not only the receiver's count)."""
        held = self.backlogs()
        assert not held, f"outboxes not empty: {held} (seed {self.seed})"

    def backlog(self, code: str) -> int:
        from replication.models import OutboxEntry
        node = self.nodes[code]
        with node.activate():
            return OutboxEntry.select().count()
