"""Intake's settings (environment variables prefixed INTAKE_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """How intake listens, stores and publishes."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("INTAKE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: SecretStr
    http_port: int = 8001
    max_body_bytes: int = 64 * 1024
    clock_skew_seconds: int = 300
    relay_batch_size: int = 200
    relay_idle_poll_seconds: float = 2.0
    # How long a batch's publishes may wait for Kafka's ack while the rows are locked.
    relay_publish_timeout_seconds: float = 10.0
    # Agencies allowed to submit over Kafka, identified by the `agency-id` header that their
    # (ACL-restricted) producer identity sets; see README "Kafka ingress trust model".
    kafka_agencies: str = "notts-police,notts-city-social-care,notts-county-social-care"

    @property
    def kafka_agency_set(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.kafka_agencies.split(",") if a.strip())
