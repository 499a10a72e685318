"""This node's place in the network — the glue between the node and the transport.

Links and their HTTP endpoints (``/federation/v1/``), the node's ``Replicator`` and the
registry of document handlers that the domains fill, the replication jobs, control
documents (certificate chains, revocation lists, ping/pong) and ``status``. The transport
itself (``replication/``, ``federation/``) never imports ``node``.
"""
from node.network.control import join_parent, ping, ping_report, push_changes
from node.network.models import PingLog
from node.network.status import collect as collect_status
from node.network.transport import handler, replicator

__all__ = ["PingLog", "collect_status", "handler", "join_parent", "ping", "ping_report", "push_changes",
           "replicator"]
