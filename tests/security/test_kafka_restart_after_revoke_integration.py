"""A broker restarted after a principal was revoked still lets every other principal in.

On Kafka 4.1.1 a restarted broker replays its metadata log, and once that log held a SCRAM
credential *deletion*, the restarted broker refused every SCRAM login (admin, the services,
tooling: "invalid credentials"), which took the whole system down at its next broker restart
after any `agency-revoke` or `provider-revoke`. Revoking now overwrites the credential with a
random password instead (`kafka_admin.disable_scram_user`); this test revokes, restarts the
real broker, and logs in again.
"""

from __future__ import annotations

import secrets
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from services.common import kafka_admin
from services.common.kafka_security import KafkaSecurity
from tests.support.infra import DEV, kafka_script, read_env
from tests.support.kafka import tooling

pytestmark = pytest.mark.integration


async def _logs_in(bootstrap: str, security: KafkaSecurity) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=10000, **security.aiokafka_kwargs()
    )
    try:
        await producer.start()  # bootstrapping authenticates
    finally:
        await producer.stop()


async def test_after_a_revoke_and_a_broker_restart_the_other_principals_still_log_in(
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    ca = KafkaSecurity.from_env(environ=stack_env).ssl_cafile
    admin_security = KafkaSecurity(
        sasl_username="admin",
        sasl_password=SecretStr(read_env(DEV / "secrets.env")["KAFKA_ADMIN_PASSWORD"]),
        ssl_cafile=ca,
    )
    admin = kafka_admin.admin_client(bootstrap, admin_security)
    name, password = f"test-revoked-{uuid4().hex[:8]}", secrets.token_urlsafe(24)
    revoked = admin_security.model_copy(
        update={"sasl_username": name, "sasl_password": SecretStr(password)}
    )
    kafka_admin.create_scram_user(admin, name, password)
    await _logs_in(bootstrap, revoked)
    kafka_admin.revoke(admin, name)
    kafka_admin.disable_scram_user(admin, name)

    kafka_script("stop")
    kafka_script("start")

    await _logs_in(bootstrap, tooling())
    await _logs_in(bootstrap, admin_security)
    with pytest.raises(KafkaConnectionError):  # and the revoked one stays out
        await _logs_in(bootstrap, revoked)
