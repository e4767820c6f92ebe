"""How every service runs as a process: logging and tracing once, uvicorn, signals, the stop.

Rules kept here:
- `serve` configures logging and tracing once, adds HTTP spans for the API routes (not for
  health and metrics probes), and runs uvicorn on uvloop and httptools;
- on SIGTERM or SIGINT uvicorn stops taking requests, lets those in flight finish (up to
  `GRACEFUL_SHUTDOWN_SECONDS`), then runs the lifespan's shutdown: the broker's consumers stop,
  the message being handled finishes and is committed (or, if it did not finish, is left
  uncommitted for redelivery), the producer flushes, and spans are exported.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Final

import structlog
from fastapi import FastAPI
from opentelemetry.trace import TracerProvider

from services.common.http_tracing import HttpTracing
from services.common.logging import configure_logging
from services.common.settings import ServiceSettings
from services.common.telemetry import configure_tracing, shutdown_tracing

log = structlog.get_logger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 20


def instrument_http(app: FastAPI, tracer_provider: TracerProvider | None = None) -> None:
    """A server span for each API request (not the probes), continuing the caller's
    `traceparent` if sent (`http_tracing.HttpTracing`; the global tracer provider if None)."""
    app.add_middleware(HttpTracing, tracer_provider=tracer_provider)
    # FastAPI (0.165 on) makes its own server and per-operation spans, with more attributes,
    # whenever a tracer provider is configured (unless OpenTelemetry's ASGI middleware is in
    # its stack): HttpTracing is the one server span, so FastAPI's own is turned off here.
    app._telemetry.update({"tracing": False, "metrics": False, "logs": False})


# The server every service (and the bench's bare endpoint) runs on: uvloop's event loop and the
# httptools parser (both C), picked by name so a missing one fails at start-up rather than
# silently falling back to the pure-Python loop and h11 parser (issue 16: several times slower
# per request); no access log (a line per request, and URLs are not for logs).
SERVER_LOOP: Final = "uvloop"
SERVER_HTTP: Final = "httptools"


def _exit_after_shutdown(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(service: str, settings: ServiceSettings, create_app: Callable[[], FastAPI]) -> None:
    """Run a service's HTTP app (and through its lifespan, its broker) until told to stop."""
    configure_logging(service, level=settings.log_level)
    configure_tracing(service, settings.otel_traces_exporter)
    import uvicorn

    app = create_app()
    instrument_http(app)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-sends the signal to the handler
    # that was there before it; this one makes that a normal exit (status 0), so the lines
    # below still run: the spans are flushed and the stop is logged.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_after_shutdown)
    try:
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            loop=SERVER_LOOP,
            http=SERVER_HTTP,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    finally:
        shutdown_tracing()
        log.info("stopped")
