"""A provider's webhook receiver, for tests and demos: verifies, records, fails on request.

Rules kept here:
- every delivery's signature is verified with the official `standardwebhooks` package (not the
  gateway's own signing code), with the provider's secret; a missing or bad signature, or a
  timestamp more than five minutes off, is refused with 401 and recorded nowhere;
- a verified delivery is recorded once per `webhook-id` (the dedupe key) and counted every
  time (the raw count); each one is appended to the JSONL record file when one is given;
- `POST /control/{provider}` makes a provider's endpoint answer with a status (e.g. 503 or
  410, optionally only the next N times, optionally with Retry-After), answer slowly, or
  recover; a controlled failure is counted and not recorded as received.
It is a test receiver: `GET /received` returns the assignment bodies too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PROVIDERS = ("nwa", "juno", "equation")
ProviderName = Annotated[str, PathParam(pattern="^(nwa|juno|equation)$")]


class Control(BaseModel):
    """How a provider's endpoint behaves; all defaults: it just works."""

    fail_status: Annotated[int, Field(ge=400, le=599)] | None = None
    fail_times: Annotated[int, Field(ge=1)] | None = None  # None: until told otherwise
    retry_after: Annotated[int, Field(ge=0)] | None = None
    delay_seconds: Annotated[float, Field(ge=0, le=120)] = 0.0


class Received(BaseModel):
    webhook_id: str
    provider: str
    count: int
    first_received_at: datetime
    assignment_id: str | None
    referral_id: str | None
    pathway: str | None
    priority: str | None
    reason: str | None
    traceparent: str | None = None  # W3C trace context of the first delivery, as sent
    assignment: dict[str, Any]


class Receiver:
    """The receiver's memory: what arrived, how often, and how each endpoint should behave."""

    def __init__(self, record: Path | None) -> None:
        self.record = record
        self.reset()

    def reset(self) -> None:
        """Forget what arrived and make every endpoint work again (the record file stays)."""
        self.received: dict[str, Received] = {}
        self.raw_count = 0
        self.rejected_count = 0
        self.failed_count = 0
        self.controls = {p: Control() for p in PROVIDERS}

    def add(
        self,
        provider: str,
        webhook_id: str,
        body: dict[str, Any],
        traceparent: str | None = None,
    ) -> bool:
        """Record a verified delivery; True if its webhook id was seen before."""
        self.raw_count += 1
        seen = self.received.get(webhook_id)
        if seen is not None:
            self.received[webhook_id] = seen.model_copy(update={"count": seen.count + 1})
        else:
            decision = body.get("decision") or {}
            self.received[webhook_id] = Received(
                webhook_id=webhook_id,
                provider=provider,
                count=1,
                first_received_at=datetime.now(UTC),
                assignment_id=body.get("assignment_id"),
                referral_id=body.get("referral_id"),
                pathway=decision.get("pathway"),
                priority=decision.get("priority"),
                reason=body.get("reason"),
                traceparent=traceparent,
                assignment=body,
            )
        if self.record is not None:
            line = {
                "webhook_id": webhook_id,
                "provider": provider,
                "duplicate": seen is not None,
                "at": datetime.now(UTC).isoformat(),
                "assignment": body,
            }
            with self.record.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")
        return seen is not None

    def take_failure(self, provider: str) -> Control | None:
        """The control to fail this request with, if any (counting down `fail_times`)."""
        control = self.controls[provider]
        if control.fail_status is None:
            return None
        if control.fail_times is not None:
            left = control.fail_times - 1
            self.controls[provider] = (
                control.model_copy(update={"fail_times": left})
                if left
                else Control(delay_seconds=control.delay_seconds)
            )
        self.failed_count += 1
        return control


def create_app(secrets: Mapping[str, str], record: Path | None = None) -> FastAPI:
    """The receiver, verifying each provider's deliveries with `secrets[provider]`."""
    verifiers = {p: Webhook(secrets[p]) for p in PROVIDERS}
    state = Receiver(record)
    app = FastAPI(title="Demo provider receiver", version="1.0.0")
    app.state.receiver = state

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/{provider}")
    async def webhook(provider: ProviderName, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload = verifiers[provider].verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):  # ValueError: malformed header or JSON
            state.rejected_count += 1
            return JSONResponse({"detail": "invalid signature"}, status_code=401)
        delay = state.controls[provider].delay_seconds
        if delay:
            await asyncio.sleep(delay)
        failure = state.take_failure(provider)
        if failure is not None and failure.fail_status is not None:
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            return JSONResponse(
                {"detail": "failing on request"}, status_code=failure.fail_status, headers=headers
            )
        webhook_id = request.headers["webhook-id"]
        duplicate = state.add(provider, webhook_id, payload, request.headers.get("traceparent"))
        return JSONResponse({"received": webhook_id, "duplicate": duplicate})

    @app.get("/received")
    async def received(provider: str | None = None) -> dict[str, Any]:
        items = [r for r in state.received.values() if provider in (None, r.provider)]
        return {
            "raw_count": state.raw_count,
            "unique_count": len(state.received),
            "rejected_count": state.rejected_count,
            "failed_count": state.failed_count,
            "deliveries": [r.model_dump(mode="json") for r in items],
        }

    @app.post("/control/{provider}")
    async def control(provider: ProviderName, wanted: Control) -> Control:
        state.controls[provider] = wanted
        return wanted

    @app.get("/control")
    async def controls() -> dict[str, Control]:
        return state.controls

    @app.post("/reset")
    async def reset() -> dict[str, str]:
        state.reset()
        return {"status": "reset"}

    return app
