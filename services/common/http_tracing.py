"""A server span for each HTTP request to a service's API, as one small pure-ASGI middleware.

Rules kept here:
- each request (but the probes and scrapes in `excluded`) runs inside a SERVER span that
  continues the caller's W3C `traceparent`/`tracestate` when sent, so everything the request
  does (its outbox rows carry the current context) belongs to the agency's trace;
- the span is named `<METHOD> <route template>` (`POST /v1/referrals`), or the method alone
  when no route matched; its attributes are the method, the route template and the response
  status only: never the raw path, query string, client address or headers, which are input
  (a path or query may carry anything a caller typed);
- a 5xx answer, or an exception, marks the span as an error (the exception's text is dropped
  on export by `telemetry.PrivateSpanExporter`).
Why not OpenTelemetry's ASGI/FastAPI instrumentation: it matched every route a second time to
name the span and collected a dozen attributes (raw URL included) on every request, about a
twentieth of intake's CPU per referral under load (issue 16, docs/perf/).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Probes and scrapes: answered often, and nothing a trace is for.
UNTRACED_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})

_CONTEXT_HEADERS: Final = frozenset({b"traceparent", b"tracestate"})


class HttpTracing:
    """ASGI middleware: a SERVER span per request, continuing the caller's trace."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded: Iterable[str] = UNTRACED_PATHS,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.excluded = frozenset(excluded)
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _CONTEXT_HEADERS
        }
        parent = propagate.extract(carrier) if carrier else None
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:  # answered or raised: the router has put the matched route in the scope
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
