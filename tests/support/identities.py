"""Agency and provider principals made in tests the way an operator makes them: by the
`agency-add --kafka` and `provider-add` commands, run as the admin principal, whose printed
credentials the test's clients then connect with."""

from __future__ import annotations

from uuid import uuid4

from services.common.kafka_security import KafkaSecurity
from shared.topics import submissions_topic
from tests.support.cli import cli_output
from tests.support.infra import DEV, read_env, service_env


def admin_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack's environment plus the admin principal (from `.dev/secrets.env`)."""
    password = read_env(DEV / "secrets.env")["KAFKA_ADMIN_PASSWORD"]
    return service_env(
        stack_env, ADMIN_KAFKA_SASL_USERNAME="admin", ADMIN_KAFKA_SASL_PASSWORD=password
    )


def command(env: dict[str, str], module: str, *args: str) -> str:
    """Run `python -m module args`; its stdout (fails the test, with stderr, if it fails)."""
    return cli_output(module, *args, env=env)


def printed_credentials(stack_env: dict[str, str], output: str) -> KafkaSecurity:
    """The client settings an add command printed, trusting the stack's CA."""
    printed = dict(line.split("=", 1) for line in output.splitlines() if line.startswith("KAFKA_"))
    return KafkaSecurity.model_validate(
        {
            "sasl_username": printed["KAFKA_SASL_USERNAME"],
            "sasl_password": printed["KAFKA_SASL_PASSWORD"],
            "ssl_cafile": stack_env["KAFKA_SSL_CAFILE"],
        }
    )


def add_agency(stack_env: dict[str, str], agency: str | None = None) -> tuple[str, KafkaSecurity]:
    """`agency-add AGENCY --kafka` (a fresh agency id unless given): the id and credentials."""
    agency = agency or f"acl-{uuid4().hex[:10]}"
    output = command(
        admin_env(stack_env), "services.intake", "agency-add", agency, "Test agency", "--kafka"
    )
    assert submissions_topic(agency) in output
    return agency, printed_credentials(stack_env, output)
