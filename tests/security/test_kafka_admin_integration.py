"""`services.common.kafka_admin` on the real broker: a principal added at run time (as agencies
and providers will be) can authenticate and do exactly what it was granted, a `sync` takes back
what is no longer granted, and `revoke` plus `disable_scram_user` shut it out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from services.common import kafka_admin
from services.common.kafka_acls import writes
from services.common.kafka_security import KafkaSecurity
from tests.support.infra import DEV, read_env

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(stack_env: dict[str, str]) -> AdminClient:
    """The scripts' `admin` principal (a super user)."""
    password = read_env(DEV / "secrets.env")["KAFKA_ADMIN_PASSWORD"]
    security = KafkaSecurity(
        sasl_username="admin",
        sasl_password=SecretStr(password),
        ssl_cafile=KafkaSecurity.from_env(environ=stack_env).ssl_cafile,
    )
    return kafka_admin.admin_client(stack_env["KAFKA_BOOTSTRAP_SERVERS"], security)


@pytest.fixture
def scratch(admin: AdminClient) -> Iterator[tuple[str, list[str]]]:
    """A fresh principal name and two fresh topics; all removed afterwards."""
    name, run = f"test-{uuid4().hex[:10]}", uuid4().hex[:10]
    topics = [f"test.admin.{run}.a", f"test.admin.{run}.b"]
    kafka_admin.create_topics(admin, topics, partitions=1)
    yield name, topics
    kafka_admin.revoke(admin, name)
    kafka_admin.delete_topics(admin, topics)


async def _write(bootstrap: str, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10000,
        **security.aiokafka_kwargs(),
    )
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b"probe"), 30)
    finally:
        await producer.stop()


async def test_a_principal_added_at_run_time_does_what_it_is_granted_and_no_more(
    stack_env: dict[str, str], admin: AdminClient, scratch: tuple[str, list[str]]
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    name, (first, second) = scratch
    password = secrets.token_urlsafe(24)
    kafka_admin.create_scram_user(admin, name, password)
    security = KafkaSecurity.from_env(environ=stack_env).model_copy(
        update={"sasl_username": name, "sasl_password": SecretStr(password)}
    )
    kafka_admin.grant(admin, name, [writes(first)])
    await _write(bootstrap, security, first)  # idempotent, acks=all: WRITE alone suffices
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(bootstrap, security, second)

    kafka_admin.sync(admin, name, [writes(second)])  # the grant moves from `first` to `second`
    assert {b.name for b in kafka_admin.acls_of(admin, name)} == {second}
    await _write(bootstrap, security, second)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(bootstrap, security, first)

    kafka_admin.revoke(admin, name)
    kafka_admin.disable_scram_user(admin, name)
    assert kafka_admin.acls_of(admin, name) == []
    with pytest.raises(KafkaConnectionError):  # its password no longer authenticates
        await _write(bootstrap, security, second)
