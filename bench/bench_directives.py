"""Directive fan-out figures (issue 5 "Benchmark"; R3.1, R3.4; RELIABILITY rules 17-18, F22).

Two kinds of figure, kept apart on purpose:

1. **Real code, real databases** (``real-*``): trees of nodes built through ``init`` and
   invite/join in the in-process harness (``tests/network/harness.py``), each node with its
   own SQLite file (``synchronous=FULL``), documents travelling through the real replication
   stack — origin signatures, RFC 9421 hop signatures, Flask endpoints, in-order apply,
   commits. The transport is the in-process adapter (no TCP, no push interval): the figure
   is the stack's own time from the leader's ``issue`` until every target has stored it,
   and until the issuer's progress counts every acknowledgement (automatic acknowledgement
   at each target, ``node.extras["directives.auto_ack"]``, so no human is timed). Each sync
   round walks the tree top-down then bottom-up, like nodes that push as soon as they have
   something. Trees: the eight-node demo tree, and 1 + 3 + 9 + 27 = 40 nodes.
2. **Discrete-event computation** (``sim-*``): the national tree of 1 + 31 + 340 + 2,850 =
   3,222 nodes is too heavy for a real database per node, so its timing is computed, not
   measured: an event queue over the **same forwarding functions** the nodes run
   (``directives.leads_into`` / ``is_target``) and the same snapshot rule
   (``_progress_changed``: send a snapshot at once unless the previous one is still
   unacknowledged, else mark it owed and send it when the acknowledgement returns), with
   20 ms per hop each way and zero processing time. Target: within depth × hop + 0.5 s.

Run: ``python -m bench directives`` (or ``python -m bench.bench_directives``).
"""
from __future__ import annotations

import heapq
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

COMMAND = "python -m bench directives"
HOP_S = 0.020

DEMO_TREE = [("hq", "000000", None), ("province", "440000", "000000"), ("prefecture", "440300", "440000"),
             ("county", "440305", "440300"), ("station", "440305001", "440305"),
             ("province", "330000", "000000"), ("prefecture", "330100", "330000"), ("county", "330106", "330100")]


def _forty_node_tree() -> list[tuple[str, str, str | None]]:
    """HQ, 3 provinces, 3 prefectures each, 3 counties each: real division codes."""
    from node.divisions import load_divisions
    d = load_divisions()
    tree: list[tuple[str, str, str | None]] = [("hq", "000000", None)]
    for province in ("440000", "330000", "320000"):
        tree.append(("province", province, "000000"))
        for pref in [c for c in d.children(province) if d.level_of(c) == "prefecture"][:3]:
            tree.append(("prefecture", pref, province))
            for county in [c for c in d.children(pref) if d.level_of(c) == "county"][:3]:
                tree.append(("county", county, pref))
    return tree


def _real_fanout(tree: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    from node import directives
    from node.network.transport import replicator
    from replication import sender
    from replication.models import OutboxEntry
    from tests.network.conftest import build
    from tests.network.harness import Network

    with tempfile.TemporaryDirectory(prefix="bench-directives-") as tmp:
        net = Network(Path(tmp), seed=1)
        build(net, [(level, code) for level, code, _ in tree],
              {code: parent for _, code, parent in tree if parent})
        order = [code for _, code, _ in tree]
        for code in order:
            net.nodes[code].extras["directives.auto_ack"] = "值班系统"
        targets = [code for code in order if code != "000000"]
        hq = net.nodes["000000"]

        def push_from(codes: list[str]) -> None:
            # each node pushes what it holds as soon as it holds it (no timer in between)
            for code in codes:
                node = net.nodes[code]
                with node.activate():
                    directives.flush_progress(node)
                    rep = replicator(node)
                    for dest in {r.dest for r in OutboxEntry.select(OutboxEntry.dest).distinct()}:
                        sender.push(rep, dest, "directives", force=True)

        def received() -> bool:
            for code in targets:
                node = net.nodes[code]
                with node.activate():
                    if directives.Directive.select().count() == 0:
                        return False
            return True

        # warm up: every app compiles its URL map on its first request, every node opens its
        # database; neither belongs to the fan-out
        for code in order:
            net.clients[code].get("/healthz")
            net.sync(code)
        started = time.perf_counter()
        with hq.activate():
            did = directives.issue(hq, {"title": "基准测试指令", "body": "fan-out benchmark", "severity": "minor",
                                        "ack_within_minutes": 60}, directives.Actor("bench", "leader"))["id"]
        all_received = all_acked = None
        rounds = 0
        while all_acked is None and rounds < 50:
            rounds += 1
            push_from(order)                      # top-down: the directive and its relays
            if all_received is None and received():
                all_received = time.perf_counter() - started
            push_from(order[::-1])                # bottom-up: progress snapshots
            with hq.activate():
                p = directives.progress_view(hq, directives.Directive.by_id(did))
            if p["acknowledged"] == len(targets) and p["targets"] == len(targets):
                all_acked = time.perf_counter() - started
        net.close()
    return {"nodes": len(order), "received_s": all_received, "acked_s": all_acked, "rounds": rounds,
            "per_hop_s": all_received / len(targets) if all_received else None}


# -- the discrete-event computation -----------------------------------------------------------
def national_tree(provinces: int = 31, prefectures: int = 340, counties: int = 2850) -> dict[str, str]:
    """A synthetic tree of the national shape: code → parent (HQ is ``000000``)."""
    parent: dict[str, str] = {}
    provs = [f"P{i:02d}" for i in range(provinces)]
    for p in provs:
        parent[p] = "000000"
    prefs = [f"{provs[i % provinces]}-F{i:03d}" for i in range(prefectures)]
    for f in prefs:
        parent[f] = f.split("-")[0]
    for i in range(counties):
        f = prefs[i % prefectures]
        parent[f"{f}-C{i:04d}"] = f
    return parent


def simulate(parent: dict[str, str], targets: list[str], hop_s: float = HOP_S) -> dict[str, Any]:
    """Event-driven fan-out and roll-up over the nodes' own forwarding rule."""
    from node.directives import is_target, leads_into
    children: dict[str, list[str]] = defaultdict(list)
    for code, p in parent.items():
        children[p].append(code)
    ancestors: dict[str, set[str]] = {"000000": {"000000"}}

    def chain(code: str) -> set[str]:
        if code not in ancestors:
            ancestors[code] = {code} | chain(parent[code])
        return ancestors[code]

    def within(code: str, ancestor: str) -> bool:
        return ancestor in chain(code) if code in parent or code == "000000" else False

    issuer = "000000"
    events: list[tuple[float, int, str, str, Any]] = []
    seq = 0

    def at(t: float, kind: str, node: str, data: Any = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, node, data))

    own: dict[str, int] = {}                        # 1 if the node is a target and acknowledged
    child_snap: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)   # node → child → (version, acked)
    version: dict[str, int] = defaultdict(int)
    pending: dict[str, bool] = defaultdict(bool)
    dirty: dict[str, bool] = defaultdict(bool)
    received_at: dict[str, float] = {}
    hq_messages = 0
    total_messages = 0
    expected = sum(1 for c in parent if is_target(targets, c, issuer, within))

    def acked_in_subtree(node: str) -> int:
        return own.get(node, 0) + sum(a for _, a in child_snap[node].values())

    def send_snapshot(node: str, t: float) -> None:
        nonlocal total_messages
        version[node] += 1
        pending[node] = True
        dirty[node] = False
        total_messages += 1
        at(t + hop_s, "snap", parent[node], (node, version[node], acked_in_subtree(node)))
        at(t + 2 * hop_s, "snap_ack", node)          # the cumulative ack comes back

    def changed(node: str, t: float) -> None:
        if node == issuer:
            return
        if pending[node]:
            dirty[node] = True
        else:
            send_snapshot(node, t)

    at(0.0, "recv", issuer)
    counties_done = None
    hq_complete = None
    counties = [c for c in parent if c.count("-") == 2]
    n_counties_received = 0
    while events:
        t, _, kind, node, data = heapq.heappop(events)
        if kind == "recv":
            received_at[node] = t
            if node.count("-") == 2:
                n_counties_received += 1
                if n_counties_received == len(counties):
                    counties_done = t
            for child in children[node]:
                if leads_into(targets, child, within):
                    total_messages += 1
                    at(t + hop_s, "recv", child)
            if node != issuer and is_target(targets, node, issuer, within):
                own[node] = 1                        # automatic acknowledgement on receipt
                changed(node, t)
        elif kind == "snap":
            child, v, acked = data
            if node == issuer:
                hq_messages += 1
            if v > child_snap[node].get(child, (0, 0))[0]:
                child_snap[node][child] = (v, acked)
                changed(node, t)
            if node == issuer and hq_complete is None and acked_in_subtree(issuer) == expected:
                hq_complete = t
        elif kind == "snap_ack":
            pending[node] = False
            if dirty[node]:
                send_snapshot(node, t)
    return {"nodes": len(parent) + 1, "targets": expected, "counties_received_s": counties_done,
            "hq_complete_s": hq_complete, "hq_messages": hq_messages, "messages": total_messages}


def run() -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    for label, tree in (("8-node demo tree", DEMO_TREE), ("40-node tree (1+3+9+27)", _forty_node_tree())):
        r = _real_fanout(tree)
        figures += [
            {"name": f"real-{r['nodes']} {label}: issue → every target stored it (real code, SQLite per node, "
                     f"in-process transport)", "value": round(r["received_s"] * 1000), "unit": "ms",
             "command": COMMAND},
            {"name": f"real-{r['nodes']} {label}: issue → issuer counts every (automatic) acknowledgement",
             "value": round(r["acked_s"] * 1000), "unit": "ms", "command": COMMAND},
        ]
    figures.append({"name": f"real-{r['nodes']}: one hop down (sign, send, verify both signatures, store, relay, "
                            f"commit), nodes served one after another in one process", "value":
                    round(r["per_hop_s"] * 1000, 1), "unit": "ms/hop", "command": COMMAND})
    parent = national_tree()
    sim = simulate(parent, ["*"])
    depth = 3
    figures += [
        {"name": f"sim-{sim['nodes']} national tree (discrete-event, {HOP_S * 1000:.0f} ms/hop, same forwarding "
                 f"function): issue → every county has it (target {depth * HOP_S + 0.5:.2f} s)",
         "value": round(sim["counties_received_s"] * 1000), "unit": "ms", "command": COMMAND},
        {"name": f"sim-{sim['nodes']}: issue → HQ counts all {sim['targets']} acknowledgements "
                 f"(target {2 * depth * HOP_S + 0.5:.2f} s)",
         "value": round(sim["hq_complete_s"] * 1000), "unit": "ms", "command": COMMAND},
        {"name": f"sim-{sim['nodes']}: progress snapshots reaching HQ (rule 18 roll-up; vs {sim['targets']} "
                 f"acknowledgements)", "value": sim["hq_messages"], "unit": "messages", "command": COMMAND},
    ]
    return figures


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}    [{f['command']}]")
