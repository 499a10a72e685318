"""How routing plugs into the node (R1.5, R2; docs/routing.md): the case documents it
applies, its extension of the case lifecycle, and its background jobs. ``node.domains``
calls these three through ``node.routing``; nothing else in the package is wired from
outside.
"""
from __future__ import annotations

from node import jobs
from node.cases import install_extension
from node.divisions import load_divisions
from node.routing import actions, arrivals, hooks, proposals, referrals, tables
from node.routing.documents import DOC_PROPOSAL, DOC_TRANSFER, DOC_UPDATE
from node.routing.sealed import DOC_RESEAL
from node.routing.supervision import remind
from node.runtime import Node
from replication.registry import Registry


def register_handlers(node: Node, registry: Registry) -> None:
    """The case documents this node applies (``node.domains`` installs it)."""
    registry.register(DOC_TRANSFER, lambda d: arrivals.apply_transfer(node, d))
    registry.register(DOC_UPDATE, lambda d: arrivals.apply_update(node, d))
    registry.register(DOC_PROPOSAL, lambda d: proposals.apply_proposal(node, d))
    registry.register(DOC_RESEAL, lambda d: arrivals.apply_reseal(node, d))


def install_case_hooks() -> None:
    """Extend the case lifecycle with routing (idempotent; ``node.domains`` calls it): custody
    at intake, documents in the same transaction as every change, the routing actions,
    proposals from copy holders, the referral directory and the configured departments."""
    install_extension(prepare=hooks.prepare, after_change=hooks.after_change, propose=proposals.propose,
                      referral=referrals.resolve, actions=dict(actions.HANDLERS),
                      departments={code: dept.name for code, dept in
                                   tables.load_tables(load_divisions()).departments.items()})


def job_specs(node: Node) -> list[jobs.JobSpec]:
    # the notices routing queues are sent by node.notify's own job (notify.flush)
    return [("routing.remind", lambda n: float(n.config.deadlines.overdue_check_interval_s), remind)]
