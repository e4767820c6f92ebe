"""The outbox relay against the real PostgreSQL, with Kafka replaced at its seam (`publish`).

Rules checked:
- a publish that hangs (Kafka gone quiet) is given up after the publish timeout: the relay's
  transaction ends, so no row lock is held for the length of an outage;
- rows acknowledged before the timeout are marked sent; the others stay unsent with the
  attempt counted, and the next drain publishes them;
- a publish that fails leaves its rows unsent, to be retried.
Each test works on a temporary `outbox` table (same columns and defaults as intake's), which
shadows the real one on the test's single connection, so no running relay can take its rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.intake.adapters.outbox_relay import OutboxPublishFailed, OutboxRelay
from services.intake.adapters.store import OutboxMessage

pytestmark = pytest.mark.integration

TIMEOUT = 0.5


async def _scratch_outbox(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute("CREATE TEMP TABLE outbox (LIKE intake.outbox INCLUDING DEFAULTS)")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(
        stack_env["INTAKE_DATABASE_URL"], min_size=1, max_size=1, init=_scratch_outbox
    )
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


async def _add_rows(pool: asyncpg.Pool, keys: list[str]) -> None:
    for key in keys:
        await pool.execute(
            "INSERT INTO outbox (topic, message_key, headers, payload) VALUES ($1, $2, $3, $4)",
            "test.relay",
            key,
            {"ce_id": key},
            key.encode(),
        )


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

    relay = OutboxRelay(pool, kafka_stalls_on_slow, publish_timeout_seconds=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (2, 1, "timeout")
    assert not await _in_transaction(stack_env, pool), "the relay still holds its transaction"
    assert await _rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (False, 1)}

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(str(message.key))

    relay = OutboxRelay(pool, kafka_is_back, publish_timeout_seconds=TIMEOUT)
    assert await relay.drain_once() == 1
    assert await _rows(pool) == {"a": (True, 1), "b": (True, 1), "slow": (True, 2)}
    assert sorted(published) == ["a", "b", "slow"]


async def test_a_failed_publish_leaves_the_rows_unsent_to_be_tried_again(
    pool: asyncpg.Pool,
) -> None:
    await _add_rows(pool, ["x", "y"])

    async def kafka_down(_message: OutboxMessage) -> None:
        raise ConnectionRefusedError

    relay = OutboxRelay(pool, kafka_down, publish_timeout_seconds=TIMEOUT)
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert (failed.value.sent, failed.value.unsent) == (0, 2)
    assert failed.value.cause == "ConnectionRefusedError"
    assert await _rows(pool) == {"x": (False, 1), "y": (False, 1)}
    assert relay.published_total == 0


async def test_the_running_relay_keeps_retrying_until_kafka_answers(
    stack_env: dict[str, str],
) -> None:
    # Two connections: `run` keeps one for LISTEN; the rows live in the other's temp table.
    pool = await asyncpg.create_pool(
        stack_env["INTAKE_DATABASE_URL"], min_size=2, max_size=2, init=_scratch_outbox
    )
    assert pool is not None
    calls = 0

    async def kafka_recovers(_message: OutboxMessage) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ConnectionRefusedError

    relay = OutboxRelay(
        pool,
        kafka_recovers,
        publish_timeout_seconds=TIMEOUT,
        idle_poll_seconds=0.1,
        max_backoff_seconds=0.2,
    )
    task = asyncio.create_task(relay.run())
    try:
        while pool.get_idle_size() > 1:  # until `run` holds its listening connection
            await asyncio.sleep(0.01)
        await _add_rows(pool, ["r1", "r2"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and relay.published_total < 2:
            await asyncio.sleep(0.05)
        assert relay.published_total == 2
        assert {sent for sent, _ in (await _rows(pool)).values()} == {True}
        assert calls > 3  # it failed, backed off and came back
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
