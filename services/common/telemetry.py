"""OpenTelemetry tracing, configured once per process, and the trace context across the gaps.

A referral's trace runs from the agency's HTTP request (or its Kafka message) to the provider's
webhook. Kafka carries the W3C `traceparent` header (FastStream's telemetry middleware injects
and extracts it); where the work waits in PostgreSQL instead (the outbox rows, the gateway's
scheduled deliveries) the context is stored with the row and restored when the row is worked.

Rules kept here:
- the exporter is chosen by configuration, with OpenTelemetry's own variable names:
  `OTEL_TRACES_EXPORTER` = `none` (the default: spans are made and propagated, not exported),
  `console` (one JSON line per span on stderr, beside the logs) or `otlp` (OTLP over HTTP to
  `OTEL_EXPORTER_OTLP_ENDPOINT`, read by the exporter itself);
- spans leave the process without exception messages or stack traces, and with no status text:
  an exception's text may quote a payload (pydantic quotes the input it rejected), so only the
  exception's type is kept (`PrivateSpanExporter`, which also writes byte values as text);
  attributes are set by FastStream and the
  ASGI instrumentation (topics, partitions, keys that are referral ids, routes, status codes),
  never from message bodies; a consumed key or correlation id that is not an id we mint is
  exported as its digest;
- `trace_fields` is a structlog processor that puts `trace_id` and `span_id` on every log line
  written inside a span.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status

from services.common.edge import safe_id, safe_key

TracesExporter = Literal["none", "console", "otlp"]

TRACE_HEADERS: Final = ("traceparent", "tracestate")

# Exception event attributes that may quote data; the type is kept, these are dropped.
_TEXT_ATTRIBUTES: Final = frozenset({"exception.message", "exception.stacktrace"})


def _private_event(event: Event) -> Event:
    if not event.attributes or not _TEXT_ATTRIBUTES & set(event.attributes):
        return event
    kept = {k: v for k, v in event.attributes.items() if k not in _TEXT_ATTRIBUTES}
    return Event(event.name, kept, event.timestamp)


def _text(value: Any) -> Any:
    # FastStream records a Kafka key as the raw bytes, which not every exporter can write.
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# Attributes FastStream copies from a consumed message (its key, its `correlation_id` header):
# input, so a span carries them only as the edge's digests unless they are ids we mint.
_KEY: Final = "messaging.kafka.message.key"
_CORRELATION_ID: Final = "messaging.message.conversation_id"


def _attribute(name: str, value: Any) -> Any:
    if name == _KEY and isinstance(value, bytes | str):
        return safe_key(value)
    if name == _CORRELATION_ID and isinstance(value, bytes | str):
        return safe_id(_text(value))
    return _text(value)


def private_span(span: ReadableSpan) -> ReadableSpan:
    """The span without exception texts or status description (see the module's rules)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={k: _attribute(k, v) for k, v in (span.attributes or {}).items()},
        events=[_private_event(e) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class PrivateSpanExporter(SpanExporter):
    """Wraps an exporter so that no span leaves the process carrying exception text."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([private_span(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _one_line(span: ReadableSpan) -> str:
    line: str = span.to_json(indent=None)
    return line + "\n"


def make_exporter(kind: TracesExporter) -> SpanExporter | None:
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)
    # Imported here: only deployments that export over OTLP pay for loading it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


_provider: TracerProvider | None = None


def configure_tracing(service: str, exporter: TracesExporter = "none") -> TracerProvider:
    """Install the process's tracer provider (once; later calls return the first one)."""
    global _provider  # noqa: PLW0603 - one provider per process, as OpenTelemetry requires
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    inner = make_exporter(exporter)
    if inner is not None:
        provider.add_span_processor(BatchSpanProcessor(PrivateSpanExporter(inner)))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop exporting (at process exit)."""
    if _provider is not None:
        _provider.shutdown()


def current_trace_headers() -> dict[str, str]:
    """The current span's context as W3C headers (empty outside any span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_HEADERS}


def traceparent() -> str | None:
    """The current span's `traceparent`, to store with work that waits in the database."""
    return current_trace_headers().get("traceparent")


@contextmanager
def trace_context(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Work inside the trace context carried by `headers` (a stored `traceparent`, say)."""
    carrier = {k: v for k, v in (headers or {}).items() if k in TRACE_HEADERS and v}
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def trace_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids, when inside a span."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict
