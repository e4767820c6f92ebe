"""Dead letters through the outbox, on the real Kafka and the real PostgreSQL.

Rules checked:
- the same poison record delivered twice (its group rewound, the consumer started again) is
  dead-lettered twice under ONE id: both outbox rows, and both messages the relay publishes on
  `ops.deadletter.v1`, carry the same `dead_letter_id` and `ce_id`;
- a dead letter is queued on the outbox while Kafka is unreachable (nothing is published then),
  and the relay publishes it once Kafka is there;
- while PostgreSQL is down, a poison message cannot be dead-lettered: it is not acknowledged
  (its group's offset stays before it); once PostgreSQL is back it is dead-lettered and the
  offset moves past it. (This checkout's own PostgreSQL is stopped and started by the project's
  script, as in tests/intake/test_postgres_outage_integration.py.)
Each test works on a temporary `outbox` table (outbox_scratch.py) that no running relay sees,
and on a topic and consumer group of its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from uuid import uuid4

import asyncpg
import pytest

from services.common.kafka import dead_letterer
from services.common.kafka import make_broker as new_broker
from services.common.ops_outbox import OutboxOps
from shared import Service
from shared.topics import OPS_DEADLETTER
from tests.common.dead_letter_outbox import (
    Counted,
    committed,
    consume_until_handled,
    consumer,
    new_topic,
    postgres,
    queued,
    relay,
    rewind,
    until,
)
from tests.common.outbox_scratch import TABLE, scratch_pool
from tests.support.kafka import Record, cloudevent, collect, produce
from tests.support.wait import eventually_async

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
        yield created


async def test_the_same_poison_record_delivered_twice_is_dead_lettered_under_one_id(
    stack_env: dict[str, str], pool: asyncpg.Pool
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await new_topic(bootstrap), f"letters-{uuid4().hex[:8]}"
    headers = cloudevent("t")
    await produce(bootstrap, topic, b"\x00not json{", key="poison", headers=headers)
    await produce(bootstrap, topic, b'{"good": true}', key="good", headers=headers)

    await consume_until_handled(bootstrap, topic, group, pool)
    await rewind(bootstrap, group, topic)  # as if the first run had crashed before its commit
    await consume_until_handled(bootstrap, topic, group, pool)

    letters = await queued(pool, topic)
    assert len(letters) == 2, "the redelivered poison record was not dead-lettered again"
    ids = {(ce_id, body["dead_letter_id"]) for ce_id, body in letters}
    assert len(ids) == 1, f"two dead letters of one record under different ids: {ids}"
    ((ce_id, letter_id),) = ids
    assert ce_id == letter_id

    assert await relay(bootstrap, pool) >= 2

    def ours(r: Record) -> bool:
        return bool(r.json()["source_topic"] == topic)

    published = await collect(
        bootstrap, OPS_DEADLETTER, ours, until=lambda kept: len(kept) >= 2, timeout=30
    )
    assert {(r.headers["ce_id"], r.json()["dead_letter_id"]) for r in published} == ids
    assert len(published) == 2


async def test_a_dead_letter_queued_while_kafka_is_unreachable_is_published_once_it_is_there(
    stack_env: dict[str, str], pool: asyncpg.Pool
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"referrals.received.letters-{uuid4().hex[:8]}"
    nowhere = new_broker("127.0.0.1:1", client_id="letters-nowhere")  # never reachable
    letter = dead_letterer(
        Service.ROUTER, lambda: nowhere, ops=OutboxOps(Service.ROUTER, lambda: pool, TABLE)
    )
    record = SimpleNamespace(topic=topic, partition=2, offset=41, key=b"some-key")
    await letter(record, json.JSONDecodeError("bad", "", 0))

    ((ce_id, body),) = await queued(pool, topic)
    assert (body["source_partition"], body["source_offset"], body["reason_code"]) == (
        2,
        41,
        "unparseable",
    )
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 0

    assert await relay(bootstrap, pool) >= 1  # Kafka is there now
    (published,) = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.json()["source_topic"] == topic,
        until=lambda kept: len(kept) >= 1,
        timeout=30,
    )
    assert published.headers["ce_id"] == ce_id == published.json()["dead_letter_id"]


async def test_a_poison_message_is_not_acknowledged_while_postgres_is_down(
    stack_env: dict[str, str], pool: asyncpg.Pool
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await new_topic(bootstrap), f"letters-{uuid4().hex[:8]}"
    await produce(bootstrap, topic, b"\x00not json{", key="poison", headers=cloudevent("t"))
    ops = Counted(pool)
    broker, _ = consumer(bootstrap, topic, group, ops)
    postgres("stop")
    try:
        await broker.start()
        try:
            # Dead-lettering fails, the message is not acked, and it comes back: tried again.
            await eventually_async(lambda: ops.asked >= 2, "the poison redelivered", timeout=60)
        finally:
            await broker.stop()
        assert await committed(bootstrap, group, topic) is None, "acked while PostgreSQL was down"
    finally:
        postgres("start")

    again = Counted(pool)
    broker, _ = consumer(bootstrap, topic, group, again)  # the consumer started again
    await broker.start()
    try:

        async def acked() -> bool:
            return await committed(bootstrap, group, topic) == 1

        await until(acked, "the poison message acked once PostgreSQL was back")
    finally:
        await broker.stop()
    ((_, body),) = await queued(pool, topic)
    assert (body["source_offset"], body["reason_code"]) == (0, "unparseable_json")
