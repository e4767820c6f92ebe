"""The shared outbox relay (`services.common.outbox`) on the real PostgreSQL, with a fake Kafka.

Each test makes its own outbox table, with column names unlike the gateway's, so it sees only
its own rows and shows that the relay is parameterised by table and columns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from services.common.outbox_relay import OutboxPublishFailed, OutboxRelay

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(stack_env["GATEWAY_DATABASE_URL"], max_size=4)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def table(pool: asyncpg.Pool) -> AsyncIterator[OutboxTable]:
    name = f"outbox_test_{uuid4().hex[:12]}"
    await pool.execute(
        f"CREATE TABLE {name} (n bigserial PRIMARY KEY, t text NOT NULL, k text, h jsonb NOT NULL,"
        " p bytea NOT NULL, published timestamptz, tries int NOT NULL DEFAULT 0)"
    )
    try:
        yield OutboxTable(
            channel=name,
            table=name,
            id_column="n",
            topic_column="t",
            key_column="k",
            headers_column="h",
            payload_column="p",
            sent_column="published",
            attempts_column="tries",
        )
    finally:
        await pool.execute(f"DROP TABLE {name}")


def message(n: int) -> OutboxMessage:
    return OutboxMessage("ops.events.v1", "ref-1", {"ce_id": f"id-{n}"}, f"{n}".encode())


async def test_only_committed_messages_are_published_in_commit_order(
    pool: asyncpg.Pool, table: OutboxTable
) -> None:
    published: list[OutboxMessage] = []

    async def publish(m: OutboxMessage) -> None:
        published.append(m)

    async with pool.acquire() as conn:
        for n in range(3):
            async with conn.transaction():
                await enqueue(conn, table, message(n))
        rolled_back = conn.transaction()
        await rolled_back.start()
        await enqueue(conn, table, message(99))
        await rolled_back.rollback()
    relay = OutboxRelay(pool, table, publish)
    assert await relay.backlog() == 3
    assert await relay.drain_once() == 3
    assert [m.payload for m in published] == [b"0", b"1", b"2"]
    assert published[0] == message(0)
    assert await relay.backlog() == 0
    assert await relay.drain_once() == 0
    tries = await pool.fetch(f"SELECT tries FROM {table.table}")
    assert [r["tries"] for r in tries] == [1, 1, 1]


async def test_a_failed_publication_marks_what_was_acknowledged_and_holds_back_the_rest(
    pool: asyncpg.Pool, table: OutboxTable
) -> None:
    published: list[OutboxMessage] = []
    down = True

    async def publish(m: OutboxMessage) -> None:
        if down and m.payload == b"1":
            raise ConnectionError("kafka is away")
        published.append(m)

    async with pool.acquire() as conn, conn.transaction():
        for n in range(3):
            await enqueue(conn, table, message(n))
    relay = OutboxRelay(pool, table, publish)
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (1, 2, "ConnectionError")
    # In order: the acknowledged first row is sent; the third is not published ahead of the second.
    assert [m.headers["ce_id"] for m in published] == ["id-0"]
    assert await relay.backlog() == 2
    tries = await pool.fetch(f"SELECT {table.payload_column} AS p, tries FROM {table.table}")
    assert {bytes(r["p"]): r["tries"] for r in tries} == {b"0": 1, b"1": 1, b"2": 0}
    down = False
    assert await relay.drain_once() == 2
    assert [m.headers["ce_id"] for m in published] == ["id-0", "id-1", "id-2"]
    assert await relay.backlog() == 0
