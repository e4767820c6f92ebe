"""Tracing: what leaves the process, the trace on log lines, and the context across the outbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from services.common.edge import digest
from services.common.outbox import OutboxMessage, OutboxTable, enqueue, kafka_publisher
from services.common.telemetry import (
    PrivateSpanExporter,
    current_trace_headers,
    make_exporter,
    trace_context,
    trace_fields,
    traceparent,
)

SECRET = "Sam Example, 07700900123"


@pytest.fixture
def exported() -> Iterator[tuple[Tracer, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PrivateSpanExporter(memory)))
    yield provider.get_tracer("test"), memory
    provider.shutdown()


def test_an_exception_leaves_in_a_span_with_its_type_but_not_its_text(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, memory = exported
    with pytest.raises(ValueError, match="input_value"), tracer.start_as_current_span("handle"):
        raise ValueError(f"input_value={SECRET!r}")
    (span,) = memory.get_finished_spans()
    text = span.to_json()
    assert SECRET not in text
    assert "07700900123" not in text
    assert span.status.description is None
    assert span.status.is_ok is False
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"


def test_byte_attributes_are_written_as_text(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, memory = exported
    with tracer.start_as_current_span("consume") as span:
        span.set_attribute("messaging.kafka.message.key", _REFERRAL_ID.encode())
        span.set_attribute("messaging.destination.name", b"referrals.decided.v1")
    (finished,) = memory.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["messaging.kafka.message.key"] == _REFERRAL_ID
    assert finished.attributes["messaging.destination.name"] == "referrals.decided.v1"
    json.loads(finished.to_json())  # writable by the console exporter


_REFERRAL_ID = "0b6f3a52-8f0e-4d59-9a4b-8d1f2e3c4b5a"


def test_a_consumed_key_or_correlation_id_we_did_not_mint_is_exported_as_its_digest(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, memory = exported
    with tracer.start_as_current_span("consume") as span:
        span.set_attribute("messaging.kafka.message.key", b"Sam Example \xff")
        span.set_attribute("messaging.message.conversation_id", "sam@example.org")
    (finished,) = memory.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["messaging.kafka.message.key"] == digest(b"Sam Example \xff")
    assert finished.attributes["messaging.message.conversation_id"] == digest("sam@example.org")


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = exported
    assert "trace_id" not in trace_fields(None, "info", {"event": "outside"})
    with tracer.start_as_current_span("work") as span:
        fields = trace_fields(None, "info", {"event": "inside"})
    context = span.get_span_context()
    assert fields["trace_id"] == format(context.trace_id, "032x")
    assert fields["span_id"] == format(context.span_id, "016x")


def test_a_stored_traceparent_resumes_the_trace_it_was_taken_in(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, memory = exported
    assert traceparent() is None
    with tracer.start_as_current_span("request") as request:
        stored = traceparent()
    assert stored is not None
    assert traceparent() is None
    with trace_context({"traceparent": stored}), tracer.start_as_current_span("later"):
        pass
    later = next(s for s in memory.get_finished_spans() if s.name == "later")
    assert later.context is not None
    assert later.context.trace_id == request.get_span_context().trace_id
    assert later.parent is not None
    assert later.parent.span_id == request.get_span_context().span_id


def test_an_empty_or_missing_context_changes_nothing() -> None:
    with trace_context({"traceparent": ""}), trace_context(None):
        assert current_trace_headers() == {}


class _Connection:
    def __init__(self) -> None:
        self.inserted: list[Any] = []

    async def execute(self, sql: str, *args: Any) -> None:
        if sql.startswith("INSERT"):
            self.inserted.append(args)


async def test_an_outbox_row_is_published_in_the_trace_it_was_queued_in(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = exported
    conn = _Connection()
    message = OutboxMessage("referrals.received.v1", "k", {"ce_id": "1"}, b"{}")
    with tracer.start_as_current_span("POST /v1/referrals") as request:
        await enqueue(conn, OutboxTable(channel="c"), message)
    (_topic, _key, headers, _payload) = conn.inserted[0]
    assert headers["ce_id"] == "1"
    trace_id = format(request.get_span_context().trace_id, "032x")
    assert headers["traceparent"].split("-")[1] == trace_id

    broker = KafkaBroker("127.0.0.1:1", client_id="trace-test")  # no CloudEvents decoder
    seen: list[dict[str, str]] = []

    @broker.subscriber("referrals.received.v1")
    async def on_received(msg: KafkaMessage) -> None:
        seen.append({k: str(v) for k, v in msg.headers.items()})

    async with TestKafkaBroker(broker):
        publish = kafka_publisher(broker, timeout_seconds=5)
        await publish(OutboxMessage(message.topic, message.key, headers, message.payload))
    # The stored context as is: the consumer's span is a child of the request's.
    assert seen[0]["traceparent"] == headers["traceparent"]
    assert seen[0]["traceparent"].split("-")[1] == trace_id


def test_the_otlp_exporter_sends_private_spans_to_the_configured_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real OTLP/HTTP exchange with a stand-in collector on loopback."""
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        exporter = make_exporter("otlp")
        assert exporter is not None
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "router"}))
        provider.add_span_processor(SimpleSpanProcessor(PrivateSpanExporter(exporter)))
        with (
            pytest.raises(ValueError, match="input_value"),
            provider.get_tracer("t").start_as_current_span("referrals.received.v1 process"),
        ):
            raise ValueError(f"input_value={SECRET!r}")
        provider.shutdown()
    finally:
        server.shutdown()
    (path, body), *_ = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "router"
    (span,) = resource_spans.scope_spans[0].spans
    assert span.name == "referrals.received.v1 process"
    assert b"Sam Example" not in body
    assert b"07700900123" not in body


def test_no_exporter_means_spans_are_made_but_not_sent() -> None:
    assert make_exporter("none") is None
    assert make_exporter("console") is not None
