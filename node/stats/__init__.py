"""Statistics at every tier (R4.1-R4.5, R7.2, R7.6, R8.2; CONTRACT §7; RELIABILITY rules
17-18, F21): the local day cube, versioned snapshot rollups up the tree, coverage,
direct-report points, queries, unit performance and hot spots. The design is written up in
``docs/statistics.md``.

The path of a figure, module by module:

1. ``cube`` — this node's own rows of the day cube, recomputed from the ``Case`` table for
   the receipt days that changed (watermark, and a periodic fingerprint reconcile), and the
   day/dekad/month projections (``StatsAgg``) rebuilt for the days that changed.
2. ``snapshots`` — one signed snapshot per (origin, day) up to the parent; the parent keeps
   a (child, day) only for a higher version, so nothing counts twice (rules 17-18, F21).
3. ``queries``, ``units``, ``hotspots`` — the answers, from the projections and never from
   the case table; coverage says which nodes of the subtree have reported.
4. ``direct`` — HQ's direct-report points (R4.2), whose figures HQ keeps apart.

``dashboard`` gathers what the desk's data dashboard shows (and ``trend``, cases per
receipt day); ``export`` writes the figures with Chinese headings (XLSX for the CLI and the
desk). ``rollup`` runs the round (the scheduled job and ``n12315 stats push``) and installs the
document handlers; ``forward`` runs it seconds after a case or a child's snapshot arrives, so
HQ's figures are fresh within a minute (issue 15 P6); ``common`` holds the shared names and helpers; ``api`` is the only Flask
module. Nothing else imports Flask; the API, the jobs and the CLI call the same functions
inside ``node.activate()``. Money is integer fen in the database (exact SQL sums) and a
decimal string everywhere else, never a float. No personal data enters a row or a snapshot.

The names below are what the rest of the house (``node.domains``, the CLI, the benchmark)
may use.
"""
from node.stats.common import (
    ADMIN_ROLES,
    BASES,
    CHANNEL,
    FIELD_NAMES_ZH,
    GROUP_FIELDS,
    MEASURE_NAMES_ZH,
    OUTPUT_MEASURES,
    READ_ROLES,
    STREAM_ROLLUP,
)
from node.stats.cube import refresh_aggregates
from node.stats.dashboard import CHART_FIELDS, dashboard, trend
from node.stats.direct import designate, direct_points
from node.stats.export import (
    dashboard_workbook,
    figure_headings,
    figure_rows,
    figures_workbook,
    value_label,
    value_labels,
)
from node.stats.hotspots import hotspots
from node.stats.models import COUNT_MEASURES
from node.stats.queries import query, query_direct
from node.stats.rollup import job_specs, register_handlers, rejections, rollup, status
from node.stats.snapshots import FIRM_COLUMNS, ROW_COLUMNS, ingest, parse_body
from node.stats.units import units

__all__ = ["ADMIN_ROLES", "BASES", "CHANNEL", "COUNT_MEASURES", "FIELD_NAMES_ZH", "FIRM_COLUMNS", "GROUP_FIELDS",
           "MEASURE_NAMES_ZH", "OUTPUT_MEASURES", "READ_ROLES", "ROW_COLUMNS", "STREAM_ROLLUP", "designate",
           "direct_points", "hotspots", "ingest", "job_specs", "parse_body", "query", "query_direct",
           "refresh_aggregates", "register_handlers", "rejections", "rollup", "status", "units",
           # the data dashboard of the desk and the XLSX writers it shares with the CLI
           "CHART_FIELDS", "dashboard", "dashboard_workbook", "figure_headings", "figure_rows", "figures_workbook",
           "trend", "value_label", "value_labels"]
