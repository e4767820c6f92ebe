"""Intake will not start without the personal-data key-encryption key: the message names the
variable, and a malformed key ring is refused naming it too."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.sealing import KekConfigError
from services.common.settings import missing_settings_message
from services.intake.app import create_app
from services.intake.config import IntakeSettings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused")
    monkeypatch.setenv("INTAKE_WEB_DRAFT_KEY", "A" * 43)
    monkeypatch.setenv("PII_KEK_KEYS", "v1:" + "A" * 43)
    monkeypatch.setenv("PII_KEK_PRIMARY", "v1")
    monkeypatch.setenv("INTAKE_KAFKA_SASL_USERNAME", "intake")  # Kafka security is on by default
    monkeypatch.setenv("INTAKE_KAFKA_SASL_PASSWORD", "unused")
    monkeypatch.delenv("PII_SEALING", raising=False)
    return monkeypatch


def test_a_missing_kek_is_named_by_its_own_variable(env: pytest.MonkeyPatch) -> None:
    env.delenv("PII_KEK_KEYS")
    with pytest.raises(ValidationError) as missing:
        IntakeSettings()
    message = missing_settings_message(missing.value, "INTAKE_")
    assert "set PII_KEK_KEYS (" in message
    assert "INTAKE_PII" not in message


def test_sealing_is_on_unless_the_bench_baseline_turns_it_off(env: pytest.MonkeyPatch) -> None:
    assert IntakeSettings().pii_sealing is True
    env.setenv("PII_SEALING", "off")
    assert IntakeSettings().pii_sealing is False


def test_a_malformed_key_ring_stops_intake_naming_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("PII_KEK_KEYS", "v1:short")
    with pytest.raises(KekConfigError, match="PII_KEK_KEYS"):
        create_app(IntakeSettings())
