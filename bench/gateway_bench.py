"""Benchmark of the provider gateway alone: a backlog of referrals, drained into verified webhooks.

`python bench/gateway_bench.py [--referrals N]` brings up the infrastructure, moves the gateway's
consumer groups to the end of `referrals.received.v1` and `referrals.decided.v1`, publishes N
real `ReferralReceived` events (the contract's example submission, in clear: the gateway sends a
clear body as it is) and their decisions (the router's own `decide`) while no gateway runs, then
starts a demo receiver (it verifies every signature and records each delivery with its time) and
a real gateway (`python -m services.provider_gateway serve`) and measures:
- delivered/s: verified webhooks per second from the first to the last, every one of the N
  delivered (lost: decided and never delivered in the time allowed);
- where the time goes, from the gateway's own rows: assignments made per second (the two
  consumers) and deliveries recorded per second (the delivery workers), each first to last;
- spawn to first webhook.
Each figure is the gateway's alone; the pipeline's figures are `pipeline_bench.py`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import asyncpg

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    OUT,
    Service,
    ensure_infrastructure,
    free_port,
    profiled,
    service_env,
    skip_to_end,
)
from bench.intake_bench import cpu_ms_per, cpu_seconds
from bench.kafka_tools import fill
from bench.load import example_body
from bench.report import Row, environment, render
from bench.stack import PROVIDERS
from services.router.engine import load_decider
from shared import ReferralReceived, ReferralSubmission
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED

GROUPS = (
    ("provider-gateway-received", REFERRALS_RECEIVED),
    ("provider-gateway-decisions", REFERRALS_DECIDED),
)


def events(n: int, tag: str) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """N (key, ReferralReceived) and their N (key, Decision), keyed by referral id."""
    decide = load_decider()
    received, decided = [], []
    for i in range(n):
        body = example_body().replace("@SUBMISSION_ID@", f"{tag}-{i}")
        event = ReferralReceived(
            referral_id=uuid4(),
            received_at=datetime.now(UTC),
            referrer_agency="bench-agency",
            submission=ReferralSubmission.model_validate_json(body),
        )
        key = str(event.referral_id)
        decision = decide(event).model_copy(update={"decided_at": datetime.now(UTC)})
        received.append((key, event.model_dump_json().encode()))
        decided.append((key, decision.model_dump_json().encode()))
    return received, decided


def delivered(record: Path, tag: str) -> dict[str, float]:
    """The first delivery time (epoch s) of each submission id starting with `tag`."""
    found: dict[str, float] = {}
    if record.exists():
        text = record.read_text()
        # Only whole lines: the receiver may be writing the last one as it is read.
        for line in text[: text.rfind("\n") + 1].splitlines():
            item = json.loads(line)
            sid = item["assignment"]["decision"]["submission_id"]
            if sid.startswith(tag) and sid not in found:
                found[sid] = datetime.fromisoformat(item["at"]).timestamp()
    return found


def per_second(stamps: list[datetime]) -> float | None:
    if len(stamps) < 2:
        return None
    span = (max(stamps) - min(stamps)).total_seconds()
    return (len(stamps) - 1) / span if span > 0 else None


async def stages(dsn: str, since: datetime) -> tuple[float | None, float | None]:
    """(assignments made/s, webhook deliveries recorded/s) from the gateway's rows."""
    conn = await asyncpg.connect(dsn)
    try:
        made = await conn.fetch("SELECT created_at FROM assignments WHERE created_at >= $1", since)
        done = await conn.fetch(
            "SELECT delivered_at FROM deliveries WHERE channel = 'webhook' AND delivered_at >= $1",
            since,
        )
    finally:
        await conn.close()
    return per_second([r["created_at"] for r in made]), per_second(
        [r["delivered_at"] for r in done]
    )


async def measure(stack: dict[str, str], n: int) -> list[Row]:
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    for group, topic in GROUPS:
        await skip_to_end(bootstrap, group, topic)
    tag = f"GW-{secrets.token_hex(4)}"
    received, decided = events(n, tag)
    since = datetime.now(UTC)
    await fill(bootstrap, REFERRALS_RECEIVED, TYPE_RECEIVED, received)
    await fill(bootstrap, REFERRALS_DECIDED, TYPE_DECIDED, decided)
    record = OUT / f"received-{tag}.jsonl"
    port, gw_port = free_port(), free_port()
    hooks = {
        f"GATEWAY_{p.upper()}_WEBHOOK_URL": f"http://127.0.0.1:{port}/webhooks/{p}"
        for p in PROVIDERS
    }
    env = service_env(stack, **hooks)
    receiver = Service(
        "receiver",
        ["services.demo_receiver", "--port", str(port), "--record", str(record)],
        env,
        port,
    )
    gateway = Service(
        "gateway-1",
        ["services.provider_gateway", "serve"],
        env | {"GATEWAY_HTTP_PORT": str(gw_port)},
        gw_port,
    )
    receiver.start().wait_ready("/healthz", timeout=30)
    spawned = time.time()
    gateway.start()
    cpu: dict[str, tuple[float | None, float | None]] = {}
    try:
        with profiled(gateway, "gateway-backlog", 20):
            deadline = time.monotonic() + 180
            got = delivered(record, tag)
            while len(got) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                got = delivered(record, tag)
        cpu = {s.name: (0.0, cpu_seconds(s.pid)) for s in (gateway, receiver)}
    finally:
        gateway.stop()
        receiver.stop()
    made, recorded = await stages(stack["GATEWAY_DATABASE_URL"], since)
    span = max(got.values()) - min(got.values()) if len(got) > 1 else 0.0
    rate = (len(got) - 1) / span if span > 0 else None
    first = min(got.values()) - spawned if got else None
    note = f"{n} referrals, {n - len(got)} lost"
    return [
        Row("8 gateway", "webhooks delivered/s from a backlog", rate, "/s", note=note,
            passed=False if len(got) < n else None),
        Row("8 gateway", "assignments made/s (its consumers)", made, "/s"),
        Row("8 gateway", "webhook deliveries recorded/s (its workers)", recorded, "/s"),
        Row("8 gateway", "spawn to first webhook of the backlog", first, "s"),
        Row("8 gateway", "gateway CPU per delivered referral, start-up included",
            cpu_ms_per(*cpu.get("gateway-1", (None, None)), len(got)), "ms",
            "demo receiver CPU per delivery", cpu_ms_per(*cpu.get("receiver", (None, None)), len(got))),
    ]  # fmt: skip


def run(stack: dict[str, str], referrals: int = 1000) -> list[Row]:
    return asyncio.run(measure(stack, referrals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=1000)
    args = parser.parse_args()
    print(render(environment(), run(ensure_infrastructure(), args.referrals)))


if __name__ == "__main__":
    main()
