"""Benchmark of the whole pipeline: referrals/s delivered with nothing lost, and end-to-end latency.

`python bench/pipeline_bench.py [--seconds S]` brings up the infrastructure, moves every service's
consumer groups past what earlier runs left, starts a demo receiver (it verifies every webhook's
signature and records each delivery with its time) and real intake, router and gateway
processes, and measures:
- sustained: wrk drives intake for S seconds (16 connections); every accepted referral must come
  out as a webhook; delivered/s from the first to the last webhook; lost = stored by intake and
  never delivered; target >= 400/s with 0 lost;
- latency at a steady 50 referrals/s offered for S seconds (a paced client: at 50/s it is idle,
  not the bottleneck): p50/p95/p99 from the 201 to the webhook's arrival at the receiver;
  baseline: a bare one-hop aiokafka produce-to-consume at the same rate; target p99 <= 10x;
- restart to first message handled, for intake (spawn to first 201) and the gateway (spawn to
  the first webhook of a referral decided while it was down); the router's is in router_bench;
- scale-out: the sustained figure again with two processes of every service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    OUT,
    ensure_infrastructure,
    profiled,
    provision_agency,
    service_env,
    skip_to_end,
)
from bench.latency import one_hop_latencies, paced_posts
from bench.load import example_body, wrk
from bench.report import Row, environment, render
from bench.stack import GROUPS, Stack

AGENCY = "bench-agency"


def deliveries(record: Path, tag: str) -> dict[str, float]:
    """The first delivery time (epoch s) of each submission id starting with `tag`."""
    found: dict[str, float] = {}
    if not record.exists():
        return found
    text = record.read_text()
    # Only whole lines: the receiver may be writing the last one as it is read.
    for line in text[: text.rfind("\n") + 1].splitlines():
        item = json.loads(line)
        sid = item["assignment"]["referral"]["submission_id"]
        if sid.startswith(tag) and sid not in found:
            found[sid] = datetime.fromisoformat(item["at"]).timestamp()
    return found


def wait_delivered(record: Path, tag: str, expected: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    got = deliveries(record, tag)
    while len(got) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        got = deliveries(record, tag)
    return got


async def stored(dsn: str, tag: str) -> set[str]:
    """The submission ids starting with `tag` that intake committed (wrk does not count the
    requests still in flight when it stops, though intake may have accepted them)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT submission_id FROM referrals WHERE submission_id LIKE $1", f"{tag}%"
        )
    finally:
        await conn.close()
    return {r["submission_id"] for r in rows}


def sustained(stack: Stack, token: str, seconds: int, dsn: str) -> tuple[float | None, int, int]:
    """(delivered/s, accepted, lost) with wrk on every intake (16 connections in all): accepted
    is what intake stored, lost what was stored and never delivered."""
    tag = f"SUS-{secrets.token_hex(4)}"
    with ThreadPoolExecutor(len(stack.intakes)) as pool:
        list(
            pool.map(
                lambda s: wrk(s.url, token, f"{tag}-{s.name}", connections=16 // len(stack.intakes), seconds=seconds),
                stack.intakes,
            )
        )  # fmt: skip
    # Requests in flight when wrk stopped may still commit: read what is stored again on each
    # look, and wait until every stored referral has been delivered (or the time is up).
    deadline = time.monotonic() + 150
    while True:
        accepted = asyncio.run(stored(dsn, tag))
        got = deliveries(stack.record, tag)
        if accepted <= set(got) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # The output rate once the pipeline is full: first to last delivery (from the start of the
    # load instead, a short run would measure the pipeline's latency more than its throughput).
    span = max(got.values()) - min(got.values()) if len(got) > 1 else 0.0
    rate = (len(got) - 1) / span if span > 0 else None
    return rate, len(accepted), len(accepted - set(got))


def percentile(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def restart_gateway(stack: Stack, token: str) -> float | None:
    """Seconds from spawning the gateway to the webhook of a referral decided while it was down."""
    for g in stack.gateways:
        g.stop()
    tag = f"RST-{secrets.token_hex(4)}"
    body = example_body().replace("@SUBMISSION_ID@", tag)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient() as client:
        (
            await client.post(f"{stack.intakes[0].url}/v1/referrals", content=body, headers=headers)
        ).raise_for_status()
    await asyncio.sleep(3)  # decided by the router meanwhile
    gateway = stack.gateways[0]
    spawned = time.time()
    gateway.start()
    got = await asyncio.to_thread(wait_delivered, stack.record, tag, 1, 60)
    return got[tag] - spawned if got else None


async def restart_intake(stack: Stack, token: str) -> float | None:
    """Seconds from spawning intake to its first 201."""
    intake = stack.intakes[0]
    intake.stop()
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    body = example_body().replace("@SUBMISSION_ID@", f"RST-{secrets.token_hex(4)}")
    intake.start()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - intake.started < 60:
            try:
                answer = await client.post(
                    f"{intake.url}/v1/referrals", content=body, headers=headers
                )
                if answer.status_code == 201:
                    return time.monotonic() - intake.started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    return None


def run(stack_env: dict[str, str], seconds: int = 10) -> list[Row]:
    token = f"bench_{secrets.token_urlsafe(24)}"
    provision_agency(service_env(stack_env), AGENCY, token)
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    for group, topic in GROUPS:
        asyncio.run(skip_to_end(bootstrap, group, topic))
    record = OUT / f"received-{secrets.token_hex(4)}.jsonl"
    with Stack(stack_env, record, instances=1) as stack:
        wrk(stack.intakes[0].url, token, f"WARM-{secrets.token_hex(4)}", connections=4, seconds=2)
        with profiled(stack.gateways[0], "gateway", seconds + 10):
            rate1, accepted1, lost1 = sustained(
                stack, token, seconds, stack_env["INTAKE_DATABASE_URL"]
            )
        lat = f"LAT-{secrets.token_hex(4)}"
        accepted_at = asyncio.run(paced_posts(stack.intakes[0].url, token, lat, 50, seconds))
        got = wait_delivered(record, lat, len(accepted_at), timeout=60)
        e2e = [(got[k] - t) * 1000 for k, t in accepted_at.items() if k in got]
        hop = asyncio.run(one_hop_latencies(bootstrap, 50, seconds))
        restart_i = asyncio.run(restart_intake(stack, token))
        restart_g = asyncio.run(restart_gateway(stack, token))
    with Stack(stack_env, record, instances=2) as stack:
        rate2, accepted2, lost2 = sustained(stack, token, seconds, stack_env["INTAKE_DATABASE_URL"])
    p = {q: percentile(e2e, q) for q in (50, 95, 99)}
    hop99 = percentile(hop, 99)
    lat_note = f"p50 {p[50] or 0:.0f} ms, p95 {p[95] or 0:.0f} ms; {len(e2e)} of {len(accepted_at)} delivered"
    return [
        Row("3 pipeline", "delivered referrals/s, sustained", rate1, "/s", target=">= 400/s, 0 lost",
            passed=None if rate1 is None else rate1 >= 400 and lost1 == 0,
            note=f"{accepted1} accepted, {lost1} lost"),
        Row("3 pipeline", "accepted -> webhook p99 at 50/s", p[99], "ms",
            "bare one-hop produce->consume p99", hop99, "<= 10x",
            None if p[99] is None or hop99 is None else p[99] <= 10 * hop99, lat_note),
        Row("5 restart", "intake: spawn to first 201", restart_i, "s", target="<= 5 s",
            passed=None if restart_i is None else restart_i <= 5),
        Row("5 restart", "gateway: spawn to first webhook", restart_g, "s", target="<= 5 s",
            passed=None if restart_g is None else restart_g <= 5),
        Row("6 scale-out", "pipeline x2 of every service, delivered/s", rate2, "/s",
            "pipeline x1", rate1, note=f"{accepted2} accepted, {lost2} lost",
            passed=False if lost2 else None),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    print(render(environment(), run(ensure_infrastructure(), args.seconds)))


if __name__ == "__main__":
    main()
