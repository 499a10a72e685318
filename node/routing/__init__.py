"""Routing through the tree (R1.5, R2; docs/routing.md): jurisdiction rules, case documents
and their handlers, custody, proposals, notifications to named complainants, supervision.

It extends the case lifecycle through ``node.cases.install_extension``; the case domain never
imports routing.
"""
from node.routing.sync import install_case_hooks, job_specs, register_handlers

__all__ = ["install_case_hooks", "job_specs", "register_handlers"]
