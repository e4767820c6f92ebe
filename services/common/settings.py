"""Settings shared by every service; each service's `config.py` extends `ServiceSettings`.

Rules kept here: a required secret has no default, and a missing one fails at start-up with
a message naming the environment variable (`missing_settings_message`); so does a Kafka
credential or CA file that is missing or unusable (`kafka_security`, read from the service's
prefixed variables first, e.g. `INTAKE_KAFKA_SASL_USERNAME`, then `KAFKA_SASL_USERNAME`).
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.kafka_security import KafkaSecurity, KafkaSecurityError
from services.common.telemetry import TracesExporter


def with_kafka_security(data: Any, prefix: str) -> Any:
    """Settings input with `kafka_security` read from the environment, unless given.

    A setting that is missing or wrong is kept as its error, for `kafka_security_checked` to
    raise as the field's error: so it is reported together with every other field's.
    """
    if isinstance(data, dict) and "kafka_security" not in data:
        try:
            security: KafkaSecurity | KafkaSecurityError = KafkaSecurity.from_env(prefix)
        except KafkaSecurityError as exc:
            security = exc
        return {**data, "kafka_security": security}
    return data


def kafka_security_checked(value: Any) -> Any:
    if isinstance(value, KafkaSecurityError):
        raise value
    return value


class ServiceSettings(BaseSettings):
    """Kafka, logging and HTTP settings every service has."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    log_level: str = Field(default="INFO")
    http_host: str = Field(default="127.0.0.1")
    http_port: int
    # OpenTelemetry's own variable: none (trace context kept and propagated, spans not
    # exported), console (one JSON line per span on stderr) or otlp (OTEL_EXPORTER_OTLP_*).
    # How often the service measures its consumer lag (and outbox backlog), and the lag (in
    # messages, per group and topic) above which ops are alerted.
    monitor_interval_seconds: float = Field(default=30.0, gt=0)
    consumer_lag_alert_threshold: int = Field(default=1000, ge=1)
    otel_traces_exporter: TracesExporter = Field(
        default="none", validation_alias=AliasChoices("OTEL_TRACES_EXPORTER")
    )
    # TLS and SASL/SCRAM: the service's own Kafka principal (services/common/kafka_security.py).
    kafka_security: KafkaSecurity

    @model_validator(mode="before")
    @classmethod
    def _kafka_security_from_env(cls, data: Any) -> Any:
        return with_kafka_security(data, str(cls.model_config.get("env_prefix") or ""))

    _kafka_security_checked = field_validator("kafka_security", mode="before")(
        kafka_security_checked
    )


def missing_settings_message(exc: ValidationError, prefix: str) -> str:
    """'set INTAKE_DATABASE_URL (missing)' for each field that failed."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        if field == "kafka_security":  # its message names the variable (prefixed or not)
            problems.append(err["msg"].removeprefix("Value error, ").removeprefix("set "))
            continue
        # A field read from an unprefixed variable (a validation alias such as PII_KEK_KEYS) is
        # reported under that variable's own name.
        name = field if field.isupper() else f"{prefix}{field.upper()}"
        problems.append(f"{name} ({err['msg']})")
    return "configuration error: set " + ", ".join(problems)


def dsn(secret: SecretStr) -> str:
    """The DSN string of a secret DSN setting (kept secret everywhere else)."""
    return secret.get_secret_value()
