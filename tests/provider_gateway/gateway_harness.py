"""Running the gateway in-process against the real Kafka and PostgreSQL, for integration tests.

The demo receiver runs as a real HTTP server (uvicorn, on a free port) so that deliveries
cross a real socket; the gateway runs through its own ASGI lifespan. `KafkaTap` reads the
topics from where they ended when it started, so old messages never confuse a test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import uvicorn
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from services.common.kafka import make_broker, publish_event
from shared import Decision, ReferralReceived, Service
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.support.kafka import connection, tooling
from tests.support.processes import free_port
from tests.support.wait import eventually_async

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """`tests.support.wait.eventually_async` with this harness's defaults: an empty answer (no
    rows yet) counts as not yet."""

    async def found() -> T | None:
        return (await probe()) or None

    return await eventually_async(found, what, timeout=timeout, interval=0.2)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` over real HTTP on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _true(server.started), timeout=15, what="receiver start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _true(value: bool) -> bool:
    return value


async def _assigned(consumer: AIOKafkaConsumer, topics: list[str]) -> bool:
    return {tp.topic for tp in consumer.assignment()} == set(topics)


@dataclass
class KafkaTap:
    """Messages published to some topics since the tap opened, grouped by key."""

    consumer: AIOKafkaConsumer
    seen: list[tuple[str, str | None, dict[str, str], dict[str, Any]]]

    @classmethod
    @asynccontextmanager
    async def open(cls, bootstrap: str, topics: list[str]) -> AsyncIterator[KafkaTap]:
        # No group: the consumer is assigned every partition of the topics, and commits nothing.
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
        )
        await consumer.start()
        try:
            await eventually(lambda: _assigned(consumer, topics), timeout=15, what="partitions")
            partitions = consumer.assignment()
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # resolve the end offsets now, before anything is published
                await consumer.position(tp)
            yield cls(consumer, [])
        finally:
            await consumer.stop()

    async def _drain(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200)
        for tp, records in batches.items():
            for r in records:
                # The Kafka edge fuzzer puts undecodable bytes on ops.events.v1: not ours.
                try:
                    body = json.loads(r.value or b"")
                except (ValueError, RecursionError):
                    continue
                headers = {k: (v or b"").decode(errors="replace") for k, v in r.headers}
                key = r.key.decode(errors="replace") if r.key else None
                self.seen.append((tp.topic, key, headers, body))

    async def wait_for(
        self,
        topic: str,
        key: str,
        match: Callable[[dict[str, Any]], bool] = lambda _b: True,
        *,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            await self._drain()
            return next(
                (b for t, k, _h, b in self.seen if t == topic and k == key and match(b)), None
            )

        return await eventually(probe, timeout=timeout, what=f"{topic} message for {key}")

    def bodies(self, topic: str, key: str) -> list[dict[str, Any]]:
        return [b for t, k, _h, b in self.seen if t == topic and k == key]

    def headers(self, topic: str, key: str) -> list[dict[str, str]]:
        return [h for t, k, h, _b in self.seen if t == topic and k == key]


async def publish_referral(
    bootstrap: str, received: ReferralReceived | None, decision: Decision | None
) -> None:
    """Publish the halves of a referral as intake and the router would (decision first)."""
    broker = make_broker(bootstrap, client_id="gateway-tests", security=tooling())
    await broker.start()
    try:
        if decision is not None:
            await publish_event(
                broker,
                decision,
                topic=REFERRALS_DECIDED,
                key=str(decision.referral_id),
                ce_type=TYPE_DECIDED,
                service=Service.ROUTER,
            )
        if received is not None:
            await publish_event(
                broker,
                received,
                topic=REFERRALS_RECEIVED,
                key=str(received.referral_id),
                ce_type=TYPE_RECEIVED,
                service=Service.INTAKE,
            )
    finally:
        await broker.stop()


async def rows(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()
