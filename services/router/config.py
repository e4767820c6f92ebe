"""Router's settings (environment variables prefixed ROUTER_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    """How the router consumes, decides, stores and publishes."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("ROUTER_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: SecretStr
    http_port: int = 8002
    # The rules file in force; unset means the default version shipped with the router.
    rules_path: Path | None = None
    # A newer ONSPD CSV, when the deployment provides one (else the packaged directory).
    postcodes_csv: Path | None = None


class RouterDatabaseSettings(BaseSettings):
    """What `simulate --from-db` reads: the router's database alone, no Kafka principal."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", frozen=True)

    database_url: SecretStr
