"""Benchmark of the router: decided-and-published per second from a pre-filled topic.

`python bench/router_bench.py [--referrals N]` brings up the infrastructure, moves the router's
consumer group to the end of `referrals.received.v1`, publishes N real `ReferralReceived`
events there (the contract's example submission, each with its own referral and submission
id) while no router runs, then starts a real router (`python -m services.router serve`) and
measures, from the broker timestamps of its `referrals.decided.v1` messages:
- decided-and-published per second (each decision is stored once in PostgreSQL and published
  with its ops event, acks=all);
- restart to first message handled: from spawning the process to its first decision;
- scale-out: the same with two router processes in the one consumer group (3 partitions);
- CPU per decided referral: the single router's process CPU time (user + system, from /proc)
  from ready to its last decision, over the decisions (steadier than the rate when shared);
- baseline: a bare aiokafka consume-and-produce loop over the same N messages, one process,
  same producer guarantees (acks=all, idempotent), committing after each batch; target
  router >= 0.8x.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    Service,
    ensure_infrastructure,
    ensure_topic,
    free_port,
    profiled,
    service_env,
    skip_to_end,
)
from bench.intake_bench import cpu_ms_per, cpu_seconds
from bench.kafka_tools import Watch, end_offsets, fill, passthrough, rate
from bench.load import example_body
from bench.report import Row, at_least, environment, render
from services.router.app import GROUP_ID
from shared import ReferralReceived, ReferralSubmission
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED

SINK = "bench.passthrough.v1"


def received_events(n: int, tag: str) -> list[tuple[str, bytes]]:
    events = []
    for i in range(n):
        body = example_body().replace("@SUBMISSION_ID@", f"BENCH-{tag}-{i}")
        referral_id = uuid4()
        event = ReferralReceived(
            referral_id=referral_id,
            received_at=datetime.now(UTC),
            referrer_agency="bench-agency",
            submission=ReferralSubmission.model_validate_json(body),
        )
        events.append((str(referral_id), event.model_dump_json().encode()))
    return events


async def drain(
    stack: dict[str, str], bootstrap: str, n: int, instances: int
) -> tuple[float | None, float | None, float | None]:
    """(decisions/s, seconds from spawn to first decision, ms of CPU per decision: one router
    only) with `instances` routers."""
    await skip_to_end(bootstrap, GROUP_ID, REFERRALS_RECEIVED)
    events = received_events(n, uuid4().hex[:8])
    await fill(bootstrap, REFERRALS_RECEIVED, TYPE_RECEIVED, events)
    watch = await Watch(bootstrap, REFERRALS_DECIDED, {k for k, _ in events}).start()
    routers, cpu = [], None
    for i in range(instances):
        port = free_port()
        env = service_env(stack, ROUTER_HTTP_PORT=str(port))
        routers.append(Service(f"router-{i + 1}", ["services.router", "serve"], env, port))
    spawned = time.time()
    for r in routers:
        r.start()
    try:
        if instances == 1:  # the profile: py-spy on the router while it drains (when asked)
            routers[0].wait_ready()
            cpu_before = cpu_seconds(routers[0].pid)
            with profiled(routers[0], "router", 15):
                stamps = await watch.until_all(seconds=180)
            cpu = cpu_ms_per(cpu_before, cpu_seconds(routers[0].pid), len(stamps))
        else:
            stamps = await watch.until_all(seconds=180)
    finally:
        for r in routers:
            r.stop()
    first = (min(stamps.values()) / 1000 - spawned) if stamps else None
    if len(stamps) < n:
        print(f"   router x{instances}: only {len(stamps)} of {n} decided in 180 s", flush=True)
    return rate(stamps), first, cpu


async def measure(stack: dict[str, str], n: int) -> list[Row]:
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    await ensure_topic(bootstrap, SINK)
    one, first, cpu = await drain(stack, bootstrap, n, 1)
    two, _, _ = await drain(stack, bootstrap, n, 2)
    start = await end_offsets(bootstrap, REFERRALS_RECEIVED)
    await fill(
        bootstrap, REFERRALS_RECEIVED, "uk.nottssas.bench.passthrough", received_events(n, "bare")
    )
    bare = await passthrough(bootstrap, REFERRALS_RECEIVED, SINK, n, start)
    return [
        Row("2 router", "decided and published/s from a full topic", one, "/s",
            "bare aiokafka consume+produce loop", bare, ">= 0.8x", at_least(one, 0.8 * (bare or 0)),
            f"{n} referrals"),
        Row("2 router", "router CPU per decided referral (relay included)", cpu, "ms",
            note="process CPU, ready to last decision / decisions: steadier when shared"),
        Row("5 restart", "router: spawn to first decision", first, "s", target="<= 5 s",
            passed=None if first is None else first <= 5),
        Row("6 scale-out", "router x2 processes, decided/s", two, "/s", "router x1", one),
    ]  # fmt: skip


def run(stack: dict[str, str], referrals: int = 2000) -> list[Row]:
    return asyncio.run(measure(stack, referrals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=2000)
    args = parser.parse_args()
    print(render(environment(), run(ensure_infrastructure(), args.referrals)))


if __name__ == "__main__":
    main()
