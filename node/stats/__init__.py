"""Statistics at every tier (R4): the local day cube, versioned snapshot rollups up the tree,
coverage, direct-report points, queries, unit performance and hot spots."""
from node.stats.service import job_specs, register_handlers

__all__ = ["job_specs", "register_handlers"]
