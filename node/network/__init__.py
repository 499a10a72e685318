"""This node's place in the network — the glue between the node and the transport.

Links and their HTTP endpoints (``/federation/v1/``), the node's ``Replicator`` and the
registry of document handlers that the domains fill, the replication jobs, control
documents (certificate chains, revocation lists, ping/pong) and ``status``. The transport
itself (``replication/``, ``federation/``) never imports ``node``.
"""
from node.network import control, sync_jobs
from node.network.control import join_parent, ping, ping_report, push_changes
from node.network.models import PingLog
from node.network.status import collect as collect_status
from node.network.transport import add_handlers, handler, replicator


def register_handlers(node, registry) -> None:
    """The control documents (chains, revocations, ping/pong) this node applies."""
    control.register_handlers(node, registry)


def job_specs(node) -> list:
    """Replication rounds, housekeeping, control-document pushes, revocation refresh."""
    return sync_jobs.job_specs(node) + control.job_specs(node)

__all__ = ["PingLog", "add_handlers", "collect_status", "handler", "job_specs", "register_handlers", "join_parent", "ping", "ping_report", "push_changes",
           "replicator"]
