"""The node's tamper-evident audit log (issue 13 item 4; CONTRACT §11; docs/audit.md).

Every user, role, token, password, link and key change, every desk sign-in (and its failures
and lockouts) and every export is one entry of an append-only, hash-chained log; the head is
signed with the node's Ed25519 key every ``audit.head_sign_interval_s`` seconds; ``verify``
walks the chain and names the first entry that was changed, removed or inserted.

Inside the package: ``models.py`` (entries, the head row, signed heads), ``service.py``
(``record``, ``list_entries``, ``seal_head`` and its ``SEAL_HOOKS``), ``verify.py`` (the walk).
This domain imports no other domain, so every domain may record through it; a domain that wants
something covered by the signed head registers a seal hook (``node.cases``: the case history
heads, ``case.heads``).
"""
from node.audit.models import MODELS, AuditEntry, AuditHead, AuditSeal, migrate_tables
from node.audit.service import SEAL_HOOKS, add_seal_hook, append, list_entries, next_seq, record, seal_head
from node.audit.verify import Finding, Report, verify


def job_specs(node):
    """Sign the head every ``audit.head_sign_interval_s`` seconds (``node.domains`` installs it)."""
    return [("audit.seal", lambda n: float(n.config.audit.head_sign_interval_s), seal_head)]


__all__ = ["MODELS", "SEAL_HOOKS", "AuditEntry", "AuditHead", "AuditSeal", "Finding", "Report", "add_seal_hook",
           "append", "job_specs", "list_entries", "migrate_tables", "next_seq", "record", "seal_head", "verify"]
