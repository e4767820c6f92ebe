"""The provider gateway's process: FastAPI with the lifespan that starts the wired gateway.

HTTP:  GET /v1/assignments/{referral_id}, POST /v1/assignments/{referral_id}/response,
       /healthz, /readyz, /metrics.
Kafka: `referrals.received.v1` + `referrals.decided.v1` -> assignments;
       `assignments.responses.v1` (and each provider's own responses topic) -> answers,
       re-routing; `ops.events.v1` (intake's `erased`) -> the referral's details forgotten.
Loops: delivery workers (webhook and `assignments.<provider>.v1`), the outbox relay (ops
       events, alerts, dead letters), the acceptance-deadline checker, the half-missing checker
       (a decision or a referral still waiting for its other half), the queue-depth gauge.
Wiring is `bootstrap.py`; the start-up and shutdown order is the shared one
(`services.common.startup`): nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from services.common.startup import service_app, service_lifespan
from services.provider_gateway.api import add_provider_api
from services.provider_gateway.bootstrap import JITTER, RELAY, bootstrap, utc_now
from services.provider_gateway.config import GatewaySettings

__all__ = ["create_app"]


def create_app(
    settings: GatewaySettings,
    *,
    clock: Callable[[], datetime] = utc_now,
    rng: Callable[[], float] = JITTER.random,
) -> FastAPI:
    """The gateway's app; `clock` and `rng` replace the real ones in tests."""
    gateway = bootstrap(settings, clock=clock, rng=rng)
    core = gateway.core
    app = service_app(
        core,
        service_lifespan(core, relay=RELAY, extra=gateway.running),
        title="Provider gateway",
        description="Delivers referral assignments to providers and takes their answers.",
    )
    add_provider_api(
        app,
        {p: ch.api_key for p, ch in settings.providers.items()},
        lambda: gateway.referrals,
        gateway.ctx,
        max_body_bytes=settings.max_body_bytes,
        fetches=lambda: gateway.erasures,
        opener=gateway.open_for_provider,
    )
    return app
