"""The real broker, as the project's scripts start it: TLS, SASL/SCRAM and ACLs, deny by default.

Checked here with real clients: nobody gets in without valid credentials over TLS; a service's
principal is refused, with the broker's authorization error, what its ACLs do not allow; and the
prefixed grants that per-agency and per-provider topics rely on let intake and the gateway read
a topic created after their ACLs were set. (That each service can do all it must is shown by
every other integration test: each service process connects as its own principal.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from services.common.kafka_diagnosis import diagnose
from services.common.kafka_security import KafkaSecurity
from tests.support.kafka import connection, produce

pytestmark = pytest.mark.integration


def principal(stack_env: dict[str, str], service: str) -> KafkaSecurity:
    """The service's own principal, as the service reads it (`<SERVICE>_KAFKA_SASL_*` first)."""
    return KafkaSecurity.from_env(f"{service.upper()}_", environ=stack_env)


async def _start_producer(bootstrap: str, security: dict[str, object]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **security)
    try:
        await producer.start()
    finally:
        await producer.stop()


async def _start_and_read(consumer: AIOKafkaConsumer) -> None:
    """Start (a group consumer joins its group here) and fetch: where the broker refuses."""
    await consumer.start()
    await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 30)


async def test_a_plain_text_client_cannot_connect(stack_env: dict[str, str]) -> None:
    with pytest.raises(KafkaConnectionError):
        await _start_producer(stack_env["KAFKA_BOOTSTRAP_SERVERS"], {})


async def test_tls_without_sasl_credentials_is_refused(stack_env: dict[str, str]) -> None:
    tls_only = KafkaSecurity(
        security_protocol="SSL", ssl_cafile=principal(stack_env, "router").ssl_cafile
    )
    with pytest.raises(KafkaConnectionError):
        await _start_producer(stack_env["KAFKA_BOOTSTRAP_SERVERS"], tls_only.aiokafka_kwargs())


async def test_a_wrong_password_is_refused_and_named(
    stack_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = principal(stack_env, "router").model_copy(
        update={"sasl_password": SecretStr("not-the-password")}
    )
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await _start_producer(bootstrap, wrong.aiokafka_kwargs())
    assert "SaslAuthenticationFailed" in caplog.text
    # What a service logs when it cannot connect: the cause, and the variables to check.
    problem = await diagnose({"bootstrap_servers": [bootstrap], **wrong.aiokafka_kwargs()})
    assert problem is not None
    assert "refused the credentials of principal 'router'" in problem
    assert "KAFKA_SASL_PASSWORD" in problem
    assert "not-the-password" not in problem


async def test_an_untrusted_broker_certificate_is_named(stack_env: dict[str, str]) -> None:
    system_cas = principal(stack_env, "router").model_copy(update={"ssl_cafile": None})
    problem = await diagnose(
        {
            "bootstrap_servers": [stack_env["KAFKA_BOOTSTRAP_SERVERS"]],
            **system_cas.aiokafka_kwargs(),
        }
    )
    assert problem is not None
    assert "KAFKA_SSL_CAFILE" in problem


async def test_the_router_cannot_write_received_referrals(stack_env: dict[str, str]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        **principal(stack_env, "router").aiokafka_kwargs(),
    )
    await producer.start()  # authenticated: the router may connect, and write what it must
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait("referrals.received.v1", b"{}", key=b"forged")
    finally:
        await producer.stop()


async def test_the_bridge_writes_the_two_shared_topics_and_nothing_else(
    stack_env: dict[str, str],
) -> None:
    """v1 clients without a principal of their own go through the bridge: it may write the
    shared submissions and responses topics (whose writer is named in a header or the body),
    and no topic whose name is its writer's identity."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        **principal(stack_env, "bridge").aiokafka_kwargs(),
    )
    await producer.start()
    try:
        for shared_topic in ("referrals.submitted.v1", "assignments.responses.v1"):
            sent = await producer.send_and_wait(shared_topic, b"not json", key=b"bridge-probe")
            assert sent.topic == shared_topic
        for identity_topic in (
            "referrals.submitted.notts-police.v1",
            "assignments.responses.juno.v1",
            "referrals.received.v1",
        ):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(identity_topic, b"{}", key=b"bridge-probe")
    finally:
        await producer.stop()


@pytest.mark.parametrize(
    ("service", "topic", "group"),
    [
        ("router", "referrals.submitted.v1", "router"),  # submissions are intake's
        ("intake", "assignments.nwa.v1", "intake-submissions"),  # assignments are the gateway's
        ("ops", "referrals.received.v1", None),  # personal data: not for the ops tool
    ],
)
async def test_a_service_cannot_read_what_is_not_its_own(
    stack_env: dict[str, str], service: str, topic: str, group: str | None
) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=group,
        enable_auto_commit=False,
        **principal(stack_env, service).aiokafka_kwargs(),
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await _start_and_read(consumer)
    finally:
        await consumer.stop()


async def test_a_service_cannot_join_another_services_group(stack_env: dict[str, str]) -> None:
    # The router may read referrals.received.v1, but not as the gateway's consumer group (it
    # would take the gateway's partitions and move its offsets).
    consumer = AIOKafkaConsumer(
        "referrals.received.v1",
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        group_id="provider-gateway-received",
        enable_auto_commit=False,
        **principal(stack_env, "router").aiokafka_kwargs(),
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await _start_and_read(consumer)
    finally:
        await consumer.stop()


@pytest.fixture
async def scratch_topics(stack_env: dict[str, str]) -> AsyncIterator[list[str]]:
    """Topics made for one test (by the tooling principal), deleted afterwards."""
    made: list[str] = []
    yield made
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"], **connection()
    )
    await admin.start()
    try:
        await admin.delete_topics(made)
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("service", "topic_prefix", "group_prefix"),
    [
        ("intake", "referrals.submitted.", "intake-"),
        ("gateway", "assignments.responses.", "provider-gateway-"),
    ],
)
async def test_a_topic_added_later_under_a_granted_prefix_is_readable(
    stack_env: dict[str, str],
    scratch_topics: list[str],
    service: str,
    topic_prefix: str,
    group_prefix: str,
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"{topic_prefix}test-{uuid4().hex[:10]}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    scratch_topics.append(topic)
    await produce(bootstrap, topic, b'{"probe": true}', key="probe")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{group_prefix}test-{uuid4().hex[:10]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **principal(stack_env, service).aiokafka_kwargs(),
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert message.value == b'{"probe": true}'
