"""docker-compose.yml agrees with the code: services, images, ports, topics and environment.

Docker cannot run on the build machines, so the compose file is checked by reading it: each
service's environment must satisfy its settings class (every required setting given, every
variable given is one the class reads) and secrets must come from the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.common.kafka_acls import SERVICE_GRANTS, password_variable
from services.intake.config import IntakeSettings
from services.router.config import RouterSettings
from shared.topics import ALL_TOPICS
from tests.support.infra import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def _gateway_settings() -> type[BaseSettings]:
    from services.provider_gateway.config import GatewaySettings

    settings: type[BaseSettings] = GatewaySettings
    return settings


APPS: dict[str, tuple[str, Any]] = {
    "intake": ("services.intake", lambda: IntakeSettings),
    "router": ("services.router", lambda: RouterSettings),
    "provider_gateway": ("services.provider_gateway", _gateway_settings),
}


def env_names(settings: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """(every variable the class reads, the variables it requires) - upper case."""
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    accepted: set[str] = set()
    required: set[str] = set()
    for name, info in settings.model_fields.items():
        if name == "kafka_security":  # read from KAFKA_* (the service's prefixed names first)
            fields = ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD")
            kafka = {f"KAFKA_{f}" for f in (*fields, "SSL_CAFILE")}
            accepted |= kafka | {prefix + k for k in kafka}
            required |= {f"{prefix}KAFKA_SASL_USERNAME", f"{prefix}KAFKA_SASL_PASSWORD"}
            continue
        alias = info.validation_alias
        names = (
            {str(c).upper() for c in alias.choices}
            if isinstance(alias, AliasChoices)
            else {str(alias).upper()}
            if isinstance(alias, str)
            else {prefix + name.upper()}
        )
        accepted |= names
        if info.is_required():
            required |= names
    return accepted, required


def test_the_deployment_has_every_component() -> None:
    assert {
        "kafka-certs",
        "kafka",
        "kafka-topics",
        "kafka-acls",
        "postgres",
        "intake",
        "router",
        "provider_gateway",
        "demo_receiver",
    } <= set(SERVICES)


def test_kafka_image_is_the_version_the_local_scripts_fetch() -> None:
    pom = (ROOT / "infra" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert version, "kafka.version property not found in infra/kafka/pom.xml"
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version.group(1)}"
    assert SERVICES["postgres"]["image"].startswith("postgres:")


def test_every_contract_topic_is_created() -> None:
    script = SERVICES["kafka-topics"]["command"][0]
    assert set(re.findall(r"[a-z]+\.[a-z]+\.v1", script)) == set(ALL_TOPICS)


@pytest.mark.parametrize("service", sorted(APPS))
def test_service_environment_satisfies_its_settings_class(service: str) -> None:
    module, settings_of = APPS[service]
    spec = SERVICES[service]
    given = {k.upper() for k in spec["environment"]}
    accepted, required = env_names(settings_of())
    assert required <= given, f"{service}: required settings not given: {required - given}"
    unknown = given - accepted
    assert not unknown, f"{service}: variables its settings class does not read: {unknown}"
    assert spec["command"][:3] == ["python", "-m", module]


@pytest.mark.parametrize("service", sorted(APPS))
def test_service_port_health_and_dependencies_line_up(service: str) -> None:
    spec = SERVICES[service]
    env = {k.upper(): str(v) for k, v in spec["environment"].items()}
    port = next(v for k, v in env.items() if k.endswith("_HTTP_PORT"))
    assert any(p.endswith(f":{port}:{port}") for p in spec["ports"])
    assert f"127.0.0.1:{port}/readyz" in " ".join(spec["healthcheck"]["test"])
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_no_secret_is_written_into_the_compose_file() -> None:
    secret = re.compile(r"(PASSWORD|SECRET|API_KEY|DATABASE_URL)$")
    for name, spec in SERVICES.items():
        for key, value in (spec.get("environment") or {}).items():
            if secret.search(key.upper()):
                assert "${" in str(value), f"{name}.{key} must come from the environment"


def test_the_postgres_init_script_exists_and_creates_each_service_role() -> None:
    script = (ROOT / "infra" / "compose" / "postgres-init.sh").read_text()
    assert "for svc in intake router gateway" in script
    assert Path(ROOT / "Dockerfile").exists()


def _broker_properties() -> dict[str, str]:
    script = (ROOT / "infra" / "compose" / "kafka-start.sh").read_text()
    block = script.split("cat >/tmp/server.properties <<PROPS\n", 1)[1].split("\nPROPS", 1)[0]
    return dict(line.split("=", 1) for line in block.splitlines() if "=" in line)


def test_the_broker_takes_only_tls_and_scram_and_denies_by_default() -> None:
    props = _broker_properties()
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert props["advertised.listeners"] == "CLIENT://kafka:9092"
    assert protocols["CLIENT"] == "SASL_SSL"
    assert props["listeners"].endswith("CONTROLLER://127.0.0.1:9093")  # the container's loopback
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:broker;User:controller;User:admin"
    assert all(v.startswith("$") for k, v in props.items() if k.endswith("password"))


def test_the_set_up_steps_run_in_order_and_as_admin() -> None:
    assert SERVICES["kafka"]["depends_on"]["kafka-certs"]["condition"] == (
        "service_completed_successfully"
    )
    assert "--command-config" in SERVICES["kafka"]["healthcheck"]["test"][1]
    assert "--command-config /tmp/admin.properties" in SERVICES["kafka-topics"]["command"][0]
    acls = SERVICES["kafka-acls"]
    assert acls["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
    assert acls["command"] == ["python", "/app/scripts/kafka_security.py"]
    needed = {"KAFKA_ADMIN_PASSWORD"} | {password_variable(p) for p in SERVICE_GRANTS}
    assert needed <= set(acls["environment"])


@pytest.mark.parametrize(
    ("service", "principal"),
    [("intake", "intake"), ("provider_gateway", "gateway"), ("router", "router")],
)
def test_each_service_connects_as_its_own_principal_over_tls(service: str, principal: str) -> None:
    spec = SERVICES[service]
    env = {k.upper(): str(v) for k, v in spec["environment"].items()}
    prefix = str(APPS[service][1]().model_config["env_prefix"])
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["KAFKA_SSL_CAFILE"] == "/ca/ca.crt"
    assert env[f"{prefix}KAFKA_SASL_USERNAME"] == principal
    assert principal in SERVICE_GRANTS
    assert env[f"{prefix}KAFKA_SASL_PASSWORD"].startswith(f"${{{password_variable(principal)}:?")
    assert spec["depends_on"]["kafka-acls"]["condition"] == "service_completed_successfully"
    # Clients get the CA certificate only: the keys stay in the kafka-tls volume.
    assert spec["volumes"] == ["kafka-ca:/ca:ro"]
    assert not any("kafka-tls" in v for v in spec["volumes"])
