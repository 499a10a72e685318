"""Fresh figures (issue 15 item 4, P6): a case taken anywhere shows in HQ's totals within a
minute, with the default configuration and no command.

The ``stats.forward`` job runs every second under ``serve`` and costs a few index lookups
when there is nothing to do. It looks at what the database says is waiting:

- a case written since the last local refresh (``cube.local_changed``): the node that took
  the case must send its day up;
- a day marked by a child's snapshot (``stats_dirty``) or waiting to go to the parent
  (``stats_outbound``, counted only while a parent is linked: without one the days wait
  on purpose).

The first time it sees work it sets a deadline ``stats.forward_debounce_s`` ahead; at the
deadline it runs the ordinary rollup (``rollup.rollup``) once and kicks the replication
push. A deadline is never pushed back by later changes, so a steady stream still goes up
every few seconds, and a burst (a thousand cases in a second) is one rollup and one
snapshot per changed day at each tier, not a thousand. Each tier adds at most about one
debounce plus a second, so five levels stay well inside a minute.

Looking at the database, not at an in-memory flag set by the code that wrote, makes every
writer count (the API, the desk, a replicated copy, ``n12315 import`` in another process)
and never acts before the writer's transaction committed. Exactness is the rollup's (F21):
versioned snapshots, newest per (child, day) — the job only changes *when* it runs.

A round that fails is not retried every second: the job stands back until the next
scheduled rollup (``stats.rollup_interval_s``), the existing retry schedule; the outbox
retries delivery on its own backoff. ``rollup`` takes this node's lock, so this job and the
scheduled rollup never run a round side by side in one ``serve`` process.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from node.runtime import Node
from node.stats.common import is_hq
from node.stats.cube import local_changed
from node.stats.models import StatsDirty, StatsOutbound
from replication import topology

log = logging.getLogger(__name__)

TICK_S = 1.0
_SLOT = "stats.forward"


@dataclass
class ForwardState:
    """Per node, in memory (a restart loses nothing: the work is read from the database)."""
    due: datetime | None = None          # when the debounced rollup runs
    hold_until: datetime | None = None   # after a failed round: leave it to the scheduled rollup
    lock: threading.RLock = field(default_factory=threading.RLock)   # one rollup at a time
    rounds: int = 0                      # rollups this job ran (status, tests)


def state(node: Node) -> ForwardState:
    st = node.extras.get(_SLOT)
    if st is None:
        st = node.extras.setdefault(_SLOT, ForwardState())
    return st


def waiting(node: Node) -> bool:
    """Whether a rollup has something to do now (read from the database)."""
    if local_changed():
        return True
    if StatsDirty.select().exists():
        return True
    return (not is_hq(node) and topology.parent_code() is not None
            and StatsOutbound.select().where(StatsOutbound.target == "parent").exists())


def forward(node: Node) -> dict[str, Any] | None:
    """The ``stats.forward`` job (every ``TICK_S``): run the rollup ``forward_debounce_s``
    after work first appears; return the rollup's result when it ran, else ``None``."""
    st = state(node)
    now = node.now()
    if st.hold_until is not None:
        if now < st.hold_until:
            return None
        st.hold_until = None
    if st.due is None:
        if not waiting(node):
            return None
        st.due = now + timedelta(seconds=max(0.0, float(node.config.stats.forward_debounce_s)))
    if now < st.due:
        return None
    # cleared before the round: whatever is written while it runs sets the next deadline
    st.due = None
    try:
        from node.stats.rollup import rollup
        result = rollup(node)
    except Exception:
        st.hold_until = now + timedelta(seconds=float(node.config.stats.rollup_interval_s))
        raise
    st.rounds += 1
    kick = node.extras.get("kick")
    if kick is not None and (result["sent"] or result["sent_direct"]):
        kick()   # the snapshot leaves now, not at the next push interval
    return result
