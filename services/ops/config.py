"""The ops tool's settings: the same environment variables the services read.

    KAFKA_BOOTSTRAP_SERVERS   Kafka (127.0.0.1:9092)
    INTAKE_DATABASE_URL       intake's DSN (its role reads intake's schema only)
    ROUTER_DATABASE_URL       the router's DSN
    GATEWAY_DATABASE_URL      the provider gateway's DSN
    OPS_KAFKA_SASL_USERNAME   the ops principal (then KAFKA_SASL_USERNAME; with _PASSWORD, and
                              KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_CAFILE: services/common/kafka_security.py)
Rule kept here: every DSN is optional; a command reads the sources it has and names, on
stderr, each one it had to leave out, so a partial view is never mistaken for a full one.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.kafka_security import KafkaSecurity
from services.common.settings import kafka_security_checked, with_kafka_security


class OpsSettings(BaseSettings):
    """Where Kafka and each service's database are."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    intake_database_url: SecretStr | None = Field(
        default=None, validation_alias="INTAKE_DATABASE_URL"
    )
    router_database_url: SecretStr | None = Field(
        default=None, validation_alias="ROUTER_DATABASE_URL"
    )
    gateway_database_url: SecretStr | None = Field(
        default=None, validation_alias="GATEWAY_DATABASE_URL"
    )
    kafka_security: KafkaSecurity

    @model_validator(mode="before")
    @classmethod
    def _kafka_security_from_env(cls, data: Any) -> Any:
        return with_kafka_security(data, "OPS_")

    _kafka_security_checked = field_validator("kafka_security", mode="before")(
        kafka_security_checked
    )

    def dsns(self) -> dict[str, str | None]:
        """Service name -> its DSN, or None where the variable is unset."""
        return {
            name: secret.get_secret_value() if secret else None
            for name, secret in (
                ("intake", self.intake_database_url),
                ("router", self.router_database_url),
                ("gateway", self.gateway_database_url),
            )
        }
