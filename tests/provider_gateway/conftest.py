"""Fixtures of the provider gateway's tests; sample data lives in gateway_samples.py, the live
gateway of the integration modules in gateway_live.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.provider_gateway.api import add_provider_api
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import Context
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeFetchAudit, FakeReferralStore, clear_only

# The live gateway of the integration modules (one per module that asks for it).
from tests.provider_gateway.gateway_live import gateway, receiver_works, topic_marks
from tests.provider_gateway.gateway_samples import API_KEYS, SECRETS
from tests.provider_gateway.handler_support import Clock
from tests.provider_gateway.http_support import KEYS

__all__ = ["gateway", "receiver_works", "topic_marks"]


@pytest.fixture
def referral_id() -> UUID:
    return uuid4()


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the gateway's environment from test values alone; override by keyword."""

    def apply(**overrides: str) -> None:
        for name in list(os.environ):
            if name.startswith(("GATEWAY_", "WEBHOOK_SECRET_", "PROVIDER_API_KEY_")):
                monkeypatch.delenv(name)
        env = {"GATEWAY_DATABASE_URL": "postgresql://gateway@127.0.0.1:1/none"}
        # Kafka security is on by default: the gateway's principal (never connected here).
        env |= {"GATEWAY_KAFKA_SASL_USERNAME": "gateway", "GATEWAY_KAFKA_SASL_PASSWORD": "unused"}
        env |= {"PII_KEK_KEYS": "v1:" + "A" * 43, "PII_KEK_PRIMARY": "v1"}
        env |= {f"WEBHOOK_SECRET_{p.upper()}": s for p, s in SECRETS.items()}
        env |= {f"PROVIDER_API_KEY_{p.upper()}": k for p, k in API_KEYS.items()}
        env |= overrides
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return apply


# The fakes the handler and provider API tests share (a module may define its own instead).
@pytest.fixture
def store() -> FakeReferralStore:
    return FakeReferralStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(clock: Clock) -> Context:
    both = ("webhook", "kafka")
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, both), now=clock)


@pytest.fixture
def audit() -> FakeFetchAudit:
    return FakeFetchAudit()


@pytest.fixture
async def client(
    store: FakeReferralStore, ctx: Context, audit: FakeFetchAudit
) -> AsyncIterator[httpx.AsyncClient]:
    """The provider API on the fakes, over ASGI."""
    app = FastAPI()
    add_provider_api(
        app,
        KEYS,
        lambda: store,
        ctx,
        max_body_bytes=64 * 1024,
        fetches=lambda: audit,
        opener=clear_only,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c
