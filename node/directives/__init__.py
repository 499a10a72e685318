"""Emergency directives down the tree (R3): issue and fan-out, acknowledgement and reports,
progress, reminders, plans (预案), CAP 1.2 renderings and consumer warnings (R4.4, R6.4)."""
from node.directives.service import job_specs, register_handlers

__all__ = ["job_specs", "register_handlers"]
