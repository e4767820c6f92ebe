"""Per-agency submission topics on the real broker and PostgreSQL, intake as a real process.

Rules checked:
- on `referrals.submitted.<agency>.v1` the agency is the topic's: a submission the agency's
  own principal sends with an `agency-id` header naming someone else is accepted as the
  topic's agency;
- intake picks up an agency's topic created after it started (pattern subscription, metadata
  refreshed every few seconds), and reads it from its first message;
- a topic naming an agency intake does not know is dead-lettered `unknown_agency` and nothing
  is stored;
- a submission on an agency's topic is refused like any other, under the topic's agency.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.cloudevents import TYPE_SUBMITTED
from shared.topics import OPS_DEADLETTER, REFERRALS_RECEIVED, REFERRALS_REJECTED, submissions_topic
from tests.support.identities import add_agency
from tests.support.infra import service_env
from tests.support.kafka import Record, cloudevent, collect, connection
from tests.support.processes import ServiceProcess, free_port
from tests.support.report import LINES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def intake(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    port = free_port()
    env = service_env(stack_env, INTAKE_HTTP_PORT=str(port))
    logs = tmp_path_factory.mktemp("intake-agency-topics")
    process = ServiceProcess("intake", ["services.intake", "serve"], env, port, logs).start()
    try:
        process.wait_ready("/readyz", timeout=90)  # Kafka connected, subscribers started
        yield
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def producer(stack_env: dict[str, str]) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        **connection(),
    )
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@pytest.fixture
async def db(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack_env["INTAKE_DATABASE_URL"])
    try:
        yield conn
    finally:
        await conn.close()


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def register(db: asyncpg.Connection, agency: str) -> None:
    await db.execute(
        "INSERT INTO agencies (agency_id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", agency
    )


async def send(
    producer: AIOKafkaProducer, topic: str, body: dict[str, Any], *, agency_header: str | None
) -> None:
    headers = [(k, v.encode()) for k, v in cloudevent(TYPE_SUBMITTED).items()]
    if agency_header is not None:
        headers.append(("agency-id", agency_header.encode()))
    await producer.send_and_wait(
        topic, json.dumps(body).encode(), key=body["submission_id"].encode(), headers=headers
    )


def fresh(example: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(example))
    body["submission_id"] = f"AT-{uuid4().hex[:12]}"
    return body


async def received(bootstrap: str, submission_id: str) -> list[Record]:
    return await collect(
        bootstrap,
        REFERRALS_RECEIVED,
        lambda r: r.json()["submission"]["submission_id"] == submission_id,
        until=lambda kept: len(kept) >= 1,
        timeout=60,
    )


async def test_a_submission_on_an_agencys_topic_is_that_agencys_whatever_its_agency_header_says(
    intake: None,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    """Sent by notts-police's own principal (made by `agency-add --kafka`), claiming in its
    header to be someone else: stored and announced as notts-police's."""
    _, police = add_agency(stack_env, "notts-police")
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        enable_idempotence=True,
        **police.aiokafka_kwargs(),
    )
    await producer.start()
    body = fresh(example_submission)
    try:
        await send(producer, submissions_topic("notts-police"), body, agency_header="someone-else")
    finally:
        await producer.stop()

    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [record] = await received(bootstrap, body["submission_id"])
    assert record.json()["referrer_agency"] == "notts-police"
    stored = await db.fetchrow(
        "SELECT agency_id, channel FROM referrals WHERE submission_id = $1", body["submission_id"]
    )
    assert stored is not None
    assert (stored["agency_id"], stored["channel"]) == ("notts-police", "kafka")


async def test_an_agencys_topic_created_after_intake_started_is_read_from_its_first_message(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    agency = f"new-agency-{uuid4().hex[:8]}"
    await register(db, agency)
    await create_topic(bootstrap, submissions_topic(agency))
    body = fresh(example_submission)
    start = time.monotonic()
    await send(producer, submissions_topic(agency), body, agency_header=None)

    [record] = await received(bootstrap, body["submission_id"])
    LINES.append(
        f"agency topic created after start-up: read {time.monotonic() - start:.1f} s later"
    )
    assert record.json()["referrer_agency"] == agency


async def test_a_topic_of_an_agency_intake_does_not_know_is_dead_lettered_and_nothing_stored(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = submissions_topic(f"unregistered-{uuid4().hex[:8]}")
    await create_topic(bootstrap, topic)
    body = fresh(example_submission)
    await send(producer, topic, body, agency_header="notts-police")

    letters = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.json()["source_topic"] == topic,
        until=lambda kept: len(kept) >= 1,
        timeout=60,
    )
    assert [letter.json()["reason_code"] for letter in letters] == ["unknown_agency"]
    stored = await db.fetchval(
        "SELECT count(*) FROM referrals WHERE submission_id = $1", body["submission_id"]
    )
    assert stored == 0


async def test_an_invalid_submission_on_an_agencys_topic_is_rejected_under_that_agency(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await register(db, "notts-police")
    await create_topic(bootstrap, submissions_topic("notts-police"))
    body = fresh(example_submission)
    body["victim"]["postcode"] = "nope"
    await send(producer, submissions_topic("notts-police"), body, agency_header="someone-else")

    [record] = await collect(
        bootstrap,
        REFERRALS_REJECTED,
        lambda r: r.json()["submission_id"] == body["submission_id"],
        until=lambda kept: len(kept) >= 1,
        timeout=60,
        settle=1.0,
    )
    assert record.json()["referrer_agency"] == "notts-police"
    assert [e["field"] for e in record.json()["errors"]] == ["victim.postcode"]
