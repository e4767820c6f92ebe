"""Settings shared by every service; each service's `config.py` extends `ServiceSettings`.

Rule kept here: a required secret has no default, and a missing one fails at start-up with
a message naming the environment variable (`missing_settings_message`).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.telemetry import TracesExporter


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


def missing_settings_message(exc: ValidationError, prefix: str) -> str:
    """'set INTAKE_DATABASE_URL (missing)' for each field that failed."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        # A field read from an unprefixed variable (a validation alias such as PII_KEK_KEYS) is
        # reported under that variable's own name.
        name = field if field.isupper() else f"{prefix}{field.upper()}"
        problems.append(f"{name} ({err['msg']})")
    return "configuration error: set " + ", ".join(problems)


def dsn(secret: SecretStr) -> str:
    """The DSN string of a secret DSN setting (kept secret everywhere else)."""
    return secret.get_secret_value()
