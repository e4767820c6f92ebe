"""`python -m bench [NAME ...]`: run the project's benchmarks, each with its default arguments.

Rules kept here:
- `BENCHES` lists the benchmark modules in run order; each exposes `main() -> None` and parses its
  own arguments (run one as `python bench/<name>.py --help` to pass any);
- a module is imported only when its turn comes, so a missing one (a bench another engineer has
  not added yet) is skipped with a printed note and the others still run;
- NAME (`decide`, `intake`) picks benchmarks; none runs them all; an unknown name is an error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Final

# Add a benchmark here: a module in this package with `main() -> None`.
BENCHES: Final = ("decide_bench", "intake_bench")


def _short(module: str) -> str:
    return module.removesuffix("_bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    known = [_short(m) for m in BENCHES]
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(known)}")
    names = parser.parse_args(argv).names or known
    if unknown := sorted(set(names) - set(known)):
        parser.error(f"no benchmark {', '.join(unknown)} (there are {', '.join(known)})")
    for module in BENCHES:
        if _short(module) not in names:
            continue
        print(f"== bench.{module}", flush=True)
        try:
            bench = importlib.import_module(f"bench.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{module}":
                raise  # the bench exists but needs something missing: that is a real failure
            print(f"   (skipped: bench/{module}.py is not there)", flush=True)
            continue
        saved, sys.argv = sys.argv, [f"bench/{module}.py"]  # each bench parses its own defaults
        try:
            bench.main()
        finally:
            sys.argv = saved
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
