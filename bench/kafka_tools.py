"""Kafka for the benchmarks: fill a topic with real events, and watch another for their results.

Rules kept here:
- events are published as the services publish them (CloudEvents binary-mode headers, the
  referral id as the key, acks=all, idempotent producer);
- `Watch` reads a topic from its end as it was when the watch began, so it sees only what is
  published afterwards, and keeps each wanted key's first broker timestamp (ms): rates and
  first-message times are read from the broker's clock, not from this process's polling;
- the bare passthrough (the router's baseline) is a plain aiokafka loop with the same producer
  guarantees: read a batch, publish one message per input, wait for the acks, commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import connection
from shared import ce_headers


def producer(bootstrap: str, linger_ms: int = 5) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        **connection(),
    )


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic` (a consumer with no subscription has no metadata for it yet)."""
    found = consumer.partitions_for_topic(topic)
    if found is None:  # fetch the metadata of every topic
        found = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)
    if not found:
        raise SystemExit(f"topic {topic} does not exist (scripts/create_topics.sh makes them)")
    return [TopicPartition(topic, p) for p in sorted(found)]


async def fill(
    bootstrap: str, topic: str, ce_type: str, events: Iterable[tuple[str, bytes]]
) -> int:
    """Publish (key, body) pairs to `topic` as CloudEvents; the number published."""
    out = producer(bootstrap)
    await out.start()
    try:
        sent = []
        for key, body in events:
            headers = ce_headers(
                type=ce_type, source="urn:nottssas:bench", time=datetime.now(UTC), subject=key
            )
            sent.append(
                await out.send(
                    topic,
                    body,
                    key=key.encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            )
        await asyncio.gather(*sent)
        return len(sent)
    finally:
        await out.stop()


class Watch:
    """The first broker timestamp of each wanted key published to `topic` after `start`."""

    def __init__(self, bootstrap: str, topic: str, keys: set[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
        )
        self.topic, self.keys = topic, keys
        self.seen: dict[str, int] = {}

    async def start(self) -> Watch:
        await self.consumer.start()
        parts = await partitions(self.consumer, self.topic)
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for p in parts:  # resolve the end offsets now, before anything new is published
            await self.consumer.position(p)
        return self

    async def until_all(self, seconds: float) -> dict[str, int]:
        deadline = time.monotonic() + seconds
        try:
            while len(self.seen) < len(self.keys) and time.monotonic() < deadline:
                for batch in (await self.consumer.getmany(timeout_ms=200)).values():
                    for m in batch:
                        key = m.key.decode() if m.key else ""
                        if key in self.keys and key not in self.seen:
                            self.seen[key] = m.timestamp
        finally:
            await self.consumer.stop()
        return self.seen


def rate(stamps: dict[str, int]) -> float | None:
    """Messages per second between the first and last broker timestamps."""
    if len(stamps) < 2:
        return None
    span = (max(stamps.values()) - min(stamps.values())) / 1000
    return (len(stamps) - 1) / span if span > 0 else None


async def passthrough(
    bootstrap: str, source: str, sink: str, count: int, start: dict[int, int]
) -> float:
    """Consume `count` messages of `source` from offsets `start` and republish them to `sink`;
    messages per second from the first message read to the last ack and commit."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"bench-passthrough-{uuid4().hex}",
        enable_auto_commit=False, max_poll_records=500, **connection()
    )  # fmt: skip
    out = producer(bootstrap)
    await consumer.start()
    await out.start()
    try:
        parts = [TopicPartition(source, p) for p in start]
        consumer.assign(parts)
        for p in parts:
            consumer.seek(p, start[p.partition])
        done, began = 0, None
        while done < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if began is None and batches:
                began = time.perf_counter()
            acks = [
                await out.send(sink, m.value, key=m.key, headers=list(m.headers))
                for batch in batches.values()
                for m in batch
            ]
            await asyncio.gather(*acks)
            await consumer.commit()
            done += len(acks)
        return count / (time.perf_counter() - (began or time.perf_counter()))
    finally:
        await out.stop()
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        parts = await partitions(consumer, topic)
        return {p.partition: o for p, o in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()
