"""Every domain of the node, named once, and the one place that wires them together.

Like Django's ``INSTALLED_APPS``, but as plain imports a reader (and the import test) can
follow: ``install()`` registers each domain's tables with ``node.db``, its document handlers
with the replicator, its background jobs with ``node.jobs`` and routing's extension of the
case lifecycle. ``node.home`` (``init``/``open_node``) and ``node.app`` call it; it is
idempotent. No domain imports this module, and the core (``db``, ``runtime``, ``jobs``)
never names a domain: it only runs what was installed here.

The order of ``TABLES`` is the order tables are created in (migration 0001).
"""
from __future__ import annotations

import threading

import node.audit as audit
import node.cases as cases
import node.directives as directives
import node.evidence as evidence
import node.imports as imports
import node.network as network
import node.notify as notify
import node.open311 as open311
import node.public as public
import node.publicity as publicity
import node.routing as routing
import node.stats as stats
from federation import models as federation_models
from node import db, jobs
from node.accounts import models as accounts_models
from node.cases import models as cases_models
from node.directives import models as directives_models
from node.evidence import models as evidence_models
from node.network import models as network_models
from node.routing import models as routing_models
from node.stats import models as stats_models
from replication import models as replication_models

TABLES = (federation_models.MODELS, replication_models.MODELS, accounts_models.MODELS, cases_models.MODELS,
          network_models.MODELS, directives_models.MODELS, stats_models.MODELS, routing_models.MODELS,
          evidence_models.MODELS, notify.MODELS, public.MODELS, open311.MODELS, publicity.MODELS, audit.MODELS,
          imports.MODELS)

# who applies which arriving documents (the transport never knows what a case is)
HANDLERS = (network.register_handlers, routing.register_handlers, directives.register_handlers,
            stats.register_handlers, evidence.register_handlers)

JOBS = (network.job_specs, cases.job_specs, stats.job_specs, directives.job_specs, routing.job_specs,
        notify.job_specs, audit.job_specs)

_LOCK = threading.Lock()
_installed = False


def install() -> None:
    """Register every domain with the core (once per process; later calls do nothing)."""
    global _installed
    if _installed:
        return
    with _LOCK:
        if _installed:
            return
        db.register_tables(*TABLES)
        network.add_handlers(*HANDLERS)
        jobs.JOB_FACTORIES.extend(j for j in JOBS if j not in jobs.JOB_FACTORIES)
        routing.install_case_hooks()
        audit.add_seal_hook(cases.seal_case_heads)   # case history heads ride on the signed head
        evidence.install_case_hooks()      # attachments follow the holders routing decides
        publicity.install_case_hooks()     # a concluded complaint is published (issue 12 item 6)
        public.install_case_hooks()        # respondents feed the portal's firm look-up
        _installed = True
