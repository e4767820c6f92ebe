"""Benchmark of intake's HTTP ingress against the floors under it, all driven by native tools.

`python bench/intake_bench.py [--seconds S] [--connections C]` brings up Kafka and PostgreSQL
(`scripts/infra.sh up`), starts a real intake (`python -m services.intake serve`) with a bench
agency and key, and measures in the same run, at the same concurrency C:
- accepted referrals/s over HTTP, wrk with C connections for S seconds (after a short warm-up);
  each request is authenticated, validated, stored with its timeline and outbox rows in one
  transaction and answered 201 (only 201s count);
- how long the outbox relay takes, after wrk stops, to have published them all;
- baseline 1: bare INSERT+COMMIT of the same JSON, pgbench with C clients (the floor of any
  durable accept path on this database); target intake >= 0.5x;
- baseline 2: a bare FastAPI POST route on uvicorn (`bench/bare_app.py`), the same wrk (the
  ceiling of the HTTP stack on this machine);
- CPU per accepted referral: the intake process's CPU time (user + system, from /proc) over the
  wrk run and the outbox drain after it, divided by the 201s; beside the bare endpoint's CPU
  per request. On a machine shared with other work this moves far less than the rates do;
- scale-out: two intake processes on the one database, each driven by its own wrk with C/2
  connections, against the one process.
Figures only: never asserted. The accepted referrals are real and stay on
`referrals.received.v1`; later stages skip past them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    Service,
    ensure_infrastructure,
    free_port,
    profiled,
    provision_agency,
    service_env,
)
from bench.load import WrkResult, pgbench_inserts, wrk
from bench.report import Row, at_least, environment, render

AGENCY = "bench-agency"


def intake(stack: dict[str, str], name: str) -> Service:
    port = free_port()
    env = service_env(stack, INTAKE_HTTP_PORT=str(port))
    return Service(name, ["services.intake", "serve"], env, port)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (None where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per(before: float | None, after: float | None, count: int) -> float | None:
    if before is None or after is None or count == 0:
        return None
    return 1000 * (after - before) / count


async def outbox_drain_seconds(dsn: str, limit: float = 120.0) -> float | None:
    """Seconds until no outbox row is unsent (None if not within `limit` seconds)."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
        return None
    finally:
        await conn.close()


def run(stack: dict[str, str], seconds: int = 10, connections: int = 16) -> list[Row]:
    token = f"bench_{secrets.token_urlsafe(24)}"
    provision_agency(service_env(stack), AGENCY, token)
    dsn = stack["INTAKE_DATABASE_URL"]
    tag = secrets.token_hex(4)
    one = intake(stack, "intake-1").start().wait_ready()
    try:
        wrk(one.url, token, f"BENCH-{tag}-warm", connections=connections, seconds=3)
        asyncio.run(outbox_drain_seconds(dsn))
        cpu_before = cpu_seconds(one.pid)
        with profiled(one, "intake", seconds):
            single = wrk(one.url, token, f"BENCH-{tag}", connections=connections, seconds=seconds)
        drained = asyncio.run(outbox_drain_seconds(dsn))
        intake_cpu = cpu_ms_per(cpu_before, cpu_seconds(one.pid), single.statuses.get(201, 0))
        two = intake(stack, "intake-2").start().wait_ready()
        try:
            with ThreadPoolExecutor(2) as pool:
                halves = list(
                    pool.map(
                        lambda s: wrk(
                            s.url,
                            token,
                            f"BENCH-{tag}-{s.name}",
                            connections=connections // 2,
                            seconds=seconds,
                        ),
                        (one, two),
                    )
                )
            asyncio.run(outbox_drain_seconds(dsn))
        finally:
            two.stop()
    finally:
        one.stop()
    inserts = pgbench_inserts(dsn, clients=connections, seconds=seconds)
    bare = Service(
        "bare-app", ["bench.bare_app", str(port := free_port())], service_env(stack), port
    )
    bare.start().wait_ready()
    try:
        cpu_before = cpu_seconds(bare.pid)
        bare_result = wrk(bare.url, token, f"BARE-{tag}", connections=connections, seconds=seconds)
        bare_cpu = cpu_ms_per(cpu_before, cpu_seconds(bare.pid), bare_result.statuses.get(201, 0))
    finally:
        bare.stop()
    found = rows(single, drained, inserts, bare_result, halves, connections)
    return [*found[:2], cpu_row(intake_cpu, bare_cpu), *found[2:]]


def cpu_row(intake_ms: float | None, bare_ms: float | None) -> Row:
    return Row("1 intake", "intake CPU per accepted referral (relay included)", intake_ms, "ms",
               "bare FastAPI POST, CPU per request", bare_ms, "", None,
               "process CPU time / 201s: steadier than the rates on a shared machine")  # fmt: skip


def rows(  # noqa: PLR0917  (the figures of one run, each named)
    single: WrkResult,
    drained: float | None,
    inserts: float,
    bare: WrkResult,
    halves: list[WrkResult],
    connections: int,
) -> list[Row]:
    accepted = single.created_per_s
    other = {k: v for k, v in single.statuses.items() if k != 201}
    note = f"wrk {connections} conns, p99 {single.p99_ms:.0f} ms" + (
        f", non-201 {other}" if other else ""
    )
    return [
        Row("1 intake", "accepted referrals/s over HTTP", accepted, "/s",
            f"bare INSERT+COMMIT, pgbench {connections} clients", inserts, ">= 0.5x",
            at_least(accepted, 0.5 * inserts), note),
        Row("1 intake", "accepted referrals/s over HTTP", accepted, "/s",
            "bare FastAPI POST on uvicorn, same wrk", bare.created_per_s, "", None,
            f"bare p99 {bare.p99_ms:.0f} ms"),
        Row("1 intake", "outbox relayed everything, after the last answer", drained, "s"),
        Row("6 scale-out", "intake x2 processes, accepted/s", sum(h.created_per_s for h in halves),
            "/s", "intake x1", accepted, "", None, f"2 wrk x {connections // 2} conns"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    found = run(ensure_infrastructure(), args.seconds, args.connections)
    print(render(environment(), found))


if __name__ == "__main__":
    main()
