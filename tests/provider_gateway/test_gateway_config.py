"""The gateway's settings: required secrets named when missing, channels, policies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.provider_gateway.config import GatewaySettings, settings_error_message
from shared import Priority, Provider
from tests.provider_gateway.gateway_samples import API_KEYS, SECRETS, T0

Env = Callable[..., None]


def test_defaults(gateway_env: Env) -> None:
    gateway_env()
    settings = GatewaySettings()
    assert settings.http_port == 8003
    assert settings.connect_timeout_seconds == 3.0
    assert settings.read_timeout_seconds == 10.0
    nwa = settings.channels(Provider.NWA)
    assert nwa.webhook_url is None
    assert nwa.kafka is True
    assert nwa.webhook_secret.get_secret_value() == SECRETS["nwa"]
    assert nwa.api_key.get_secret_value() == API_KEYS["nwa"]
    sla = settings.sla_policy()
    assert sla.due(Priority.URGENT, T0) == T0 + timedelta(hours=4)
    assert settings.retry_policy().give_up_after == timedelta(days=1)


def test_each_missing_secret_is_named_by_its_variable(
    gateway_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_env()
    monkeypatch.delenv("WEBHOOK_SECRET_JUNO")
    monkeypatch.delenv("PROVIDER_API_KEY_NWA")
    monkeypatch.delenv("GATEWAY_DATABASE_URL")
    with pytest.raises(ValidationError) as caught:
        GatewaySettings()
    message = settings_error_message(caught.value)
    for name in ("WEBHOOK_SECRET_JUNO", "PROVIDER_API_KEY_NWA", "GATEWAY_DATABASE_URL"):
        assert name in message
    assert "GATEWAY_WEBHOOK_SECRET" not in message


def test_a_secret_that_is_not_whsec_is_refused(gateway_env: Env) -> None:
    gateway_env(WEBHOOK_SECRET_NWA="not-a-secret")
    with pytest.raises(ValidationError, match="whsec_"):
        GatewaySettings()


def test_a_short_api_key_is_refused(gateway_env: Env) -> None:
    gateway_env(PROVIDER_API_KEY_EQUATION="short")
    with pytest.raises(ValidationError, match="16 characters"):
        GatewaySettings()


def test_webhook_urls_timeouts_and_schedule_come_from_the_environment(gateway_env: Env) -> None:
    gateway_env(
        GATEWAY_JUNO_WEBHOOK_URL="https://juno.example/hooks",
        GATEWAY_JUNO_KAFKA="false",
        GATEWAY_READ_TIMEOUT_SECONDS="4",
        GATEWAY_RETRY_SCHEDULE="1,2,3",
        GATEWAY_SLA_STANDARD_WORKING_DAYS="3",
        GATEWAY_SLA_HOLIDAYS="2026-12-25",
    )
    settings = GatewaySettings()
    juno = settings.channels(Provider.JUNO)
    assert (juno.webhook_url, juno.kafka) == ("https://juno.example/hooks", False)
    assert settings.read_timeout_seconds == 4
    policy = settings.retry_policy()
    assert policy.schedule == tuple(timedelta(seconds=s) for s in (1, 2, 3))
    assert policy.max_retry_after == timedelta(hours=8)
    assert settings.sla_policy().standard_working_days == 3


def test_a_provider_without_any_channel_is_refused(gateway_env: Env) -> None:
    gateway_env(GATEWAY_NWA_KAFKA="false")
    with pytest.raises(ValueError, match="GATEWAY_NWA_WEBHOOK_URL"):
        GatewaySettings().check()


def test_kafka_bootstrap_may_be_shared_or_prefixed(gateway_env: Env) -> None:
    gateway_env(KAFKA_BOOTSTRAP_SERVERS="kafka:9092")
    assert GatewaySettings().kafka_bootstrap_servers == "kafka:9092"
    gateway_env(GATEWAY_KAFKA_BOOTSTRAP_SERVERS="other:9092")
    assert GatewaySettings().kafka_bootstrap_servers == "other:9092"


def test_the_delivery_lease_must_outlast_one_attempt(gateway_env: Env) -> None:
    gateway_env(
        GATEWAY_CONNECT_TIMEOUT_SECONDS="1",
        GATEWAY_READ_TIMEOUT_SECONDS="3",
        GATEWAY_DELIVERY_LEASE_SECONDS="4",
    )
    with pytest.raises(ValueError, match="GATEWAY_DELIVERY_LEASE_SECONDS"):
        GatewaySettings().check()
    gateway_env(
        GATEWAY_CONNECT_TIMEOUT_SECONDS="1",
        GATEWAY_READ_TIMEOUT_SECONDS="2.5",
        GATEWAY_DELIVERY_LEASE_SECONDS="4",
    )
    GatewaySettings().check()


def test_endpoint_health_settings_shape_the_breaker_policy(gateway_env: Env) -> None:
    gateway_env(
        GATEWAY_BREAKER_THRESHOLD="4",
        GATEWAY_BREAKER_PROBE_SECONDS="0.5",
        GATEWAY_BREAKER_RELEASE_PER_SECOND="50",
        GATEWAY_CONNECT_TIMEOUT_SECONDS="1",
        GATEWAY_READ_TIMEOUT_SECONDS="2",
    )
    policy = GatewaySettings().breaker_policy()
    assert (policy.threshold, policy.probe_interval, policy.release_per_second) == (
        4,
        timedelta(seconds=0.5),
        50.0,
    )
    # A probe unanswered after one attempt's timeouts (and a second) is replaced.
    assert policy.probe_timeout == timedelta(seconds=4)
    gateway_env()
    assert GatewaySettings().breaker_policy().threshold == 3


def test_a_release_rate_of_zero_is_refused_naming_the_variable(gateway_env: Env) -> None:
    gateway_env(GATEWAY_BREAKER_RELEASE_PER_SECOND="0")
    with pytest.raises(ValidationError) as caught:
        GatewaySettings()
    assert "GATEWAY_BREAKER_RELEASE_PER_SECOND" in settings_error_message(caught.value)
