"""The shared outbox relay's loop (`OutboxRelay.run`) against the real PostgreSQL, with Kafka
replaced at its seam (`publish`).

Rules checked: the running relay backs off and retries until Kafka answers, publishes nothing
while not `ready`, and is woken by the NOTIFY of `enqueue` without waiting for its poll.
Each test works on a temporary `outbox` table (outbox_scratch.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common.outbox import OutboxMessage
from services.common.outbox_relay import OutboxRelay
from tests.common.outbox_scratch import TABLE, TIMEOUT, add_rows, listening, rows, scratch_pool
from tests.support.wait import eventually_async

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_connections(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    # Two connections: `run` keeps one for LISTEN; the rows live in the other's temp table.
    async with scratch_pool(stack_env, 2) as created:
        yield created


async def test_the_running_relay_keeps_retrying_until_kafka_answers(
    two_connections: asyncpg.Pool,
) -> None:
    pool = two_connections
    calls = 0

    async def kafka_recovers(_message: OutboxMessage) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ConnectionRefusedError

    relay = OutboxRelay(pool, TABLE, kafka_recovers, publish_timeout_seconds=TIMEOUT)
    task = asyncio.create_task(relay.run(idle_poll_seconds=0.1, max_backoff_seconds=0.2))
    try:
        await listening(pool)
        await add_rows(pool, ["r1", "r2"])
        await eventually_async(lambda: relay.published_total >= 2, "two rows published")
        assert relay.published_total == 2
        assert {sent for sent, _ in (await rows(pool)).values()} == {True}
        assert calls > 3  # it failed, backed off and came back
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_running_relay_waits_until_ready_and_is_woken_by_notify(
    two_connections: asyncpg.Pool,
) -> None:
    pool = two_connections
    published: list[str] = []
    ready = False

    async def kafka(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(pool, TABLE, kafka, publish_timeout_seconds=TIMEOUT)
    # A poll far longer than the test: only a NOTIFY can make it drain in time.
    task = asyncio.create_task(relay.run(ready=lambda: ready, idle_poll_seconds=60))
    try:
        await listening(pool)
        await add_rows(pool, ["n1"])  # its NOTIFY wakes the relay, which is not ready
        await asyncio.sleep(0.5)
        assert published == []
        ready = True
        await add_rows(pool, ["n2"])  # this NOTIFY finds it ready: both go, in order
        await eventually_async(lambda: len(published) >= 2, "n1 and n2 published", timeout=5)
        assert published == ["n1", "n2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
