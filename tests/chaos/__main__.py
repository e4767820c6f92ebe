"""`python -m tests.chaos [--mode short|full|long] [--rows NAME,...]`: run the fault matrix.

Starts (or reuses) the private Kafka and PostgreSQL with scripts/infra.sh, starts the pipeline
as real processes on free ports, runs one row per fault and prints a Markdown table: accepted,
delivered, lost, duplicate assignments, drain time and longest delay after recovery. Exits 1
if any referral was lost or delivered under two webhook-ids, a row could not run, or after a
provider outage a waiting delivery arrived more than 60 s after the provider answered again.
Service logs and the receiver's record are kept in $DEV_DIR/chaos/<time>/.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

from tests.chaos.matrix import (
    ALL_ROWS,
    MODES,
    RECOVERY_BOUND_SECONDS,
    RowResult,
    Stack,
    recovery_too_slow,
    run_row,
)
from tests.support.infra import DEV, ensure_infrastructure
from tests.support.pipeline import build_pipeline, running

HEADER = (
    "| fault | accepted | delivered | lost | duplicate assignments | drain time (s) "
    "| longest delay after recovery (s) | refused | client retries | row time (s) |"
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _refused(result: RowResult) -> str:
    total = sum(n for _, n in result.refused_by)
    detail = ", ".join(f"{status}: {n}" for status, n in result.refused_by)
    return f"{total} ({detail})" if total else "0"


def table_line(result: RowResult) -> str:
    o = result.outcome
    if o is None:
        return f"| {result.name} | FAILED: {result.error} |"
    line = (
        f"| {result.name} | {o.accepted} | {o.delivered} | {len(o.lost)} | {len(o.duplicates)} "
        f"| {_seconds(o.drain_seconds)} | {_seconds(o.longest_delay_seconds)} | {_refused(result)} "
        f"| {result.retries} | {result.seconds:.0f} |"
    )
    return line + (f" {result.error}" if result.error else "")


async def _run(mode_name: str, rows: tuple[str, ...]) -> list[RowResult]:
    mode = MODES[mode_name]
    stack_env = ensure_infrastructure()
    workdir = DEV / "chaos" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True)
    # Spans off and the self-monitoring at its normal pace: the matrix measures delivery,
    # and the machine it runs on is shared.
    pipeline = build_pipeline(
        stack_env,
        workdir,
        OTEL_TRACES_EXPORTER="none",
        INTAKE_MONITOR_INTERVAL_SECONDS="30",
        ROUTER_MONITOR_INTERVAL_SECONDS="30",
        GATEWAY_MONITOR_INTERVAL_SECONDS="30",
    )
    results = []
    print(
        f"fault matrix, mode {mode_name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; logs in {workdir}"
    )
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    with running(pipeline):
        stack = Stack(pipeline, [])
        for name in rows:
            result = await run_row(name, mode, stack)
            results.append(result)
            print(table_line(result), flush=True)
            o = result.outcome
            if o is not None and not o.ok:
                print(f"  lost: {o.lost[:20]}\n  duplicates: {o.duplicates[:20]}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument(
        "--rows", help=f"comma-separated subset of the mode's rows, out of: {', '.join(ALL_ROWS)}"
    )
    args = parser.parse_args(argv)
    rows = MODES[args.mode].rows
    if args.rows:
        wanted = tuple(r.strip() for r in args.rows.split(","))
        unknown = [r for r in wanted if r not in (*ALL_ROWS, "provider outage 30 min")]
        if unknown:
            parser.error(f"--rows: unknown row(s) {unknown}")
        rows = wanted
    started = time.monotonic()
    results = asyncio.run(_run(args.mode, rows))
    failed = [
        r.name
        for r in results
        if r.outcome is None or not r.outcome.ok or r.error or recovery_too_slow(r)
    ]
    slow = [r.name for r in results if recovery_too_slow(r)]
    if slow:
        print(
            f"chaos: waiting deliveries took over {RECOVERY_BOUND_SECONDS:.0f} s after recovery in {slow}"
        )
    total = sum(r.outcome.accepted for r in results if r.outcome)
    lost = sum(len(r.outcome.lost) for r in results if r.outcome)
    dupes = sum(len(r.outcome.duplicates) for r in results if r.outcome)
    print(
        f"chaos: {len(results)} rows, {total} referrals accepted, {lost} lost, "
        f"{dupes} duplicated, in {time.monotonic() - started:.0f} s"
        + (f"; FAILED rows: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
