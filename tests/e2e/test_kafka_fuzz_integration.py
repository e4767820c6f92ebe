"""The Kafka edge fuzzer: odd messages on every consumed topic, against the real services.

Rules checked (intake, router and provider gateway as real processes, real Kafka and
PostgreSQL): after a few hundred generated messages (`tests/support/fuzz.py`),
- every consumer is alive: each service is ready, and a valid submission sent last takes effect;
- every message is accounted for by every service that consumes its topic, by its (topic,
  partition, offset): it took effect once (a submission became one referral, a received
  referral one decision and one assignment), or it was rejected on `referrals.rejected.v1`
  (submissions, matched by submission id), or it was dead-lettered on `ops.deadletter.v1` with
  a reason by that service;
- the run's marker appears in no service log (spans included) and on no `ops.*` topic.
The summary line (`kafka-fuzz: sent N messages, ...`) is shown in pytest's terminal summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings

from shared.topics import (
    OPS_ALERTS,
    OPS_DEADLETTER,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
)
from tests.support.fuzz import CONSUMERS, Fuzz, fuzz_message, valid
from tests.support.kafka import Message, connection, end_offsets, read_since
from tests.support.pipeline import Pipeline
from tests.support.report import report
from tests.support.wait import eventually

pytestmark = pytest.mark.integration
MESSAGES = 200
MARKER = f"FZMARK{uuid4().hex[:10]}"
SERVICES = {f"urn:nottssas:{s}" for s in ("intake", "router", "provider_gateway")}
WATCHED = (
    OPS_DEADLETTER,
    OPS_EVENTS,
    OPS_ALERTS,
    REFERRALS_REJECTED,
    REFERRALS_RECEIVED,
    REFERRALS_DECIDED,
)


async def _send(bootstrap: str, messages: list[Fuzz]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    try:
        for m in messages:
            for _ in range(2 if m.kind == "repeat" else 1):
                meta = await producer.send_and_wait(m.topic, m.value, key=m.key, headers=m.headers)
                m.sent_at.append((meta.partition, meta.offset))
    finally:
        await producer.stop()


def _outcome(m: Fuzz, service: str, seen: dict[str, Any], at: tuple[int, int]) -> str | None:
    if (service, m.topic, *at) in seen["dead"]:
        return "dead-lettered"
    if m.topic == REFERRALS_SUBMITTED and m.submission_id in seen["rejected"]:
        return "rejected"
    if not m.valid:
        return None
    if m.topic == REFERRALS_SUBMITTED:
        return "took effect" if len(seen["accepted"][m.submission_id]) == 1 else None
    if service == "router":
        return "took effect" if m.referral_id in seen["decided"] else None
    return "took effect" if m.referral_id in seen["assigned"] else None


def _seen(messages: list[Message]) -> dict[str, Any]:
    seen: dict[str, Any] = {"dead": set(), "rejected": set(), "decided": set(), "assigned": set()}
    seen["accepted"] = defaultdict(set)
    for m in messages:
        if dict(m.headers).get("ce_source", b"").decode(errors="replace") not in SERVICES:
            continue  # the fuzz's own messages on the topics it also reads
        body = json.loads(m.value)
        if m.topic == OPS_DEADLETTER:
            letter = (body["source_topic"], body["source_partition"], body["source_offset"])
            seen["dead"].add((body["service"], *letter))
        elif m.topic == REFERRALS_REJECTED:
            seen["rejected"].add(body["submission_id"])
        elif m.topic == REFERRALS_RECEIVED:
            seen["accepted"][body["submission"]["submission_id"]].add(body["referral_id"])
        elif m.topic == REFERRALS_DECIDED:
            seen["decided"].add(body["referral_id"])
        elif m.topic == OPS_EVENTS and body["service"] == "provider_gateway":
            seen["assigned"].add(body["referral_id"])
    return seen


def _account(messages: list[Fuzz], seen: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for m in messages:
        for at in m.sent_at:
            for service in CONSUMERS[m.topic]:
                counts[_outcome(m, service, seen, at) or "unaccounted"] += 1
    return counts


def _generate(count: int, example: dict[str, Any]) -> list[Fuzz]:
    """`count` messages drawn by hypothesis, one per example (so they vary, unlike one big draw,
    whose first example is the simplest one hypothesis can make)."""
    drawn: list[Fuzz] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_message(MARKER, example))
    def draw(message: Fuzz) -> None:
        drawn.append(message)

    draw()
    return drawn


def test_every_fuzzed_message_is_accounted_for_and_every_consumer_lives_on(
    pipeline: Pipeline, example_submission: dict[str, Any]
) -> None:
    bootstrap = pipeline.intake.env["KAFKA_BOOTSTRAP_SERVERS"]
    messages = _generate(MESSAGES - 1, example_submission)
    last = valid(REFERRALS_SUBMITTED, "valid", MARKER, example_submission)
    messages.append(last)  # sent last: proves intake still takes effect after the rest
    start = asyncio.run(end_offsets(bootstrap, WATCHED))
    began = time.monotonic()
    asyncio.run(_send(bootstrap, messages))

    counts = Counter[str]()

    def all_accounted() -> bool:
        nonlocal counts
        counts = _account(messages, _seen(asyncio.run(read_since(bootstrap, start))))
        return not counts["unaccounted"]

    with contextlib.suppress(AssertionError):  # reported below, then asserted with the details
        eventually(all_accounted, "every fuzzed message accounted for", timeout=120, interval=2)
    sent = sum(len(m.sent_at) for m in messages)
    report(
        f"kafka-fuzz: sent {sent} messages ({sent} x consumers = {sum(counts.values())}), "
        f"took effect {counts['took effect']}, rejected {counts['rejected']}, "
        f"dead-lettered {counts['dead-lettered']}, unaccounted {counts['unaccounted']} "
        f"in {time.monotonic() - began:.0f} s; kinds {dict(Counter(m.kind for m in messages))}"
    )
    assert counts["unaccounted"] == 0, Counter((m.topic, m.kind) for m in messages)
    final = _seen(asyncio.run(read_since(bootstrap, start)))
    assert _outcome(last, "intake", final, last.sent_at[0]) == "took effect"
    for process in (pipeline.intake, pipeline.router, pipeline.gateway):
        assert httpx.get(process.url + "/readyz", timeout=5).status_code == 200, process.tail()
    ours = {(m.topic, *at) for m in messages for at in m.sent_at}
    written = [m for m in asyncio.run(read_since(bootstrap, start)) if m.topic.startswith("ops.")]
    _assert_marker_nowhere(
        pipeline, [m for m in written if (m.topic, m.partition, m.offset) not in ours]
    )


def _assert_marker_nowhere(pipeline: Pipeline, messages: list[Message]) -> None:
    marker = MARKER.encode()
    for process in pipeline.all:
        log = Path(process.log_path).read_bytes()
        assert marker not in log, f"{process.name} logged input: {_around(log, marker)}"
    for m in messages:
        raw = b"".join([m.key or b"", *(k.encode() + v for k, v in m.headers), m.value])
        assert marker not in raw, f"{m.topic} carries input: {_around(raw, marker)}"


def _around(raw: bytes, marker: bytes) -> str:
    at = raw.find(marker)
    return raw[max(0, at - 300) : at + 100].decode(errors="replace")
