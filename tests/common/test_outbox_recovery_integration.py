"""The outbox relay's recovery at start (`services.common.outbox_recovery`) on the real Kafka
broker and PostgreSQL.

Rules checked:
- rows whose message Kafka already holds (published, the mark cut off by a kill) are marked
  sent; rows Kafka does not hold, and rows with no `ce_id`, stay unsent; a message with the same
  id on another topic does not count;
- a message older than the oldest unsent row (less the clock skew) is not read;
- the running relay recovers before its first batch, once: a recovered row is not published
  again, the rest are; a recovery that keeps failing is given up after `RECOVERY_ATTEMPTS`, and
  the rows are published rather than held.
Each test works on a temporary `outbox` table (outbox_scratch.py) and a scratch topic of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.outbox import OutboxMessage, enqueue
from services.common.outbox_recovery import RecoveryLimits, kafka_finder, recover
from services.common.outbox_relay import RECOVERY_ATTEMPTS, OutboxRelay
from tests.common.outbox_scratch import TABLE, TIMEOUT, listening, rows, scratch_pool
from tests.support.kafka import connection, produce, tooling
from tests.support.wait import eventually_async

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
        yield created


@pytest.fixture
async def two_connections(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    # A running relay keeps one for LISTEN; the rows live in the other's temporary table.
    async with scratch_pool(stack_env, 2) as created:
        yield created


@pytest.fixture
async def topic(stack_env: dict[str, str]) -> AsyncIterator[str]:
    name = f"test.recovery.{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"], **connection()
    )
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def queue(pool: asyncpg.Pool, topic: str, keys: list[str], *, ce_id: bool = True) -> None:
    async with pool.acquire() as conn:
        for key in keys:
            headers = {"ce_id": f"id-{key}"} if ce_id else {}
            async with conn.transaction():
                await enqueue(conn, TABLE, OutboxMessage(topic, key, headers, key.encode()))


async def publish_as_the_relay_did(bootstrap: str, topic: str, keys: list[str]) -> None:
    for key in keys:
        await produce(bootstrap, topic, key.encode(), key=key, headers={"ce_id": f"id-{key}"})


async def test_rows_kafka_already_holds_are_marked_sent_and_the_rest_left_unsent(
    pool: asyncpg.Pool, stack_env: dict[str, str], topic: str
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await queue(pool, topic, ["a", "b", "c", "d"])
    await queue(pool, topic, ["no-id"], ce_id=False)
    await queue(pool, "test.recovery.elsewhere", ["e"])  # its id is on `topic`, not its own
    await publish_as_the_relay_did(bootstrap, topic, ["a", "c", "e", "stranger"])

    find = kafka_finder(bootstrap, security=tooling())
    assert await recover(pool, TABLE, find) == 2
    sent = {key: was_sent for key, (was_sent, _) in (await rows(pool)).items()}
    assert sent == {"a": True, "b": False, "c": True, "d": False, "no-id": False, "e": False}
    assert await recover(pool, TABLE, find) == 0  # nothing more to find


async def test_messages_older_than_the_oldest_unsent_row_are_not_read(
    pool: asyncpg.Pool, stack_env: dict[str, str], topic: str
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await publish_as_the_relay_did(bootstrap, topic, ["old"])  # before the row was queued
    await asyncio.sleep(0.5)
    await queue(pool, topic, ["old"])
    no_skew = RecoveryLimits(clock_skew=timedelta(0))
    find = kafka_finder(bootstrap, security=tooling(), limits=no_skew)
    assert await recover(pool, TABLE, find, no_skew) == 0
    assert await rows(pool) == {"old": (False, 0)}


async def test_the_running_relay_recovers_once_before_its_first_batch(
    two_connections: asyncpg.Pool, stack_env: dict[str, str], topic: str
) -> None:
    bootstrap, pool, started = stack_env["KAFKA_BOOTSTRAP_SERVERS"], two_connections, False
    published: list[str] = []
    recoveries = 0

    async def kafka(message: OutboxMessage) -> None:
        published.append(str(message.key))

    async def recovery() -> int:
        nonlocal recoveries
        recoveries += 1
        return await recover(pool, TABLE, kafka_finder(bootstrap, security=tooling()))

    relay = OutboxRelay(pool, TABLE, kafka, publish_timeout_seconds=TIMEOUT, recover=recovery)
    task = asyncio.create_task(relay.run(ready=lambda: started, idle_poll_seconds=0.1))
    try:
        await listening(pool)
        await queue(pool, topic, ["done-1", "done-2", "new"])
        await publish_as_the_relay_did(bootstrap, topic, ["done-1", "done-2"])
        started = True
        await eventually_async(lambda: published == ["new"], "the one unpublished row published")
        await queue(pool, topic, ["later"])
        await eventually_async(lambda: published == ["new", "later"], "a later row published")
        # Read while the relay holds its listening connection: the rows are in the other's table.
        sent = {key for key, (was_sent, _) in (await rows(pool)).items() if was_sent}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert recoveries == 1
    assert sent == {"done-1", "done-2", "new", "later"}


async def test_a_recovery_that_keeps_failing_is_given_up_and_the_rows_published(
    two_connections: asyncpg.Pool, topic: str
) -> None:
    pool = two_connections
    published: list[str] = []
    attempts = 0

    async def kafka(message: OutboxMessage) -> None:
        published.append(str(message.key))

    async def refused() -> int:  # e.g. a deployment whose ACLs lack the READ grant
        nonlocal attempts
        attempts += 1
        raise PermissionError

    relay = OutboxRelay(pool, TABLE, kafka, publish_timeout_seconds=TIMEOUT, recover=refused)
    task = asyncio.create_task(relay.run(idle_poll_seconds=0.1, max_backoff_seconds=0.2))
    try:
        await listening(pool)
        await queue(pool, topic, ["r1", "r2"])
        await eventually_async(lambda: sorted(published) == ["r1", "r2"], "rows published")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert attempts == RECOVERY_ATTEMPTS
