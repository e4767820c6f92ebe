"""Fixtures of the provider gateway's tests; sample data lives in gateway_samples.py, the live
gateway of the integration modules in gateway_live.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

# The live gateway of the integration modules (one per module that asks for it).
from tests.provider_gateway.gateway_live import gateway, receiver_works, topic_marks
from tests.provider_gateway.gateway_samples import API_KEYS, SECRETS

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
