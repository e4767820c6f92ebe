"""The outbox relay's recovery at start (`services.common.outbox_recovery`) on the real Kafka
broker and PostgreSQL.

Rules checked:
- rows whose message Kafka already holds (published, the mark cut off by a kill) are marked
  sent; rows Kafka does not hold, and rows with no `ce_id`, stay unsent; a message with the same
  id on another topic does not count;
- a message older than the oldest unsent row (less the clock skew) is not read;
- it runs once Kafka answers and before the broker (its consumers, and so the relay) starts,
  once per process; a recovery that keeps failing is given up after `ATTEMPTS` without stopping
  the start (the rows are then published again rather than held).
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

from services.common.kafka import make_broker
from services.common.outbox import OutboxMessage, enqueue
from services.common.outbox_recovery import (
    ATTEMPTS,
    RecoveryLimits,
    at_start,
    kafka_finder,
    recover,
)
from services.common.runtime import BrokerStarter
from tests.common.outbox_scratch import TABLE, rows, scratch_pool
from tests.support.kafka import connection, produce, tooling

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
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


async def test_it_runs_before_the_broker_starts_and_once_per_process(
    pool: asyncpg.Pool, stack_env: dict[str, str], topic: str
) -> None:
    """So only what a predecessor left is looked for: no consumer has queued anything yet."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await queue(pool, topic, ["done", "new"])
    await publish_as_the_relay_did(bootstrap, topic, ["done"])
    broker = make_broker(bootstrap, client_id="recovery-test", security=tooling())
    broker_running_at_recovery: list[bool] = []

    async def recovery() -> int:
        broker_running_at_recovery.append(broker.running)
        return await recover(pool, TABLE, kafka_finder(bootstrap, security=tooling()))

    starter = BrokerStarter(broker, before_start=at_start(recovery))
    try:
        await asyncio.wait_for(starter.run(), 60)
        assert starter.broker.running
        await starter.before_start()  # type: ignore[misc]  # a second call does nothing
    finally:
        await broker.stop()
    assert broker_running_at_recovery == [False]
    assert {key: sent for key, (sent, _) in (await rows(pool)).items()} == {
        "done": True,
        "new": False,
    }


async def test_a_recovery_that_keeps_failing_is_given_up_without_stopping_the_start() -> None:
    attempts = 0

    async def refused() -> int:  # e.g. a deployment whose ACLs lack the READ grant
        nonlocal attempts
        attempts += 1
        raise PermissionError

    run = at_start(refused)
    await asyncio.wait_for(run(), 10)  # returns: the start goes on
    await run()
    assert attempts == ATTEMPTS
