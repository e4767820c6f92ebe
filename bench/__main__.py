"""`python -m bench [NAME ...] [--profile]`: the project's benchmarks as ONE table, with a JSON copy.

Rules kept here:
- `STAGES` lists the stages in run order; each module exposes `run(stack) -> list[Row]` (decide
  needs no infrastructure) and `main()` to run it alone with its own arguments
  (`python bench/<name>_bench.py --help`);
- every figure stands beside a baseline measured in the same run (report.Row), with its target
  printed as pass/FAIL, never asserted; the environment is printed above the table;
- the table is printed at the end and its JSON copy written to `$DEV_DIR/bench/latest.json`
  (path printed); a stage that fails is reported in the table and the others still run;
- `--profile` also records py-spy flame graphs of the services under load into docs/perf/
  (figures measured while profiling are slower: profile and measure in separate runs);
- NAME (`decide`, `intake`, `router`, `pipeline`, `sealing`, `gateway`) picks stages; none
  runs them all; `--quick` runs smaller stages (`QUICK`), and the table says so.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from typing import Final

from bench.harness import ROOT, ensure_infrastructure
from bench.report import Row, environment, render, save

STAGES: Final = ("decide", "intake", "router", "pipeline", "sealing", "gateway")
# Each stage's size: the full run (bounded: the whole under ~6 minutes on an idle 2-core machine),
# and --quick (for a busy machine, where the full sizes would take far longer).
SIZES: Final = {
    "decide": {"referrals": 100_000},
    "intake": {"seconds": 10},
    "router": {"referrals": 2000},
    "pipeline": {"seconds": 10},
    "sealing": {"seconds": 10},
    "gateway": {"referrals": 1000},
}
QUICK: Final = {
    "decide": {"referrals": 10_000},
    "intake": {"seconds": 5},
    "router": {"referrals": 500},
    "pipeline": {"seconds": 5},
    "sealing": {"seconds": 5},
    "gateway": {"referrals": 500},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(STAGES)}")
    parser.add_argument("--profile", action="store_true", help="flame graphs into docs/perf/")
    parser.add_argument("--quick", action="store_true", help="smaller stages, for a busy machine")
    args = parser.parse_args(argv)
    names = args.names or list(STAGES)
    if unknown := sorted(set(names) - set(STAGES)):
        parser.error(f"no stage {', '.join(unknown)} (there are {', '.join(STAGES)})")
    if args.profile:
        os.environ["BENCH_PROFILE_DIR"] = str(ROOT / "docs" / "perf")
    env = environment() | {"sizes": QUICK if args.quick else SIZES}  # load before the bench
    rows: list[Row] = []
    stack: dict[str, str] | None = None
    for name in (s for s in STAGES if s in names):
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            bench = importlib.import_module(f"bench.{name}_bench")
            size = (QUICK if args.quick else SIZES)[name]
            if name == "decide":
                found: list[Row] = bench.run(**size)
            else:
                stack = stack or ensure_infrastructure()
                found = bench.run(stack, **size)
        except Exception as exc:  # noqa: BLE001  (a broken stage is reported, and the others still run)
            traceback.print_exc()
            found = [Row(name, f"stage failed: {type(exc).__name__}", None, "", note=str(exc)[:80])]
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
        rows.extend(found)
    print()
    print(render(env, rows))
    print(f"\nJSON: {save(env, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
