"""The shared outbox relay (`services.common.outbox`) against the real PostgreSQL, with Kafka
replaced at its seam (`publish`).

Rules checked:
- a publish that hangs (Kafka gone quiet) is given up after the publish timeout: the relay's
  transaction ends, so no row lock is held for the length of an outage;
- rows acknowledged before the timeout are marked sent; the others stay unsent with the
  attempt counted, and the next drain publishes them;
- a publish that fails leaves its rows unsent, to be retried;
- in order (the default), the first failure stops the batch: the rows behind it are neither
  published nor counted until it has gone out;
- (the running relay: test_outbox_relay_running_integration.py).
Each test works on a temporary `outbox` table (outbox_scratch.py), which shadows the real one
on the test's connections, so no running relay can take its rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from services.common.outbox import OutboxMessage
from services.common.outbox_relay import OutboxPublishFailed, OutboxRelay
from tests.common.outbox_scratch import TABLE, TIMEOUT, add_rows, in_transaction, rows, scratch_pool

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
        yield created


def _stalls_on(key: str, published: list[str]) -> Callable[[OutboxMessage], Awaitable[None]]:
    """A Kafka that never acknowledges `key` and acknowledges everything else (into `published`)."""

    async def publish(message: OutboxMessage) -> None:
        if message.key == key:
            await asyncio.Event().wait()  # never acknowledged
        published.append(str(message.key))

    return publish


async def test_a_hanging_publish_is_given_up_after_the_timeout_and_its_row_retried(
    pool: asyncpg.Pool, stack_env: dict[str, str]
) -> None:
    await add_rows(pool, ["a", "slow", "b"])
    published: list[str] = []
    kafka_stalls_on_slow = _stalls_on("slow", published)

    relay = OutboxRelay(
        pool, TABLE, kafka_stalls_on_slow, concurrent=True, publish_timeout_seconds=TIMEOUT
    )
    started = time.monotonic()
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (2, 1, "timeout")
    assert not await in_transaction(stack_env, pool), "the relay still holds its transaction"
    assert await rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (False, 1)}

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(
        pool, TABLE, kafka_is_back, concurrent=True, publish_timeout_seconds=TIMEOUT
    )
    assert await relay.drain_once() == 1
    assert await rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (True, 2)}
    assert sorted(published) == ["a", "b", "slow"]


async def test_in_order_a_hanging_publish_holds_back_the_rows_behind_it(
    pool: asyncpg.Pool, stack_env: dict[str, str]
) -> None:
    await add_rows(pool, ["a", "slow", "b"])
    published: list[str] = []
    kafka_stalls_on_slow = _stalls_on("slow", published)

    relay = OutboxRelay(pool, TABLE, kafka_stalls_on_slow, publish_timeout_seconds=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (1, 2, "timeout")
    assert not await in_transaction(stack_env, pool), "the relay still holds its transaction"
    assert published == ["a"]  # `b` is not published ahead of `slow`
    assert await rows(pool) == {"a": (True, 1), "slow": (False, 1), "b": (False, 0)}

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(pool, TABLE, kafka_is_back, publish_timeout_seconds=TIMEOUT)
    assert await relay.drain_once() == 2
    assert published == ["a", "slow", "b"]
    assert await rows(pool) == {"a": (True, 1), "slow": (True, 2), "b": (True, 1)}


@pytest.mark.parametrize(("concurrent", "counted"), [(True, 1), (False, 0)])
async def test_a_failed_publish_leaves_the_rows_unsent_to_be_tried_again(
    pool: asyncpg.Pool, *, concurrent: bool, counted: int
) -> None:
    await add_rows(pool, ["x", "y"])

    async def kafka_down(_message: OutboxMessage) -> None:
        raise ConnectionRefusedError

    relay = OutboxRelay(
        pool, TABLE, kafka_down, concurrent=concurrent, publish_timeout_seconds=TIMEOUT
    )
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert (failed.value.sent, failed.value.unsent) == (0, 2)
    assert failed.value.cause == "ConnectionRefusedError"
    # Concurrently both were tried; in order, `y` waits behind `x` untried.
    assert await rows(pool) == {"x": (False, 1), "y": (False, counted)}
    assert relay.published_total == 0
