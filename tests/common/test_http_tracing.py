"""HTTP server spans: one per API request, in the caller's trace, carrying no input."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common.serving import instrument_http
from services.common.telemetry import traceparent

SECRET = "Sam Example 07700900123"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    provider.shutdown()


@pytest.fixture
def spans(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def _app(provider: TracerProvider) -> tuple[FastAPI, dict[str, Any]]:
    # A provider FastAPI's own telemetry would use too (as a configured global one would be).
    app = FastAPI(telemetry={"tracer_provider": provider})
    seen: dict[str, Any] = {}

    @app.post("/v1/things/{thing_id}", status_code=201)
    async def make(thing_id: str) -> dict[str, str]:
        seen["traceparent"] = traceparent()  # what an outbox row would store
        return {"thing_id": thing_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    instrument_http(app, provider)
    return app, seen


def test_a_request_runs_in_a_server_span_continuing_the_callers_trace(
    provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    app, seen = _app(provider)
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    with TestClient(app) as client:
        answer = client.post(
            f"/v1/things/{SECRET}?q={SECRET}",
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        assert answer.status_code == 201
        assert client.get("/healthz").status_code == 200
    (span,) = spans.get_finished_spans()  # no span for the probe
    assert span.name == "POST /v1/things/{thing_id}"
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id
    assert seen["traceparent"].split("-")[1:3] == [trace_id, format(span.context.span_id, "016x")]
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/v1/things/{thing_id}",
        "http.response.status_code": 201,
    }
    assert "07700900123" not in span.to_json()  # neither the raw path nor the query


def test_a_server_error_marks_the_span_as_an_error(
    provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    app, _ = _app(provider)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    (span,) = spans.get_finished_spans()
    assert span.name == "GET /boom"
    assert span.status.status_code is StatusCode.ERROR
