"""What the dead-letter outbox tests do on the real Kafka and PostgreSQL: a topic and group of
their own, a consumer whose dead letters are queued on the scratch outbox (outbox_scratch.py),
the group's committed offset, a rewind, one relay drain, and this checkout's PostgreSQL
stopped and started by the project's own script."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from services.common.kafka import dead_letter_middleware, durable_subscriber
from services.common.kafka import make_broker as new_broker
from services.common.kafka_consumer import stop_consumer
from services.common.ops_outbox import OpsSink, OutboxOps
from services.common.outbox import kafka_publisher
from services.common.outbox_relay import OutboxRelay
from shared import Service
from shared.topics import OPS_DEADLETTER
from tests.common.outbox_scratch import TABLE
from tests.support.infra import ROOT
from tests.support.kafka import connection, tooling
from tests.support.wait import eventually_async


async def new_topic(bootstrap: str) -> str:
    """A one-partition topic of the test's own: a new group reads it from its first offset."""
    topic = f"assignments.responses.letters-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return topic


class Counted:
    """The outbox, counting the dead letters and alerts it is asked to queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.outbox = OutboxOps(Service.PROVIDER_GATEWAY, lambda: pool, TABLE)
        self.asked = 0

    async def emit(self, event: Any, **where: Any) -> None:
        self.asked += 1
        await self.outbox.emit(event, **where)


def consumer(bootstrap: str, topic: str, group: str, ops: OpsSink) -> tuple[KafkaBroker, list[Any]]:
    """A consumer of `topic` in `group` whose dead letters are queued on the outbox `ops`."""
    broker = new_broker(bootstrap, client_id=group, security=tooling())
    broker.add_middleware(dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker, ops=ops))
    handled: list[Any] = []

    @durable_subscriber(broker, topic, group_id=group, title="t")
    async def on_message(body: dict[str, Any]) -> None:
        handled.append(body)

    return broker, handled


async def queued(pool: asyncpg.Pool, topic: str) -> list[tuple[str, dict[str, Any]]]:
    """The (ce_id, body) of the dead letters of `topic` in the outbox."""
    rows = await pool.fetch("SELECT headers, payload FROM outbox WHERE topic = $1", OPS_DEADLETTER)
    letters = [(r["headers"]["ce_id"], json.loads(r["payload"])) for r in rows]
    return [(ce_id, body) for ce_id, body in letters if body["source_topic"] == topic]


async def relay(bootstrap: str, pool: asyncpg.Pool) -> int:
    broker = new_broker(bootstrap, client_id="letters-relay", security=tooling())
    await broker.start()
    try:
        return await OutboxRelay(pool, TABLE, kafka_publisher(broker)).drain_once()
    finally:
        await broker.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(topic, 0))
    return None if found is None else found.offset


async def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 for `group`: its next consumer reads the topic again from the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 0})
    finally:
        await stop_consumer(consumer)


async def consume_until_handled(bootstrap: str, topic: str, group: str, pool: asyncpg.Pool) -> None:
    broker, handled = consumer(bootstrap, topic, group, Counted(pool))
    await broker.start()
    try:
        await eventually_async(lambda: bool(handled), "the good record handled", timeout=60)
    finally:
        await broker.stop()


def postgres(command: str) -> None:
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), command],
        check=True,
        capture_output=True,
        timeout=120,
    )


async def until(probe: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.5)
