"""Tables of the statistics domain (R4.1-R4.2, R7.2, R7.6, R8.2; RELIABILITY rules 17-18).

Nothing here holds personal data: every row is a count or a sum keyed by enumerated codes
(kind, channel, category, urgency, status, basis), a division code (the respondent's
region) and a receipt date. Firms appear only by USCC (and the registered name of a legal
entity, never of an individual business), never a consumer.

- ``StatsRow``: the day cube of this node's subtree, one row per (source, day, basis, kind,
  channel, category, urgency, status, region). ``source`` is this node's own code for its
  local rows (recomputed from the ``Case`` table) or a child's code for the rows of that
  child's newest snapshot of that day. A case counts in exactly one source: the one whose
  node took it in (basis ``accepted``) — and, separately, the one whose node handles it
  (basis ``handled``, used for unit performance). Money is integer fen (分): SQL sums of
  integers are exact on SQLite and PostgreSQL; it travels as a decimal string.
- ``StatsFirm``: cases per (source, day, respondent USCC) for hot spots and the
  most-complained firms (R4.3, R4.5, R5.5).
- ``StatsAgg``: materialised projections of ``StatsRow`` (basis ``accepted``) that answer
  ``GET /api/v1/stats`` without scanning the cube: grain ``d`` (day), ``x`` (dekad, 旬:
  days 1-10, 11-20, 21-end) and ``m`` (month); ``dim`` ``""`` (totals), one of the six
  group-by fields, or ``@unit`` (per source and basis: unit performance). Rebuilt for the
  days in ``StatsDirty``.
- ``StatsSnapshot``: per (stream, origin, day) the newest snapshot version applied —
  ``rollup`` from a child, ``direct`` from a direct-report point (HQ only). A snapshot
  replaces the stored one only with a higher version (rule 17).
- ``StatsDirectRow``: the cube rows of direct-report snapshots at HQ, kept apart from
  ``StatsRow`` so they can never enter the national totals a second time (R4.2).
- ``StatsMember``: coverage — every node a child reported for its subtree, and when that
  node last produced a snapshot.
- ``StatsDirty`` / ``StatsOutbound``: days whose projections must be rebuilt, and days whose
  snapshot must be sent (to the parent, or straight to HQ).
- ``StatsState``: small facts — watermarks, the version counter row, the designation flag.
- ``StatsDirectPoint``: at HQ, the designated direct-report points (at most 100).
- ``StatsRejection``: snapshots ignored with a reason (lower version, undesignated point…),
  visible through ``GET /api/v1/stats/rejections`` and ``n12315 stats status``.
- ``StatsDayPrint``: a fingerprint of the ``Case`` rows per receipt day, so a periodic
  reconcile finds days the incremental watermark could have missed.
"""
from __future__ import annotations

from peewee import AutoField, BigIntegerField, CharField, DateField, DateTimeField, IntegerField, TextField

from federation.storage import BaseModel, KeyValueMixin

DIMS: tuple[str, ...] = ("kind", "channel", "category", "urgency", "status", "region")
# Counts, then the two amounts in fen. The order is the wire order of a snapshot row.
COUNT_MEASURES: tuple[str, ...] = (
    "cases", "decided", "accepted", "accepted_on_time", "declined", "referred",
    "concluded", "concluded_on_time", "overdue",
    "mediated", "not_mediated", "settled", "withdrawn", "filed", "not_filed", "answered",
    "satisfied", "basically_satisfied", "dissatisfied",
)
MONEY_MEASURES: tuple[str, ...] = ("amount_fen", "recovered_fen")
MEASURES: tuple[str, ...] = COUNT_MEASURES + MONEY_MEASURES


def _measure_fields() -> dict[str, IntegerField | BigIntegerField]:
    # counts fit 32 bits per row (PostgreSQL sums int4 in an int8 accumulator, much faster
    # than the numeric one of int8); fen amounts need 64
    return {m: (BigIntegerField if m in MONEY_MEASURES else IntegerField)(default=0) for m in MEASURES}


class _Cube(BaseModel):
    source = CharField()
    day = DateField()
    basis = CharField()           # accepted | handled
    kind = CharField()
    channel = CharField()
    category = CharField()
    urgency = CharField()
    status = CharField()
    region = CharField(default="")


for _name, _field in _measure_fields().items():
    _Cube._meta.add_field(_name, _field)


class StatsRow(_Cube):
    class Meta:
        table_name = "stats_row"
        primary_key = False
        indexes = (
            (("source", "day", "basis", "kind", "channel", "category", "urgency", "status", "region"), True),
            (("day", "basis"), False),
        )


class StatsDirectRow(_Cube):
    class Meta:
        table_name = "stats_direct_row"
        primary_key = False
        indexes = (
            (("source", "day", "basis", "kind", "channel", "category", "urgency", "status", "region"), True),
            (("day",), False),
        )


class StatsAgg(BaseModel):
    grain = CharField()           # d | x | m
    start = DateField()           # the day, or the first day of the dekad or month
    dim = CharField()             # "" | kind | channel | category | urgency | status | region | @unit
    unit = CharField(default="")   # @unit only: the source (this node or a child)
    basis = CharField(default="")  # @unit only: accepted | handled (every other dim: accepted)
    kind = CharField(default="")
    channel = CharField(default="")
    category = CharField(default="")
    urgency = CharField(default="")
    status = CharField(default="")
    region = CharField(default="")

    class Meta:
        table_name = "stats_agg"
        primary_key = False
        indexes = ((("dim", "grain", "start"), False),)


for _name, _field in _measure_fields().items():
    StatsAgg._meta.add_field(_name, _field)


class StatsFirm(BaseModel):
    source = CharField()
    day = DateField()
    uscc = CharField()
    name = CharField(default="")   # legal entities only; never an individual business
    region = CharField(default="")
    cases = BigIntegerField(default=0)
    complaints = BigIntegerField(default=0)
    reports = BigIntegerField(default=0)

    class Meta:
        table_name = "stats_firm"
        primary_key = False
        indexes = ((("source", "day", "uscc"), True), (("day",), False))


class StatsSnapshot(BaseModel):
    stream = CharField()          # rollup | direct
    origin = CharField()
    day = DateField()
    version = BigIntegerField()
    digest = CharField()
    doc_id = CharField(default="")
    generated_at = DateTimeField()
    received_at = DateTimeField()
    rows = BigIntegerField(default=0)

    class Meta:
        table_name = "stats_snapshot"
        primary_key = False
        indexes = ((("stream", "origin", "day"), True),)


class StatsMember(BaseModel):
    via = CharField()             # the child that reported it
    member = CharField()
    reported_at = DateTimeField()
    version = BigIntegerField()   # the child's snapshot version that carried this list

    class Meta:
        table_name = "stats_member"
        primary_key = False
        indexes = ((("via", "member"), True),)


class StatsDirty(BaseModel):
    day = DateField(primary_key=True)

    class Meta:
        table_name = "stats_dirty"


class StatsOutbound(BaseModel):
    target = CharField()          # parent | direct
    day = DateField()

    class Meta:
        table_name = "stats_outbound"
        primary_key = False
        indexes = ((("target", "day"), True),)


class StatsState(KeyValueMixin, BaseModel):
    key = CharField(primary_key=True)
    value = TextField()

    class Meta:
        table_name = "stats_state"


class StatsDirectPoint(BaseModel):
    code = CharField(primary_key=True)
    active = CharField(default="1")      # "1" designated, "0" withdrawn (kept for the record)
    version = BigIntegerField()          # designation version (HQ's counter row)
    sent_version = BigIntegerField(default=0)
    changed_at = DateTimeField()

    class Meta:
        table_name = "stats_direct_point"


class StatsRejection(BaseModel):
    id = AutoField()
    at = DateTimeField(index=True)
    kind = CharField()
    sender = CharField()
    origin = CharField()
    day = CharField(default="")
    version = BigIntegerField(default=0)
    doc_id = CharField(default="")
    code = CharField()
    reason = TextField()

    class Meta:
        table_name = "stats_rejection"


class StatsDayPrint(BaseModel):
    day = DateField(primary_key=True)
    fingerprint = CharField()

    class Meta:
        table_name = "stats_day_print"


MODELS: list[type[BaseModel]] = [StatsRow, StatsDirectRow, StatsAgg, StatsFirm, StatsSnapshot,
                                 StatsMember, StatsDirty, StatsOutbound, StatsState,
                                 StatsDirectPoint, StatsRejection, StatsDayPrint]
