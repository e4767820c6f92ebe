"""The outbox relay publishing to the real Kafka (`kafka_publisher`) from the real PostgreSQL.

Rules checked:
- in order, and per key, a batch's rows reach Kafka in commit order for each key, each with its
  CloudEvents headers and the `traceparent` stored with its row, and are marked sent once
  acknowledged; the batch is one producer span per topic, not one per row;
- a row whose publish fails (larger than the producer takes) stays unsent with its attempt
  counted, and in order the rows of its key behind it are neither published nor marked;
- a row Kafka does not acknowledge in time (its topic does not exist: the producer waits for
  metadata) stays unsent, and the rows acknowledged beside it are marked sent.
Each test works on a temporary `outbox` table (outbox_scratch.py) and a topic of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from services.common.kafka import make_broker
from services.common.outbox import OutboxMessage, enqueue, kafka_publisher
from services.common.outbox_kafka import KafkaOutboxPublisher
from services.common.outbox_relay import OutboxPublishFailed, OutboxRelay
from services.common.telemetry import current_trace_headers
from tests.common.outbox_scratch import TABLE, rows, scratch_pool
from tests.support.kafka import cloudevent, connection, end_offsets, read_since, tooling

pytestmark = pytest.mark.integration

RUN = uuid4().hex[:8]
TOPIC = f"test.relay-kafka-{RUN}"
PUBLISH_TIMEOUT = 3.0


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_pool(stack_env, 1) as created:
        yield created


@pytest.fixture
async def broker(stack_env: dict[str, str]) -> AsyncIterator[KafkaBroker]:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        if TOPIC not in await admin.list_topics():
            await admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    created = make_broker(bootstrap, client_id=f"relay-kafka-{RUN}", security=tooling())
    await created.start()
    try:
        yield created
    finally:
        await created.stop()


async def _queue(
    pool: asyncpg.Pool, tracer: Tracer, rows_: list[tuple[str, str, bytes]]
) -> list[OutboxMessage]:
    """Each (topic, key, payload) committed in its own transaction, inside a span of its own."""
    queued = []
    async with pool.acquire() as conn:
        for n, (topic, key, payload) in enumerate(rows_):
            with tracer.start_as_current_span(f"queue {n}"):
                headers = current_trace_headers() | cloudevent("test.relay", subject=key)
                message = OutboxMessage(topic, key, headers, payload)
                async with conn.transaction():
                    await enqueue(conn, TABLE, message)
            queued.append(message)
    return queued


def _ce_ids_by_key(published: list[tuple[str | None, dict[str, str]]]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for key, headers in published:
        by_key.setdefault(str(key), []).append(headers["ce_id"])
    return by_key


async def _published(
    stack_env: dict[str, str], since: object
) -> list[tuple[str | None, dict[str, str]]]:
    found = await read_since(stack_env["KAFKA_BOOTSTRAP_SERVERS"], since)  # type: ignore[arg-type]
    return [
        (m.key.decode() if m.key else None, {k: v.decode() for k, v in m.headers})
        for m in sorted(found, key=lambda m: (m.partition, m.offset))
    ]


@pytest.mark.parametrize("per_key", [False, True])
async def test_a_batch_reaches_kafka_in_commit_order_per_key_with_its_stored_trace(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    stack_env: dict[str, str],
    traced: tuple[Tracer, InMemorySpanExporter],
    *,
    per_key: bool,
) -> None:
    tracer, memory = traced
    keys = [f"{k}-{RUN}" for k in ("a", "b", "c", "d")]
    queued = await _queue(pool, tracer, [(TOPIC, keys[i % 4], b"{}") for i in range(24)])
    memory.clear()
    since = await end_offsets(stack_env["KAFKA_BOOTSTRAP_SERVERS"], (TOPIC,))
    publisher = KafkaOutboxPublisher(broker, tracer=tracer)
    relay = OutboxRelay(
        pool, TABLE, publisher, per_key=per_key, publish_timeout_seconds=PUBLISH_TIMEOUT
    )

    assert await relay.drain_once() == 24

    published = await _published(stack_env, since)
    committed = _ce_ids_by_key([(m.key, m.headers) for m in queued])
    assert _ce_ids_by_key(published) == committed  # every row once, in commit order per key
    stored = {m.headers["ce_id"]: m.headers for m in queued}
    for _key, headers in published:
        assert headers["traceparent"] == stored[headers["ce_id"]]["traceparent"]
        for name in ("ce_specversion", "ce_type", "ce_source", "ce_time", "ce_subject"):
            assert headers[name] == stored[headers["ce_id"]][name]
    assert {sent for sent, _ in (await rows(pool)).values()} == {True}
    assert [s.name for s in memory.get_finished_spans()] == [f"{TOPIC} publish"]


async def test_a_failed_publish_stays_unsent_and_holds_back_its_keys_later_rows(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    stack_env: dict[str, str],
    traced: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = traced
    key = f"big-{RUN}"
    too_large = b"x" * 2_000_000  # over the producer's max_request_size (1 MB): refused
    await _queue(pool, tracer, [(TOPIC, key, b"{}"), (TOPIC, key, too_large), (TOPIC, key, b"{}")])
    since = await end_offsets(stack_env["KAFKA_BOOTSTRAP_SERVERS"], (TOPIC,))
    relay = OutboxRelay(
        pool, TABLE, kafka_publisher(broker), publish_timeout_seconds=PUBLISH_TIMEOUT
    )

    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()

    assert (failed.value.sent, failed.value.unsent) == (1, 2)
    assert failed.value.cause == "MessageSizeTooLargeError"
    published = await _published(stack_env, since)
    assert len(published) == 1  # only the first row: the third waits behind the refused one
    async with pool.acquire() as conn:
        states = await conn.fetch(
            "SELECT sent_at IS NOT NULL AS sent, attempts FROM outbox ORDER BY outbox_id"
        )
    assert [(r["sent"], r["attempts"]) for r in states] == [(True, 1), (False, 1), (False, 0)]


async def test_a_publish_not_acknowledged_in_time_stays_unsent(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    traced: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = traced
    missing = f"test.relay-missing-{RUN}"  # never created: the producer waits for its metadata
    await _queue(pool, tracer, [(TOPIC, f"ok-{RUN}", b"{}"), (missing, f"lost-{RUN}", b"{}")])
    relay = OutboxRelay(
        pool, TABLE, kafka_publisher(broker), concurrent=True, publish_timeout_seconds=1.0
    )

    with pytest.raises(OutboxPublishFailed) as failed:
        await relay.drain_once()

    assert (failed.value.sent, failed.value.unsent, failed.value.cause) == (1, 1, "timeout")
    assert await rows(pool) == {f"ok-{RUN}": (True, 1), f"lost-{RUN}": (False, 1)}
