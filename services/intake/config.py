"""Intake's settings (environment variables prefixed INTAKE_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
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

    # Retention (docs/privacy.md): closed referrals are erased this many days after their last
    # timeline entry, by intake itself every `retention_interval_seconds` (0: never, when a
    # scheduler outside runs `python -m services.intake retention` instead) and by that command.
    retention_days: int = Field(default=90, ge=1)
    retention_interval_seconds: float = Field(default=3600.0, ge=0)
    # The operators' bearer token for the erasure endpoint (POST /operator/v1/referrals/
    # {referral_id}/erasure); unset, the endpoint refuses every request (401).
    operator_token: SecretStr | None = None

    @property
    def kafka_agency_set(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.kafka_agencies.split(",") if a.strip())

    # The web referral form (services/intake/web). The draft key encrypts the drafts kept
    # between pages (AES-256-GCM): base64url of 32 random bytes, required, no default.
    web_draft_key: SecretStr
    web_draft_ttl_seconds: int = Field(default=1800, gt=0)
    # Where "Exit this page" sends the user once the draft is deleted: a neutral site.
    web_exit_url: str = "https://www.bbc.co.uk/weather"
    # The session cookie's Secure flag: on everywhere but plain-HTTP local stacks.
    web_cookie_secure: bool = True
    # Per client (address), every form page and post; `limits` notation.
    web_rate_limit: str = "60/minute"

    # Personal-data sealing (issue 14, services/common/sealing): the key-encryption key ring
    # (`v1:<base64url of 32 bytes>,v2:...`, secret, required) and the version new data keys are
    # wrapped with. PII_SEALING=off is a benchmark baseline only (bench/), never a deployment.
    pii_kek_keys: SecretStr = Field(validation_alias="PII_KEK_KEYS")
    pii_kek_primary: str = Field(validation_alias="PII_KEK_PRIMARY")
    pii_sealing: bool = Field(default=True, validation_alias="PII_SEALING")
    # A newer ONSPD CSV for the postcode -> authority lookup of the routing facts (as the
    # router's ROUTER_POSTCODES_CSV); default: the packaged directory.
    postcodes_csv: Path | None = None

    @field_validator("web_draft_key")
    @classmethod
    def _draft_key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value() + "==")
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ValueError("INTAKE_WEB_DRAFT_KEY must be base64url of 32 random bytes")
        return value
