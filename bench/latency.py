"""Latency at a steady offered rate: paced POSTs to intake, and the bare one-hop Kafka baseline.

Rules kept here:
- requests are started on a fixed schedule (one every 1/rate s), each in its own task, so a slow
  answer never delays the next one (no coordinated omission);
- the time of acceptance is when the 201 arrives; only 201s are kept;
- the one-hop baseline publishes at the same rate with the same producer guarantees (acks=all,
  idempotent) to a bench-only topic, and a consumer in the same process stamps each arrival;
  the send time travels in the message, so both ends read the same clock.
"""

from __future__ import annotations

import asyncio
import struct
import time

import httpx
from aiokafka import AIOKafkaConsumer

from bench.harness import connection, ensure_topic
from bench.kafka_tools import partitions, producer
from bench.load import example_body

HOP_TOPIC = "bench.onehop.v1"


async def paced_posts(url: str, token: str, tag: str, rate: int, seconds: int) -> dict[str, float]:
    """Submission id -> epoch seconds of its 201, for `rate`/s over `seconds`."""
    template = example_body()
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    accepted: dict[str, float] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def post(sid: str) -> None:
            answer = await client.post(
                "/v1/referrals", content=template.replace("@SUBMISSION_ID@", sid)
            )
            if answer.status_code == 201:
                accepted[sid] = time.time()

        start, tasks = time.monotonic(), []
        for i in range(rate * seconds):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(post(f"{tag}-{i}")))
        await asyncio.gather(*tasks)
    return accepted


async def one_hop_latencies(bootstrap: str, rate: int, seconds: int) -> list[float]:
    """Milliseconds from send to receipt of `rate`/s messages over `seconds`."""
    await ensure_topic(bootstrap, HOP_TOPIC)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    out = producer(bootstrap, linger_ms=0)  # as little delay as the client allows
    await consumer.start()
    await out.start()
    latencies: list[float] = []
    total = rate * seconds

    async def receive() -> None:
        while len(latencies) < total:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                now = time.time()
                latencies.extend((now - struct.unpack("!d", m.value)[0]) * 1000 for m in batch)

    try:
        parts = await partitions(consumer, HOP_TOPIC)
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for p in parts:
            await consumer.position(p)
        receiving = asyncio.create_task(receive())
        start = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            await out.send(HOP_TOPIC, struct.pack("!d", time.time()), key=str(i).encode())
        await asyncio.wait_for(receiving, timeout=30)
    finally:
        await out.stop()
        await consumer.stop()
    return latencies
