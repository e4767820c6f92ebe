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
- the running relay backs off and retries until Kafka answers, publishes nothing while not
  `ready`, and is woken by the NOTIFY of `enqueue` without waiting for its poll.
Each test works on a temporary `outbox` table (same columns and defaults as intake's, whose
migrations are applied first), which shadows the real one on the test's connections, so no
running relay can take its rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.common.outbox import (
    OutboxMessage,
    OutboxPublishFailed,
    OutboxRelay,
    OutboxTable,
    enqueue,
)
from tests.support.infra import ROOT

pytestmark = pytest.mark.integration

TIMEOUT = 0.5
# Intake's table; the channel is the test's own, so a running intake is never woken by it.
TABLE = OutboxTable(channel="outbox_relay_test", attempts_column="attempts")


async def _intake_schema(stack_env: dict[str, str]) -> None:
    migrating = await create_pool(stack_env["INTAKE_DATABASE_URL"], max_size=1)
    try:
        await apply_migrations(migrating, ROOT / "services" / "intake" / "migrations")
    finally:
        await migrating.close()


async def _scratch_outbox(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute("CREATE TEMP TABLE outbox (LIKE intake.outbox INCLUDING DEFAULTS)")


@asynccontextmanager
async def _scratch_pool(stack_env: dict[str, str], size: int) -> AsyncIterator[asyncpg.Pool]:
    """A pool of `size` connections, each with its own temporary `outbox` table."""
    await _intake_schema(stack_env)
    created = await asyncpg.create_pool(
        stack_env["INTAKE_DATABASE_URL"], min_size=size, max_size=size, init=_scratch_outbox
    )
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with _scratch_pool(stack_env, 1) as created:
        yield created


def _message(key: str) -> OutboxMessage:
    return OutboxMessage("test.relay", key, {"ce_id": key}, key.encode())


async def _add_rows(pool: asyncpg.Pool, keys: list[str]) -> None:
    async with pool.acquire() as conn:
        for key in keys:
            async with conn.transaction():
                await enqueue(conn, TABLE, _message(key))


async def _rows(pool: asyncpg.Pool) -> dict[str, tuple[bool, int]]:
    rows = await pool.fetch("SELECT message_key, sent_at IS NOT NULL AS sent, attempts FROM outbox")
    return {r["message_key"]: (r["sent"], r["attempts"]) for r in rows}


async def _in_transaction(stack_env: dict[str, str], pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        pid = conn.get_server_pid()
    other = await asyncpg.connect(stack_env["INTAKE_DATABASE_URL"])
    try:
        state: str | None = await other.fetchval(
            "SELECT state FROM pg_stat_activity WHERE pid = $1", pid
        )
    finally:
        await other.close()
    return state != "idle"


async def test_a_hanging_publish_is_given_up_after_the_timeout_and_its_row_retried(
    pool: asyncpg.Pool, stack_env: dict[str, str]
) -> None:
    await _add_rows(pool, ["a", "slow", "b"])
    published: list[str] = []

    async def kafka_stalls_on_slow(message: OutboxMessage) -> None:
        if message.key == "slow":
            await asyncio.Event().wait()  # never acknowledged
        published.append(str(message.key))

    relay = OutboxRelay(
        pool, TABLE, kafka_stalls_on_slow, concurrent=True, publish_timeout_seconds=TIMEOUT
    )
    started = time.monotonic()
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (2, 1, "timeout")
    assert not await _in_transaction(stack_env, pool), "the relay still holds its transaction"
    assert await _rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (False, 1)}

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(
        pool, TABLE, kafka_is_back, concurrent=True, publish_timeout_seconds=TIMEOUT
    )
    assert await relay.drain_once() == 1
    assert await _rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (True, 2)}
    assert sorted(published) == ["a", "b", "slow"]


async def test_in_order_a_hanging_publish_holds_back_the_rows_behind_it(
    pool: asyncpg.Pool, stack_env: dict[str, str]
) -> None:
    await _add_rows(pool, ["a", "slow", "b"])
    published: list[str] = []

    async def kafka_stalls_on_slow(message: OutboxMessage) -> None:
        if message.key == "slow":
            await asyncio.Event().wait()  # never acknowledged
        published.append(str(message.key))

    relay = OutboxRelay(pool, TABLE, kafka_stalls_on_slow, publish_timeout_seconds=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (1, 2, "timeout")
    assert not await _in_transaction(stack_env, pool), "the relay still holds its transaction"
    assert published == ["a"]  # `b` is not published ahead of `slow`
    assert await _rows(pool) == {"a": (True, 1), "slow": (False, 1), "b": (False, 0)}

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(pool, TABLE, kafka_is_back, publish_timeout_seconds=TIMEOUT)
    assert await relay.drain_once() == 2
    assert published == ["a", "slow", "b"]
    assert await _rows(pool) == {"a": (True, 1), "slow": (True, 2), "b": (True, 1)}


@pytest.mark.parametrize(("concurrent", "counted"), [(True, 1), (False, 0)])
async def test_a_failed_publish_leaves_the_rows_unsent_to_be_tried_again(
    pool: asyncpg.Pool, *, concurrent: bool, counted: int
) -> None:
    await _add_rows(pool, ["x", "y"])

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
    assert await _rows(pool) == {"x": (False, 1), "y": (False, counted)}
    assert relay.published_total == 0


@pytest.fixture
async def two_connections(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    # Two connections: `run` keeps one for LISTEN; the rows live in the other's temp table.
    async with _scratch_pool(stack_env, 2) as created:
        yield created


async def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not check():
        await asyncio.sleep(0.05)


async def _listening(pool: asyncpg.Pool) -> None:
    while pool.get_idle_size() > 1:  # until `run` holds its listening connection
        await asyncio.sleep(0.01)


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
        await _listening(pool)
        await _add_rows(pool, ["r1", "r2"])
        await _until(lambda: relay.published_total >= 2)
        assert relay.published_total == 2
        assert {sent for sent, _ in (await _rows(pool)).values()} == {True}
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
        await _listening(pool)
        await _add_rows(pool, ["n1"])  # its NOTIFY wakes the relay, which is not ready
        await asyncio.sleep(0.5)
        assert published == []
        ready = True
        await _add_rows(pool, ["n2"])  # this NOTIFY finds it ready: both go, in order
        await _until(lambda: len(published) >= 2, seconds=5)
        assert published == ["n1", "n2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
