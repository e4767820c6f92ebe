"""The provider gateway's settings, read from the environment.

Variables (GATEWAY_ prefix unless noted; secrets are required and have no default):
    GATEWAY_DATABASE_URL               PostgreSQL DSN of the gateway's role (required)
    GATEWAY_HTTP_PORT                  HTTP port (8003)
    KAFKA_BOOTSTRAP_SERVERS            or GATEWAY_KAFKA_BOOTSTRAP_SERVERS (127.0.0.1:9092)
    GATEWAY_<P>_WEBHOOK_URL            webhook endpoint of provider P (NWA, JUNO, EQUATION); unset:
                                       no webhook for P
    GATEWAY_<P>_KAFKA                  also publish P's assignments to assignments.<p>.v1 (true)
    GATEWAY_<P>_DELIVERY               `full` (the default: the webhook carries the referral) or
                                       `thin` (claim check: ids, the decision and a link; P
                                       fetches the details with GET /v1/assignments/{id})
    GATEWAY_PUBLIC_URL                 the gateway's base URL as providers reach it, for the
                                       link in thin deliveries (http://127.0.0.1:8003)
    WEBHOOK_SECRET_<P>                 P's Standard Webhooks secret, whsec_... (required)
    PROVIDER_API_KEY_<P>               P's bearer key for the HTTP response callback (required)
    GATEWAY_CONNECT_TIMEOUT_SECONDS    webhook connect timeout (3)
    GATEWAY_READ_TIMEOUT_SECONDS       webhook read timeout (10)
    GATEWAY_SLA_URGENT_HOURS           acceptance deadline of urgent assignments (4)
    GATEWAY_SLA_STANDARD_WORKING_DAYS  acceptance deadline of standard assignments (2)
    GATEWAY_SLA_TIMEZONE               time zone of working days (Europe/London)
    GATEWAY_SLA_HOLIDAYS               non-working dates, comma-separated ISO dates ("")
    GATEWAY_RETRY_SCHEDULE             upper bounds of the jittered retry delays, seconds,
                                       comma-separated (10,30,120,600,1800,3600,7200,14400,
                                       28800,28800,28800)
    GATEWAY_RETRY_GIVE_UP_AFTER_SECONDS  a failing delivery is given up only after this (86400)
    GATEWAY_RETRY_AFTER_MAX_SECONDS    a receiver's Retry-After is honoured up to this (28800)
    GATEWAY_DELIVERY_BATCH_SIZE        deliveries one worker claims at a time (20)
    GATEWAY_DELIVERY_POLL_SECONDS      an idle worker looks for due deliveries this often (1)
    GATEWAY_DELIVERY_LEASE_SECONDS     a claimed delivery is due again after this if its result
                                       was never recorded, e.g. the gateway died mid-send (120)
    GATEWAY_BREAKER_THRESHOLD          consecutive failed webhook attempts (transport, 5xx, 408,
                                       425, 429) that open a provider endpoint's breaker (3)
    GATEWAY_BREAKER_PROBE_SECONDS      while open, one probe delivery is sent this often (5)
    GATEWAY_BREAKER_RELEASE_PER_SECOND  once a probe is answered, the endpoint's waiting
                                       deliveries are due again at this rate (20 per second)
    GATEWAY_HALF_MISSING_AFTER_SECONDS  alert when one half of a referral (its details or its
                                       decision) has waited this long for the other (900)
Rules kept here: every provider has at least one channel (a webhook or its Kafka topic); the
delivery lease outlasts one attempt (connect + read timeout), so a slow attempt still in flight
is never claimed and sent a second time by another worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.provider_gateway.adapters.signing import InvalidSecret, secret_key
from services.provider_gateway.domain import DEFAULT_SCHEDULE, RetryPolicy, SlaPolicy
from services.provider_gateway.domain.health import BreakerPolicy
from shared import Provider

PREFIX = "GATEWAY_"


@dataclass(frozen=True)
class ProviderChannels:
    """How one provider is reached and how it authenticates."""

    provider: Provider
    webhook_url: str | None
    kafka: bool
    webhook_secret: SecretStr
    api_key: SecretStr
    # Thin deliveries (claim check): the webhook carries a link under `public_url` instead of
    # the referral's details.
    delivery: Literal["full", "thin"] = "full"
    public_url: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The delivery channels in use: `webhook` when there is a URL, `kafka` when on."""
        return tuple(
            name for name, on in (("webhook", bool(self.webhook_url)), ("kafka", self.kafka)) if on
        )


def _env(name: str) -> Any:
    """A required field read from the variable `name` as it is, without the GATEWAY_ prefix."""
    return Field(validation_alias=name)


class GatewaySettings(ServiceSettings):
    """How the gateway stores, delivers, retries and watches deadlines."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("GATEWAY_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: SecretStr
    http_port: int = 8003
    # The personal-data key-encryption key ring (issue 14): the gateway unseals a referral only
    # to build the delivery for the provider it is assigned to. Secret, required.
    pii_kek_keys: SecretStr = Field(validation_alias="PII_KEK_KEYS")
    pii_kek_primary: str = Field(validation_alias="PII_KEK_PRIMARY")
    # The providers' API takes small JSON answers; anything larger is refused before parsing.
    max_body_bytes: int = 64 * 1024

    nwa_webhook_url: str | None = None
    juno_webhook_url: str | None = None
    equation_webhook_url: str | None = None
    nwa_kafka: bool = True
    juno_kafka: bool = True
    equation_kafka: bool = True
    nwa_delivery: Literal["full", "thin"] = "full"
    juno_delivery: Literal["full", "thin"] = "full"
    equation_delivery: Literal["full", "thin"] = "full"
    public_url: str = Field(default="http://127.0.0.1:8003", pattern=r"^https?://[^\s/]+")
    webhook_secret_nwa: SecretStr = _env("WEBHOOK_SECRET_NWA")
    webhook_secret_juno: SecretStr = _env("WEBHOOK_SECRET_JUNO")
    webhook_secret_equation: SecretStr = _env("WEBHOOK_SECRET_EQUATION")
    provider_api_key_nwa: SecretStr = _env("PROVIDER_API_KEY_NWA")
    provider_api_key_juno: SecretStr = _env("PROVIDER_API_KEY_JUNO")
    provider_api_key_equation: SecretStr = _env("PROVIDER_API_KEY_EQUATION")

    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0
    sla_urgent_hours: float = 4.0
    sla_standard_working_days: int = 2
    sla_timezone: str = "Europe/London"
    sla_holidays: str = ""
    sla_check_seconds: float = 30.0
    retry_schedule: str = ",".join(str(int(d.total_seconds())) for d in DEFAULT_SCHEDULE)
    retry_give_up_after_seconds: float = 86400.0
    retry_after_max_seconds: float = 28800.0
    delivery_batch_size: int = 20
    delivery_poll_seconds: float = 1.0
    delivery_lease_seconds: float = 120.0
    half_missing_after_seconds: float = 900.0
    breaker_threshold: int = Field(default=3, ge=1)
    breaker_probe_seconds: float = Field(default=5.0, gt=0)
    breaker_release_per_second: float = Field(default=20.0, gt=0)

    @field_validator("webhook_secret_nwa", "webhook_secret_juno", "webhook_secret_equation")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        try:
            secret_key(value.get_secret_value())
        except InvalidSecret as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("provider_api_key_nwa", "provider_api_key_juno", "provider_api_key_equation")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("an API key needs at least 16 characters")
        return value

    def channels(self, provider: Provider) -> ProviderChannels:
        p = provider.value
        return ProviderChannels(
            provider=provider,
            webhook_url=getattr(self, f"{p}_webhook_url") or None,
            kafka=getattr(self, f"{p}_kafka"),
            webhook_secret=getattr(self, f"webhook_secret_{p}"),
            api_key=getattr(self, f"provider_api_key_{p}"),
            delivery=getattr(self, f"{p}_delivery"),
            public_url=self.public_url,
        )

    @property
    def providers(self) -> dict[Provider, ProviderChannels]:
        return {p: self.channels(p) for p in Provider}

    def retry_policy(self) -> RetryPolicy:
        steps = tuple(
            timedelta(seconds=float(s)) for s in self.retry_schedule.split(",") if s.strip()
        )
        return RetryPolicy(
            schedule=steps,
            give_up_after=timedelta(seconds=self.retry_give_up_after_seconds),
            max_retry_after=timedelta(seconds=self.retry_after_max_seconds),
        )

    def breaker_policy(self) -> BreakerPolicy:
        # A probe unanswered after one attempt's timeouts (plus a second) has been lost, e.g.
        # with its gateway: another may then be taken.
        attempt = self.connect_timeout_seconds + self.read_timeout_seconds + 1.0
        return BreakerPolicy(
            threshold=self.breaker_threshold,
            probe_interval=timedelta(seconds=self.breaker_probe_seconds),
            probe_timeout=timedelta(seconds=attempt),
            release_per_second=self.breaker_release_per_second,
        )

    def sla_policy(self) -> SlaPolicy:
        holidays = frozenset(
            date.fromisoformat(d.strip()) for d in self.sla_holidays.split(",") if d.strip()
        )
        return SlaPolicy(
            urgent=timedelta(hours=self.sla_urgent_hours),
            standard_working_days=self.sla_standard_working_days,
            zone=ZoneInfo(self.sla_timezone),
            holidays=holidays,
        )

    def check(self) -> None:
        """Fail fast on settings that parse but cannot work together."""
        for ch in self.providers.values():
            if not ch.names:
                raise ValueError(
                    f"provider {ch.provider} has no channel: set {PREFIX}{ch.provider.upper()}"
                    f"_WEBHOOK_URL or {PREFIX}{ch.provider.upper()}_KAFKA=true"
                )
        attempt = self.connect_timeout_seconds + self.read_timeout_seconds
        if self.delivery_lease_seconds <= attempt:
            raise ValueError(
                f"{PREFIX}DELIVERY_LEASE_SECONDS ({self.delivery_lease_seconds:g}) must exceed one"
                f" attempt, {PREFIX}CONNECT_TIMEOUT_SECONDS + {PREFIX}READ_TIMEOUT_SECONDS"
                f" ({attempt:g})"
            )
        self.retry_policy()
        self.breaker_policy()
        self.sla_policy()


def settings_error_message(exc: ValidationError) -> str:
    """'set GATEWAY_DATABASE_URL (Field required), WEBHOOK_SECRET_NWA (...)': the real names."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        if field == "kafka_security":  # its message names the variable (services/common/settings)
            problems.append(err["msg"].removeprefix("Value error, ").removeprefix("set "))
            continue
        name = field if field.isupper() else f"{PREFIX}{field.upper()}"
        problems.append(f"{name} ({err['msg']})")
    return "configuration error: set " + ", ".join(problems)
