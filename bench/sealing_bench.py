"""Benchmark of sealing personal fields (issue 14): its cost, against a same-run baseline.

`python bench/sealing_bench.py [--seconds S]` runs the whole pipeline twice in one run, once
with `PII_SEALING=off` (a benchmark-only baseline: intake publishes clear, as before issue 14)
and once as deployed (sealing on: a Tink data key per referral, wrapped and stored; fourteen
fields sealed; the gateway unseals each webhook), and measures in each (after a warm-up, on an
empty pipeline):
- accepted referrals/s: wrk on intake for S seconds, 16 connections (201s per second);
- end-to-end latency at a steady 5 referrals/s for S seconds (well under what the pipeline
  sustains on this machine, so it measures the work per referral rather than a queue): the 201
  to the webhook's arrival at the demo receiver (p50, p99).
First, the work itself in this process, per referral: sealing (a new data key, wrapped, and
fourteen fields) and opening, beside serialising the submission to JSON.
The baseline runs first and the on run second, so a warming machine favours neither much; the
figures are the cost of sealing on this machine, not targets.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import time
from pathlib import Path
from uuid import uuid4

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import OUT, ensure_infrastructure, provision_agency, service_env, skip_to_end
from bench.latency import paced_posts
from bench.load import example_body, wrk
from bench.pipeline_bench import percentile, wait_delivered
from bench.report import Row, environment, render
from bench.stack import GROUPS, Stack
from services.common.sealing import (
    EnvKek,
    new_data_key,
    open_data_key,
    seal_submission,
    unseal_submission,
)
from shared import ReferralSubmission

AGENCY = "bench-sealing"
RATE = 5  # referrals/s offered for the latency figure


def measure(
    stack_env: dict[str, str], token: str, sealing: str, seconds: int
) -> tuple[float, list[float]]:
    """(accepted/s, end-to-end latencies in ms) of one pipeline with PII_SEALING=`sealing`."""
    record = OUT / f"received-sealing-{sealing}-{secrets.token_hex(4)}.jsonl"
    with Stack(stack_env | {"PII_SEALING": sealing}, record, instances=1) as stack:
        url = stack.intakes[0].url
        wrk(url, token, f"WARM-{secrets.token_hex(4)}", connections=4, seconds=2)
        wait_delivered(record, "WARM-", 1, timeout=60)
        # Latency first, on an empty pipeline; then the throughput load (its backlog would
        # otherwise be in the latency figure).
        tag = f"SLAT-{secrets.token_hex(4)}"
        accepted_at = asyncio.run(paced_posts(url, token, tag, RATE, seconds))
        got = wait_delivered(record, tag, len(accepted_at), timeout=90)
        load = wrk(url, token, f"SEAL-{secrets.token_hex(4)}", connections=16, seconds=seconds)
    return load.created_per_s, [(got[k] - t) * 1000 for k, t in accepted_at.items() if k in got]


def in_process(count: int = 2000) -> tuple[float, float, float]:
    """Per referral, in this process (µs): seal (new data key, wrap, fourteen fields), open
    (unwrap, fourteen fields), and the baseline: serialising the submission to JSON."""
    kek = EnvKek.parse("v1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(), "v1")
    submission = ReferralSubmission.model_validate_json(
        example_body().replace("@SUBMISSION_ID@", "BENCH-1")
    )
    ids = [uuid4() for _ in range(count)]
    started = time.perf_counter()
    sealed = []
    for referral_id in ids:
        key, wrapped = new_data_key(referral_id, kek)
        sealed.append((seal_submission(submission, key), wrapped))
    seal_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for body, wrapped in sealed:
        unseal_submission(body, open_data_key(wrapped, kek))
    open_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in ids:
        submission.model_dump_json()
    return seal_us, open_us, (time.perf_counter() - started) / count * 1e6


def run(stack_env: dict[str, str], seconds: int = 10) -> list[Row]:
    token = f"bench_{secrets.token_urlsafe(24)}"
    provision_agency(service_env(stack_env), AGENCY, token)
    for group, topic in GROUPS:
        asyncio.run(skip_to_end(stack_env["KAFKA_BOOTSTRAP_SERVERS"], group, topic))
    seal_us, open_us, dump_us = in_process()
    off_rate, off_lat = measure(stack_env, token, "off", seconds)
    on_rate, on_lat = measure(stack_env, token, "on", seconds)
    p = {
        (mode, q): percentile(lat, q)
        for mode, lat in (("off", off_lat), ("on", on_lat))
        for q in (50, 99)
    }
    return [
        Row("7 sealing", "seal one referral in process (new key, wrap, 14 fields)", seal_us, "us",
            "serialise the submission to JSON", dump_us),
        Row("7 sealing", "open one referral in process (unwrap, 14 fields)", open_us, "us",
            "serialise the submission to JSON", dump_us),
        Row("7 sealing", "accepted referrals/s, personal fields sealed", on_rate, "/s",
            "sealing off (bench-only baseline)", off_rate),
        Row("7 sealing", f"accepted -> webhook p99 at {RATE}/s, sealed", p[("on", 99)], "ms",
            "sealing off (bench-only baseline)", p[("off", 99)],
            note=f"p50 {p[('on', 50)] or 0:.0f} ms vs {p[('off', 50)] or 0:.0f} ms off; "
            f"{len(on_lat)}/{len(off_lat)} delivered"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    print(render(environment(), run(ensure_infrastructure(), args.seconds)))


if __name__ == "__main__":
    main()
