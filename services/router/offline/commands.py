"""The router's offline commands: `decide` (JSON lines in, decisions out) and `simulate`.

Rules kept here:
- both load the postcode index and the rules before reading a line, and refuse to start (exit 2,
  saying why on stderr) if either cannot be used; once started, every line is answered (`jsonl`)
  and the exit status is 0;
- `decide --jobs N` shares the lines among N processes (default: the machine's cores), the
  answers the same and in the same order (`parallel`);
- `decide --stats` reports start-up and throughput on stderr, never on stdout;
- while `decide` answers lines, what start-up made is set aside from the cyclic garbage collector
  and its youngest generation is collected after 10,000 new objects rather than 700 (`_batch_gc`;
  both put back afterwards): a line makes a few dozen, nearly all freed as soon as it is answered,
  and the collector's passes over the rest otherwise cost about a tenth of the run;
- `simulate` replays the readable lines through the candidate and the baseline version and
  prints, per field, a table of (from, to, count); unreadable lines are counted, its progress
  bar goes to stderr;
- `simulate --from-db` replays the referrals stored with the router's past decisions (received at
  or after `--since`, oldest first) the same way, streamed from PostgreSQL one row at a time;
  they were validated by the same contract when stored, so none is unreadable. A database it
  cannot read is an error (exit 2, saying which kind on stderr, never the DSN).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from tqdm import tqdm

from services.router.adapters.postcode_data import load_postcode_index
from services.router.domain import Comparison, PostcodeDirectory, compare, replay_one
from services.router.engine import CachedRules, load_rules
from services.router.offline.jsonl import Tally, readable_referrals
from services.router.offline.parallel import decide_in_parallel


def format_comparison(result: Comparison, unreadable: int = 0) -> str:
    """The comparison as plain-text tables, one per field."""
    lines = [
        f"simulate: rules {result.candidate} against baseline {result.baseline}",
        f"referrals: {result.referrals}  changed: {result.changed}  "
        f"undecided: {result.undecided}  unreadable lines: {unreadable}",
    ]
    for name, changes in result.changes.items():
        lines.append("")
        if not changes:
            lines.append(f"{name}: no changes")
            continue
        lines.append(f"{name}: {sum(changes.values())} changed")
        rows = [("from", "to", "count")] + [(a, b, str(n)) for (a, b), n in sorted(changes.items())]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for a, b, n in rows:
            lines.append(f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {n:>{widths[2]}}")
    return "\n".join(lines) + "\n"


def _load(
    rules_paths: list[Path | None], postcodes_csv: Path | None, stderr: TextIO
) -> tuple[list[CachedRules], PostcodeDirectory, dict[str, float]] | None:
    """The rules versions and the postcode index, timed; None (after saying why) if one fails."""
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        postcodes = load_postcode_index(postcodes_csv)
        timings["postcodes"] = time.perf_counter() - start
        start = time.perf_counter()
        rules = [load_rules(path) for path in rules_paths]
        timings["rules"] = time.perf_counter() - start
    except (OSError, ValueError) as exc:  # RulesFileError is a ValueError
        print(f"router: error: {exc}", file=stderr)
        return None
    return rules, postcodes, timings


@contextmanager
def _batch_gc(young: int = 10_000) -> Iterator[None]:
    """Garbage collection for a run over many lines (see the module rules), restored after it."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def decide_command(
    rules_path: Path | None,
    postcodes_csv: Path | None,
    *,
    stats: bool,
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    jobs: int = 1,
) -> int:
    """`decide`: one Decision (or error) per input line; exit 0 once every line is answered
    (over `jobs` processes: `parallel`)."""
    loaded = _load([rules_path], postcodes_csv, stderr)
    if loaded is None:
        return 2
    (rules,), postcodes, timings = loaded
    tally, start = Tally(), time.perf_counter()
    with _batch_gc():
        for text in decide_in_parallel(stdin, rules, postcodes, tally, jobs=jobs):
            stdout.write(text)
    stdout.flush()
    if stats:
        elapsed = time.perf_counter() - start
        lines = tally.decided + tally.errors
        print(
            f"rules {rules.version}; jobs {jobs}; start-up: postcodes {timings['postcodes']:.3f} s, rules "
            f"{timings['rules']:.3f} s; {lines} lines in {elapsed:.3f} s "
            f"({lines / elapsed if elapsed else 0:,.0f}/s); decided {tally.decided}, errors "
            f"{tally.errors}; engine evaluations {rules.evaluations}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(tally.pathways.items())),
            file=stderr,
        )
    return 0


def simulate_command(
    rules_path: Path,
    baseline_path: Path | None,
    postcodes_csv: Path | None,
    *,
    progress: bool,
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """`simulate`: replay the input through both versions and print what would change."""
    loaded = _load([rules_path, baseline_path], postcodes_csv, stderr)
    if loaded is None:
        return 2
    (candidate, baseline), postcodes, _ = loaded
    unreadable = Tally()
    referrals = tqdm(
        readable_referrals(stdin, unreadable),
        file=stderr,
        disable=not progress,
        unit=" referrals",
        mininterval=0.5,
    )
    result = compare(referrals, candidate, baseline, postcodes)
    stdout.write(format_comparison(result, unreadable.errors))
    return 0


def simulate_from_db_command(
    rules_path: Path,
    baseline_path: Path | None,
    postcodes_csv: Path | None,
    *,
    database_url: str,
    since: datetime | None,
    progress: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """`simulate --from-db`: replay the stored referrals through both versions."""
    import asyncpg

    loaded = _load([rules_path, baseline_path], postcodes_csv, stderr)
    if loaded is None:
        return 2
    (candidate, baseline), postcodes, _ = loaded
    bar = tqdm(file=stderr, disable=not progress, unit=" referrals", mininterval=0.5)
    try:
        result = asyncio.run(
            _replay_stored(database_url, since, candidate, baseline, postcodes, bar=bar)
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"router: error: cannot read the stored referrals: {type(exc).__name__}", file=stderr)
        return 2
    finally:
        bar.close()
    stdout.write(format_comparison(result))
    return 0


async def _replay_stored(
    database_url: str,
    since: datetime | None,
    candidate: CachedRules,
    baseline: CachedRules,
    postcodes: PostcodeDirectory,
    *,
    bar: tqdm[Any],
) -> Comparison:
    from services.common.db import create_pool
    from services.router.adapters.store import DecisionStore

    result = Comparison(candidate=candidate.version, baseline=baseline.version)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async for referral in DecisionStore(pool).referrals(since):
            replay_one(result, referral, candidate, baseline, postcodes)
            bar.update()
    finally:
        await pool.close()
    return result
