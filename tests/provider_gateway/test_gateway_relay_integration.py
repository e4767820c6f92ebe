"""The gateway's outbox relay (`RELAY`: in order per key) against the real PostgreSQL, with Kafka
replaced at its seam (`publish`), on a scratch outbox table (tests/common/outbox_scratch.py).

Rules checked (services/common/outbox_relay.py, `per_key`):
- different keys' rows are published concurrently: a key whose publish hangs holds back no
  other key's rows, which are acknowledged and marked sent;
- one key's rows stay in commit order: the row behind a hanging one is not published ahead of
  it (nor counted), and both go out, in order, on the next drain;
- the gateway's relay is configured so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common.outbox import OutboxMessage, enqueue
from services.common.outbox_relay import OutboxPublishFailed, OutboxRelay
from services.provider_gateway.bootstrap import RELAY
from tests.common.outbox_scratch import TABLE, TIMEOUT, scratch_pool

pytestmark = pytest.mark.integration

# (key, id) in commit order: referral `a` has two events, `b` and `c` one each.
ROWS = [("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1")]


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
        async with created.acquire() as conn:
            for key, event_id in ROWS:
                message = OutboxMessage("test.relay", key, {"ce_id": event_id}, event_id.encode())
                async with conn.transaction():
                    await enqueue(conn, TABLE, message)
        yield created


async def _state(pool: asyncpg.Pool) -> dict[str, tuple[bool, int]]:
    found = await pool.fetch("SELECT payload, sent_at IS NOT NULL AS sent, attempts FROM outbox")
    return {bytes(r["payload"]).decode(): (r["sent"], r["attempts"]) for r in found}


async def test_per_key_a_hanging_key_holds_back_only_its_own_later_rows(pool: asyncpg.Pool) -> None:
    published: list[str] = []
    started: set[str] = set()

    async def kafka_stalls_on_a1(message: OutboxMessage) -> None:
        event_id = message.payload.decode()
        started.add(event_id)
        if event_id == "a1":
            await asyncio.Event().wait()  # never acknowledged
        published.append(event_id)

    relay = OutboxRelay(
        pool, TABLE, kafka_stalls_on_a1, per_key=True, publish_timeout_seconds=TIMEOUT
    )
    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()
    assert (failed.value.sent, failed.value.unsent) == (2, 2)
    assert sorted(published) == ["b1", "c1"], "other referrals' rows are not held back"
    assert "a2" not in started, "a2 is not published ahead of a1"
    assert await _state(pool) == {
        "a1": (False, 1),
        "a2": (False, 0),
        "b1": (True, 1),
        "c1": (True, 1),
    }

    async def kafka_is_back(message: OutboxMessage) -> None:
        published.append(message.payload.decode())

    relay = OutboxRelay(pool, TABLE, kafka_is_back, per_key=True, publish_timeout_seconds=TIMEOUT)
    assert await relay.drain_once() == 2
    assert published[2:] == ["a1", "a2"]


async def test_per_key_different_keys_are_in_flight_at_once(pool: asyncpg.Pool) -> None:
    in_flight, most = 0, 0
    order: list[str] = []

    async def slow_kafka(message: OutboxMessage) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        order.append(message.payload.decode())
        in_flight -= 1

    relay = OutboxRelay(pool, TABLE, slow_kafka, per_key=True, publish_timeout_seconds=5)
    assert await relay.drain_once() == len(ROWS)
    assert most == 3, "one row of each of the three keys at once"
    assert order.index("a1") < order.index("a2")


def test_the_gateway_relays_in_order_per_key() -> None:
    assert (RELAY.per_key, RELAY.concurrent) == (True, False)
