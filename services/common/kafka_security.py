"""How a Kafka client proves who it is: TLS to the broker and SASL/SCRAM, from the environment.

Variables (each service reads its own prefixed name first, e.g. `INTAKE_KAFKA_SASL_USERNAME`,
then the plain name):
    KAFKA_SECURITY_PROTOCOL   SASL_SSL (default), SSL, SASL_PLAINTEXT or PLAINTEXT
    KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default) or SCRAM-SHA-256
    KAFKA_SASL_USERNAME       the principal's name (required with SASL_*)
    KAFKA_SASL_PASSWORD       its password (secret; required with SASL_*)
    KAFKA_SSL_CAFILE          PEM file of the CA that signed the broker's certificate (with
                              *SSL; unset: the system's trusted CAs)

Rules kept here:
- security is on unless turned off: the default is SASL_SSL, so a client without credentials
  fails at start-up naming the variable to set, rather than talking to a broker in clear;
- a CA file that is missing, unreadable or not a certificate fails at start-up naming the
  variable and the file, not at the first TLS handshake;
- the broker's certificate is always verified (hostname included): there is no option to
  turn verification off;
- the password is a `SecretStr`: never printed, logged or put in an exception message.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]
_FIELDS = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_cafile")


class KafkaSecurityError(ValueError):
    """A Kafka security setting is missing or wrong; the message names the variable."""


class KafkaSecurity(BaseModel):
    """One client's Kafka security settings (see the module docstring for the variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: SecurityProtocol = "SASL_SSL"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    @classmethod
    def from_env(cls, prefix: str = "", environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read `<prefix>KAFKA_*`, else `KAFKA_*`; raise KafkaSecurityError naming the variable."""
        env = os.environ if environ is None else environ

        def source(field: str) -> str | None:
            """The variable that holds the field's value: the prefixed one first."""
            names = [f"{prefix}KAFKA_{field.upper()}"] if prefix else []
            return next((n for n in [*names, f"KAFKA_{field.upper()}"] if env.get(n)), None)

        def name(field: str) -> str:
            """The variable to name in an error about the field."""
            plain = f"KAFKA_{field.upper()}"
            return source(field) or (f"{prefix}{plain} (or {plain})" if prefix else plain)

        values = {field: env[var] for field in _FIELDS if (var := source(field))}
        try:
            security = cls.model_validate(values)
        except ValidationError as exc:  # name the variable and the rule, never the value
            first = exc.errors(include_input=False, include_url=False)[0]
            raise KafkaSecurityError(f"{name(str(first['loc'][0]))}: {first['msg']}") from None
        security.check(name)
        return security

    def check(self, name: Callable[[str], str] = lambda f: f"KAFKA_{f.upper()}") -> None:
        """Raise KafkaSecurityError if a credential or the CA file is missing or unusable."""
        if self.sasl:
            for field in ("sasl_username", "sasl_password"):
                if not getattr(self, field):
                    raise KafkaSecurityError(
                        f"set {name(field)}: {self.security_protocol} needs a SASL username and password"
                    )
        if self.tls and self.ssl_cafile is not None:
            try:
                ssl.create_default_context(cafile=str(self.ssl_cafile))
            except FileNotFoundError:
                raise KafkaSecurityError(
                    f"{name('ssl_cafile')}={self.ssl_cafile}: no such file"
                ) from None
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise KafkaSecurityError(
                    f"{name('ssl_cafile')}={self.ssl_cafile}: not a readable PEM CA certificate "
                    f"({type(exc).__name__})"
                ) from None

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context trusting `ssl_cafile` (or the system's CAs), if TLS is on."""
        if not self.tls:
            return None
        return ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile is not None else None
        )

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self._password()
        return kwargs

    def faststream(self) -> BaseSecurity | None:
        """The `security=` argument of FastStream's KafkaBroker (None: plain text)."""
        if self.sasl:
            scram = SASLScram512 if self.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
            return scram(
                username=self.sasl_username or "",
                password=self._password(),
                ssl_context=self.ssl_context(),
                use_ssl=self.tls,
            )
        if self.tls:
            return BaseSecurity(ssl_context=self.ssl_context(), use_ssl=True)
        return None

    def librdkafka(self) -> dict[str, str]:
        """The same settings as librdkafka (confluent-kafka) configuration properties."""
        conf = {"security.protocol": self.security_protocol.lower()}
        if self.tls and self.ssl_cafile is not None:
            conf["ssl.ca.location"] = str(self.ssl_cafile)
        if self.sasl:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username or ""
            conf["sasl.password"] = self._password()
        return conf

    def _password(self) -> str:
        return self.sasl_password.get_secret_value() if self.sasl_password else ""


PLAINTEXT = KafkaSecurity(security_protocol="PLAINTEXT")
