"""A connection goes back to the pool without a reset round trip, and still without a transaction.

asyncpg's default reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) cost a
round trip on every release (issue 16); `services.common.db.create_pool` keeps the part that
matters (an open transaction is rolled back, listeners are dropped) and sends nothing else.
"""

from __future__ import annotations

import pytest

from services.common.db import create_pool

pytestmark = pytest.mark.integration


async def test_a_released_connection_sends_no_reset_query(stack_env: dict[str, str]) -> None:
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"], min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 2")
    finally:
        await pool.close()
    assert sent == ["SELECT 1", "SELECT 2"]


async def test_a_transaction_left_open_is_rolled_back_on_release(
    stack_env: dict[str, str],
) -> None:
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"], min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            assert conn.is_in_transaction()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
