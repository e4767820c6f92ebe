"""A scratch outbox for the relay's integration tests: intake's `outbox` table, copied as a
temporary table on each test connection (same columns and defaults, intake's migrations applied
first), so no running relay can take its rows; and what the tests do to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.common.db import apply_migrations, create_pool
from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from tests.support.infra import ROOT

TIMEOUT = 0.5
# Intake's table; the channel is the test's own, so a running intake is never woken by it.
TABLE = OutboxTable(channel="outbox_relay_test", attempts_column="attempts")


async def intake_schema(stack_env: dict[str, str]) -> None:
    migrating = await create_pool(stack_env["INTAKE_DATABASE_URL"], max_size=1)
    try:
        await apply_migrations(migrating, ROOT / "services" / "intake" / "migrations")
    finally:
        await migrating.close()


async def scratch_outbox(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute("CREATE TEMP TABLE outbox (LIKE intake.outbox INCLUDING DEFAULTS)")


@asynccontextmanager
async def scratch_pool(stack_env: dict[str, str], size: int) -> AsyncIterator[asyncpg.Pool]:
    """A pool of `size` connections, each with its own temporary `outbox` table."""
    await intake_schema(stack_env)
    created = await asyncpg.create_pool(
        stack_env["INTAKE_DATABASE_URL"], min_size=size, max_size=size, init=scratch_outbox
    )
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


def message(key: str) -> OutboxMessage:
    return OutboxMessage("test.relay", key, {"ce_id": key}, key.encode())


async def add_rows(pool: asyncpg.Pool, keys: list[str]) -> None:
    async with pool.acquire() as conn:
        for key in keys:
            async with conn.transaction():
                await enqueue(conn, TABLE, message(key))


async def rows(pool: asyncpg.Pool) -> dict[str, tuple[bool, int]]:
    rows = await pool.fetch("SELECT message_key, sent_at IS NOT NULL AS sent, attempts FROM outbox")
    return {r["message_key"]: (r["sent"], r["attempts"]) for r in rows}


async def in_transaction(stack_env: dict[str, str], pool: asyncpg.Pool) -> bool:
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


async def listening(pool: asyncpg.Pool) -> None:
    while pool.get_idle_size() > 1:  # until `run` holds its listening connection
        await asyncio.sleep(0.01)
