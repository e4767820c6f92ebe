"""The outbox relay's Kafka publisher: rows go out through the broker's producer, observed once
per batch instead of once per message.

Why: the relay publishes every row the service commits, and FastStream's per-publish middleware
(a `create` and a `publish` span, the trace injected into the headers, Prometheus updates, the
middleware objects built anew for each call) was a third of the router's CPU (py-spy, 2026-11-30:
the relay's publishes 38% of the samples, 18% the telemetry middleware alone). This publisher
hands each row to FastStream's producer (`broker.config.producer`, the layer under the
middleware, which TestKafkaBroker also replaces), so a message carries the same headers as
before (the row's CloudEvents headers, its stored `traceparent`, FastStream's `content-type` and
`correlation_id`), and waits for Kafka's ack (acks=all, idempotent: `kafka.make_broker`).

Rules kept here:
- each message carries the `traceparent` (and `tracestate`) stored with its row AS IS: the
  consumer's span becomes a child of the span the row was queued in, so the trace runs on, in
  the same trace and with no parent missing from it (a new child context per message would need
  a span per message exported too, which is the cost this removes);
- a relay batch is observed once per topic (`observe`): ONE producer span `<topic> publish`
  (its parent the first row's stored context, so a batch of one sits in its trace as the old
  per-message span did; links to every row's stored context, up to OpenTelemetry's default
  limit of 128, so each trace carried finds it; status error if any row failed), and ONE
  update of FastStream's publish metrics, under their
  names and labels (`faststream_published_messages_total{status}` by the rows' outcomes,
  `faststream_published_messages_exceptions_total{exception_type}`, and one observation of the
  batch's time to its acks in `faststream_published_messages_duration_seconds`);
- spans and metrics carry topics, counts and exception type names only, never keys or bodies.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from faststream.kafka import KafkaBroker
from faststream.kafka.response import KafkaPublishCommand
from faststream.prometheus.container import MetricsContainer
from faststream.prometheus.manager import MetricsManager
from faststream.prometheus.types import PublishingStatus
from faststream.response import PublishType
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import REGISTRY, CollectorRegistry

from services.common.outbox import BatchRecord, OutboxMessage
from services.common.telemetry import TRACE_HEADERS

_tracer = trace.get_tracer(__name__)


# The W3C propagator alone: a row stores `traceparent` and `tracestate` only (telemetry.py).
_W3C = TraceContextTextMapPropagator()
# OpenTelemetry's default span link limit: the SDK keeps no more than this many links a span.
_MAX_LINKS = 128


def _stored_context(headers: dict[str, str]) -> trace.SpanContext | None:
    carrier = {k: v for k in TRACE_HEADERS if (v := headers.get(k))}
    if not carrier:
        return None
    found = trace.get_current_span(_W3C.extract(carrier)).get_span_context()
    return found if found.is_valid else None


class KafkaOutboxPublisher:
    """Publishes outbox rows through `broker`'s producer; `await publisher(message)` returns
    once Kafka has acknowledged it (at most `timeout_seconds`, if given)."""

    def __init__(
        self,
        broker: KafkaBroker,
        *,
        timeout_seconds: float | None = None,
        registry: CollectorRegistry = REGISTRY,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._broker = broker
        self._timeout = timeout_seconds
        self._tracer = tracer or _tracer
        # The collectors FastStream's Prometheus middleware registered (or registers them),
        # labelled with the same app name (`kafka.make_broker` gives it the client id).
        self._metrics = MetricsManager(
            MetricsContainer(registry, metrics_prefix="faststream", custom_label_names=()),
            app_name=broker.config.client_id or "faststream",
        )

    async def __call__(self, message: OutboxMessage) -> None:
        cmd = KafkaPublishCommand(
            message.payload,
            topic=message.topic,
            key=message.key.encode() if message.key else None,
            headers=dict(message.headers),
            correlation_id=self._broker.config.id_generator(),
            _publish_type=PublishType.PUBLISH,
        )
        sent = self._broker.config.producer.publish(cmd)
        if self._timeout is None:
            await sent
        else:
            await asyncio.wait_for(sent, timeout=self._timeout)

    @contextmanager
    def observe(self, messages: Sequence[OutboxMessage]) -> Iterator[BatchRecord]:
        """One span and one metrics update per topic for the batch `messages` (module rules)."""
        record = BatchRecord()
        started = time.perf_counter()
        spans = {topic: self._span(topic, group) for topic, group in _by_topic(messages).items()}
        try:
            yield record
        finally:
            duration = time.perf_counter() - started
            for topic, span in spans.items():
                outcomes = record.outcomes.get(topic, Counter())
                self._record(topic, outcomes, duration)
                if any(error is not None for error in outcomes):
                    span.set_status(Status(StatusCode.ERROR))
                span.end()

    def _span(self, topic: str, messages: list[OutboxMessage]) -> trace.Span:
        stored = [c for m in messages if (c := _stored_context(m.headers)) is not None]
        parent = trace.set_span_in_context(trace.NonRecordingSpan(stored[0])) if stored else None
        return self._tracer.start_span(
            f"{topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            links=[Link(c) for c in stored[:_MAX_LINKS]],
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "publish",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": len(messages),
            },
        )

    def _record(self, topic: str, outcomes: Counter[str | None], duration: float) -> None:
        labels = {"broker": "kafka", "destination": topic}
        self._metrics.observe_published_message_duration(duration=duration, **labels)
        for error, count in outcomes.items():
            status = PublishingStatus.success if error is None else PublishingStatus.error
            self._metrics.add_published_message(amount=count, status=status, **labels)
            if error is not None:
                for _ in range(count):
                    self._metrics.add_published_message_exception(exception_type=error, **labels)


def _by_topic(messages: Sequence[OutboxMessage]) -> dict[str, list[OutboxMessage]]:
    groups: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        groups.setdefault(message.topic, []).append(message)
    return groups
