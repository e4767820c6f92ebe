"""Kafka security settings: on by default, each missing or wrong setting named by its variable."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.security import SASLScram256, SASLScram512
from pydantic import SecretStr, ValidationError

from services.common.kafka_security import KafkaSecurity, KafkaSecurityError
from services.common.settings import missing_settings_message
from services.ops.config import OpsSettings
from services.router.config import RouterSettings

CA = """-----BEGIN CERTIFICATE-----
MIIBnDCCAUOgAwIBAgIUOzj1vwnOm/1DKWtC7lVAGMYQaWMwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZdGVzdCBDQSBmb3Iga2Fma2Ffc2VjdXJpdHkwHhcNMjYxMTI5
MjAwMDAwWhcNMzYxMTI3MjAwMDAwWjAkMSIwIAYDVQQDDBl0ZXN0IENBIGZvciBr
YWZrYV9zZWN1cml0eTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHy0xGx1eS0r
"""


def test_security_is_on_by_default_and_needs_credentials() -> None:
    with pytest.raises(KafkaSecurityError, match="set KAFKA_SASL_USERNAME: SASL_SSL needs"):
        KafkaSecurity.from_env(environ={})


def test_a_service_is_told_its_own_variable_first() -> None:
    with pytest.raises(KafkaSecurityError) as caught:
        KafkaSecurity.from_env("ROUTER_", environ={"ROUTER_KAFKA_SASL_USERNAME": "router"})
    assert str(caught.value).startswith(
        "set ROUTER_KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD): SASL_SSL needs"
    )


def test_the_prefixed_variables_win_over_the_plain_ones() -> None:
    security = KafkaSecurity.from_env(
        "ROUTER_",
        environ={
            "KAFKA_SASL_USERNAME": "tooling",
            "KAFKA_SASL_PASSWORD": "tooling-secret",
            "ROUTER_KAFKA_SASL_USERNAME": "router",
            "ROUTER_KAFKA_SASL_PASSWORD": "router-secret",
        },
    )
    assert security.sasl_username == "router"
    assert security.aiokafka_kwargs()["sasl_plain_password"] == "router-secret"


def test_a_missing_ca_file_is_named_with_its_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    env = {"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p", "KAFKA_SSL_CAFILE": str(missing)}
    with pytest.raises(KafkaSecurityError, match=f"KAFKA_SSL_CAFILE={missing}: no such file"):
        KafkaSecurity.from_env(environ=env)


def test_a_ca_file_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "ca.crt"
    broken.write_text(CA)  # cut short: not a whole certificate
    env = {"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p", "KAFKA_SSL_CAFILE": str(broken)}
    with pytest.raises(KafkaSecurityError, match="not a readable PEM CA certificate"):
        KafkaSecurity.from_env(environ=env)


def test_an_unknown_protocol_is_named_without_echoing_it() -> None:
    with pytest.raises(KafkaSecurityError) as caught:
        KafkaSecurity.from_env(environ={"KAFKA_SECURITY_PROTOCOL": "sasl-ssl-please"})
    assert "KAFKA_SECURITY_PROTOCOL" in str(caught.value)
    assert "sasl-ssl-please" not in str(caught.value)


def test_plain_text_needs_no_credentials_when_asked_for() -> None:
    security = KafkaSecurity.from_env(environ={"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    assert security.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.faststream() is None


def test_the_password_is_never_shown() -> None:
    security = KafkaSecurity(sasl_username="router", sasl_password=SecretStr("s3cret-pw"))
    assert "s3cret-pw" not in repr(security)
    assert "s3cret-pw" not in str(security.model_dump())


def test_clients_get_tls_that_verifies_the_broker_and_scram() -> None:
    security = KafkaSecurity(sasl_username="router", sasl_password=SecretStr("pw"))
    kwargs = security.aiokafka_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    context: ssl.SSLContext = kwargs["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert isinstance(security.faststream(), SASLScram512)
    sha256 = security.model_copy(update={"sasl_mechanism": "SCRAM-SHA-256"})
    assert isinstance(sha256.faststream(), SASLScram256)
    assert security.librdkafka()["sasl.mechanism"] == "SCRAM-SHA-512"


def test_a_service_without_kafka_credentials_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "ROUTER_KAFKA_SASL_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ROUTER_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError) as caught:
        RouterSettings()
    message = missing_settings_message(caught.value, "ROUTER_")
    # Every problem at once: the Kafka principal and the other missing settings.
    assert message.startswith("configuration error: set ROUTER_KAFKA_SASL_USERNAME (or KAFKA_")
    assert "ROUTER_DATABASE_URL" in message


def test_the_ops_tool_reads_its_own_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "tooling")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "tooling-pw")
    monkeypatch.setenv("OPS_KAFKA_SASL_USERNAME", "ops")
    monkeypatch.setenv("OPS_KAFKA_SASL_PASSWORD", "ops-pw")
    assert OpsSettings().kafka_security.sasl_username == "ops"
