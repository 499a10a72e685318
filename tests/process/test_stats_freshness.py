"""Fresh figures over real processes (issue 15 item 4, P6): county → prefecture → province as
``n12315 serve`` on 127.0.0.1 with the default configuration (the demo's faster replication
intervals put back), linked through the CLI; a complaint taken at the county is counted at
the province in under a minute with no command run. The seconds are printed (``-s``);
``python -m bench freshness`` measures the five-level chain for BENCHMARKS.md.
"""
from __future__ import annotations

import pytest

from bench.bench_freshness import CHAIN, measure

pytestmark = [pytest.mark.process, pytest.mark.timeout(600)]


def test_intake_at_the_county_is_counted_at_the_province_within_a_minute(tmp_path):
    tree = [("province", *CHAIN[1][1:3], None), CHAIN[2], CHAIN[3]]
    seconds = measure(tree, tmp_path, rounds=2)
    print(f"county → prefecture → province, real processes, default config: "
          f"{', '.join(f'{s:.1f}' for s in seconds)} s")
    assert max(seconds) < 60, seconds
