"""CPU per intake in process (issue 15 item 1): where the node's own work goes, without HTTP or load.

A county node (``init_home`` as an operator makes one, SQLite, ``synchronous=FULL``), the CONTRACT
§5 example body posted through the Flask test client: ``time.process_time`` per intake over three
runs after a warm-up. Unlike ``bench intake`` this is steady under other load on the machine, so
it is the figure to compare code changes with; ``N12315_BENCH_PROFILE=1`` prints a cProfile too.
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

from bench.bench_intake import BODY

N = int(os.environ.get("N12315_BENCH_INTAKE_CPU_N", "500"))
COMMAND = "python -m bench intake_cpu"


def run() -> list[dict]:
    from node.accounts import service as users
    from node.app import create_app
    from node.home import init_home
    home = Path(tempfile.mkdtemp(prefix="n12315-bench-cpu-")) / "440305"
    node = init_home(home, level="county", code="440305", name="深圳市南山区市场监督管理局",
                     url="http://127.0.0.1:8315")
    try:
        client = create_app(node).test_client()
        with node.activate():
            token = users.add_user("bench", "intake", node.now())
        headers = {"Authorization": f"Bearer {token}"}

        def post(n: int) -> None:
            for _ in range(n):
                resp = client.post("/api/v1/cases", json=BODY, headers=headers)
                if resp.status_code != 201:
                    raise RuntimeError(f"intake refused: {resp.status_code} {resp.get_data(as_text=True)[:200]}")

        post(50)
        runs = []
        for _ in range(3):
            start = time.process_time()
            post(N)
            runs.append((time.process_time() - start) * 1000 / N)
        if os.environ.get("N12315_BENCH_PROFILE") == "1":
            prof = cProfile.Profile()
            prof.enable()
            post(N)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())
    finally:
        node.close()
    return [{"name": f"intake CPU per case, in process (min of 3 × {N})", "value": f"{min(runs):.2f}",
             "unit": "ms", "command": COMMAND}]


if __name__ == "__main__":
    for f in run():
        print(f"{f['name']}: {f['value']} {f['unit']}")
