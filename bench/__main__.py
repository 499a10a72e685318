"""``make bench``: run every benchmark, print each figure with the command behind it.

Each ``bench/bench_*.py`` module exposes ``run() -> list[dict]`` with figures
``{"name", "value", "unit", "command"}``. ``python -m bench [NAME ...]`` runs some of them
(e.g. ``python -m bench intake replication``). Figures are recorded in BENCHMARKS.md with
the machine they ran on.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ORDER = ["intake", "intake_cpu", "replication", "routing", "directives", "stats", "desk", "public", "import"]


def available() -> list[str]:
    here = Path(__file__).parent
    names = [p.stem.removeprefix("bench_") for p in here.glob("bench_*.py")]
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    wanted = argv or available()
    unknown = [n for n in wanted if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    print(f"# n12315 benchmarks — {machine()}")
    results = []
    failed = False
    for name in wanted:
        print(f"\n## {name}", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            figures = module.run()
        except Exception as exc:  # one broken benchmark must not hide the others
            print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed = True
            continue
        for f in figures:
            print(f"  {f['name']}: {f['value']} {f['unit']}    [{f['command']}]", flush=True)
            results.append({"bench": name, **f})
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    out = Path(os.environ.get("N12315_BENCH_OUT", "bench-results.json"))
    out.write_text(json.dumps({"machine": machine(), "results": results}, ensure_ascii=False, indent=1))
    print(f"\nfigures written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
