"""The relay's Kafka publisher (`services.common.outbox_kafka`) on FastStream's in-memory broker.

Rules checked:
- a message goes out with its row's headers as stored (CloudEvents headers, the stored
  `traceparent` as is) and keyed by its row's key, below FastStream's per-publish middleware:
  publishing a batch of rows updates the publish metrics once per topic, not once per row;
- a batch is observed with ONE producer span per topic, whose parent is the first row's stored
  context and which links to every row's; a failed or given-up row marks it as an error and is
  counted under its exception type;
- (against the real Kafka and PostgreSQL, through the relay: test_outbox_relay_kafka_integration).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from prometheus_client import REGISTRY

from services.common.kafka import make_broker
from services.common.outbox import OutboxMessage
from services.common.outbox_kafka import KafkaOutboxPublisher
from services.common.telemetry import current_trace_headers
from tests.support.kafka import cloudevent


def _queued(tracer: Tracer, topic: str, key: str) -> OutboxMessage:
    """A row as `enqueue` stores it: queued inside a span of its own trace."""
    with tracer.start_as_current_span(f"queue {key}"):
        headers = current_trace_headers() | cloudevent("test.relay", subject=key)
    return OutboxMessage(topic, key, headers, f'{{"key": "{key}"}}'.encode())


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_batch_goes_out_as_stored_with_one_metrics_update_per_topic(
    traced: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = traced
    topic = f"test.relay-{uuid4().hex[:8]}"
    broker = make_broker("127.0.0.1:1", client_id="relay-unit")  # with the services' middleware
    seen: list[tuple[bytes | None, dict[str, Any]]] = []

    @broker.subscriber(topic)
    async def on_message(msg: KafkaMessage) -> None:
        seen.append((getattr(msg.raw_message, "key", None), dict(msg.headers)))

    rows = [_queued(tracer, topic, f"k{i}") for i in range(3)]
    publisher = KafkaOutboxPublisher(broker, timeout_seconds=5, tracer=tracer)
    async with TestKafkaBroker(broker):
        with publisher.observe(rows) as record:
            for row in rows:
                await publisher(row)
                record.done(row, None)

    assert [key for key, _ in seen] == [b"k0", b"k1", b"k2"]
    for row, (_, headers) in zip(rows, seen, strict=True):
        assert headers["traceparent"] == row.headers["traceparent"]
        assert headers["ce_id"] == row.headers["ce_id"]
        assert headers["ce_type"] == "test.relay"
    labels = {"app_name": "relay-unit", "broker": "kafka", "destination": topic}
    assert _sample("faststream_published_messages_total", labels | {"status": "success"}) == 3
    # One observation for the batch: FastStream's middleware would have made three.
    assert _sample("faststream_published_messages_duration_seconds_count", labels) == 1


async def test_a_batch_is_one_span_per_topic_in_the_first_rows_trace_linking_every_row(
    traced: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, memory = traced
    decided, ops = f"test.decided-{uuid4().hex[:8]}", f"test.ops-{uuid4().hex[:8]}"
    rows = [_queued(tracer, decided, "a"), _queued(tracer, ops, "a"), _queued(tracer, decided, "b")]
    memory.clear()  # only the publisher's spans from here
    publisher = KafkaOutboxPublisher(KafkaBroker(client_id="relay-unit"), tracer=tracer)

    with publisher.observe(rows) as record:
        record.done(rows[0], None)
        record.done(rows[1], None)
        record.done(rows[2], "KafkaTimeoutError")

    spans = {s.name: s for s in memory.get_finished_spans()}
    assert sorted(spans) == [f"{decided} publish", f"{ops} publish"]
    span = spans[f"{decided} publish"]
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes is not None
    assert span.attributes["messaging.batch.message_count"] == 2
    first = rows[0].headers["traceparent"].split("-")
    assert span.parent is not None
    assert (format(span.parent.trace_id, "032x"), format(span.parent.span_id, "016x")) == (
        first[1],
        first[2],
    )
    linked = {format(link.context.trace_id, "032x") for link in span.links}
    assert linked == {r.headers["traceparent"].split("-")[1] for r in (rows[0], rows[2])}
    assert span.status.status_code is StatusCode.ERROR
    assert spans[f"{ops} publish"].status.status_code is StatusCode.UNSET

    labels = {"app_name": "relay-unit", "broker": "kafka", "destination": decided}
    assert _sample("faststream_published_messages_total", labels | {"status": "error"}) == 1
    assert _sample("faststream_published_messages_total", labels | {"status": "success"}) == 1
    errors = labels | {"exception_type": "KafkaTimeoutError"}
    assert _sample("faststream_published_messages_exceptions_total", errors) == 1
