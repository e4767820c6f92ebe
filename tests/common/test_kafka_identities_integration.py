"""Agency and provider principals on the real, secured broker (TLS, SCRAM, deny by default).

The principals are made by the commands an operator runs (`agency-add --kafka`,
`provider-add`), and each client below connects with the credentials those commands printed.
Rules checked, each refusal seen as the broker's own authorization or authentication error:
- an agency principal writes its own submissions topic, and cannot write another agency's,
  nor read any assignments topic;
- a provider principal reads its own assignments and answers on its own responses topic, and
  cannot read another provider's assignments nor answer on another provider's topic;
- (a referral an agency principal submits carries that agency whatever its headers say:
  tests/intake/test_agency_topics_integration.py, beside a running intake);
- after `agency-revoke` (`provider-revoke`), the principal's next produce is refused, and it
  cannot connect again.
"""

from __future__ import annotations

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

from services.common.kafka_security import KafkaSecurity
from shared.cloudevents import TYPE_RESPONSE, TYPE_SUBMITTED
from shared.topics import assignments_topic, responses_topic, submissions_topic
from tests.support.identities import add_agency, admin_env, command, printed_credentials
from tests.support.kafka import cloudevent, connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def admin(stack_env: dict[str, str]) -> dict[str, str]:
    return admin_env(stack_env)


@pytest.fixture(scope="module")
def agency(stack_env: dict[str, str]) -> tuple[str, KafkaSecurity]:
    return add_agency(stack_env)


@pytest.fixture(scope="module")
async def other_agency(stack_env: dict[str, str]) -> str:
    """Another agency's topic, made as the tests' principal (its own principal is not needed)."""
    other = f"acl-other-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"], **connection()
    )
    await admin.start()
    try:
        await admin.create_topics([NewTopic(submissions_topic(other), 1, 1)])
    finally:
        await admin.close()
    return other


@pytest.fixture(scope="module")
def juno(stack_env: dict[str, str], admin: dict[str, str]) -> KafkaSecurity:
    output = command(admin, "services.provider_gateway", "provider-add", "juno")
    return printed_credentials(stack_env, output)


async def producer_as(stack_env: dict[str, str], security: KafkaSecurity) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=15_000,
        **security.aiokafka_kwargs(),
    )
    await producer.start()
    return producer


async def send(producer: AIOKafkaProducer, topic: str, ce_type: str, body: bytes) -> None:
    headers = [(k, v.encode()) for k, v in cloudevent(ce_type).items()]
    await producer.send_and_wait(topic, body, key=b"k", headers=headers)


async def read_as(
    stack_env: dict[str, str], security: KafkaSecurity, topic: str, group: str | None
) -> None:
    """Subscribe to `topic` as `security`, fetch and commit; raises what the broker refused."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security.aiokafka_kwargs(),
    )
    try:
        await consumer.start()  # an unauthorized topic is refused here, at its metadata
        await consumer.getmany(timeout_ms=2_000)  # a group is joined (or refused) here
        if group is not None:
            await consumer.commit()
    finally:
        await consumer.stop()


@pytest.fixture
async def agency_producer(
    stack_env: dict[str, str], agency: tuple[str, KafkaSecurity]
) -> AsyncIterator[AIOKafkaProducer]:
    producer = await producer_as(stack_env, agency[1])
    try:
        yield producer
    finally:
        await producer.stop()


async def test_an_agency_writes_its_own_topic_but_not_another_agencys(
    agency: tuple[str, KafkaSecurity], other_agency: str, agency_producer: AIOKafkaProducer
) -> None:
    await send(agency_producer, submissions_topic(agency[0]), TYPE_SUBMITTED, b"{}")
    with pytest.raises(TopicAuthorizationFailedError):
        await send(agency_producer, submissions_topic(other_agency), TYPE_SUBMITTED, b"{}")


@pytest.mark.parametrize("provider", ["nwa", "juno", "equation"])
async def test_an_agency_cannot_read_any_assignments_topic(
    stack_env: dict[str, str], agency: tuple[str, KafkaSecurity], provider: str
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(stack_env, agency[1], assignments_topic(provider), None)


async def test_a_provider_reads_its_own_assignments_and_answers_only_on_its_own_topic(
    stack_env: dict[str, str], juno: KafkaSecurity
) -> None:
    await read_as(stack_env, juno, assignments_topic("juno"), "provider-juno")
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(stack_env, juno, assignments_topic("nwa"), None)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_as(stack_env, juno, assignments_topic("juno"), "provider-gateway-responses")
    producer = await producer_as(stack_env, juno)
    try:
        await send(producer, responses_topic("juno"), TYPE_RESPONSE, b"{}")
        with pytest.raises(TopicAuthorizationFailedError):
            await send(producer, responses_topic("nwa"), TYPE_RESPONSE, b"{}")
    finally:
        await producer.stop()


async def test_after_provider_revoke_it_reads_and_answers_no_more(
    stack_env: dict[str, str], admin: dict[str, str], juno: KafkaSecurity
) -> None:
    producer = await producer_as(stack_env, juno)
    try:
        await send(producer, responses_topic("juno"), TYPE_RESPONSE, b"{}")
        output = command(admin, "services.provider_gateway", "provider-revoke", "juno")
        assert "provider-juno revoked" in output
        with pytest.raises(TopicAuthorizationFailedError):
            await send(producer, responses_topic("juno"), TYPE_RESPONSE, b"{}")
    finally:
        await producer.stop()
    with pytest.raises(KafkaConnectionError):
        await read_as(stack_env, juno, assignments_topic("juno"), "provider-juno")


async def test_after_revoke_an_agencys_next_produce_is_refused_and_it_cannot_connect_again(
    stack_env: dict[str, str], admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    revoked, security = add_agency(stack_env)
    producer = await producer_as(stack_env, security)
    try:
        await send(producer, submissions_topic(revoked), TYPE_SUBMITTED, b"{}")
        output = command(admin, "services.intake", "agency-revoke", revoked)
        assert "revoked" in output
        with pytest.raises(TopicAuthorizationFailedError):
            await send(producer, submissions_topic(revoked), TYPE_SUBMITTED, b"{}")
    finally:
        await producer.stop()
    with pytest.raises(KafkaConnectionError):  # aiokafka: unable to bootstrap, because
        await producer_as(stack_env, security)
    assert "SaslAuthenticationFailed" in caplog.text  # the broker refused the credentials
