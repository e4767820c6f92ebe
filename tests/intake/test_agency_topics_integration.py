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

import time
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.topics import OPS_DEADLETTER, submissions_topic
from tests.intake.ingress import Ingress, send
from tests.support.identities import add_agency
from tests.support.kafka import collect, connection
from tests.support.report import LINES

pytestmark = pytest.mark.integration


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


async def test_a_submission_on_an_agencys_topic_is_that_agencys_whatever_its_agency_header_says(
    ingress: Ingress, stack_env: dict[str, str]
) -> None:
    """Sent by notts-police's own principal (made by `agency-add --kafka`), claiming in its
    header to be someone else: stored and announced as notts-police's."""
    _, police = add_agency(stack_env, "notts-police")
    producer = AIOKafkaProducer(
        bootstrap_servers=ingress.bootstrap,
        acks="all",
        enable_idempotence=True,
        **police.aiokafka_kwargs(),
    )
    await producer.start()
    body = ingress.fresh("AT")
    try:
        await send(
            producer,
            body,
            key=body["submission_id"],
            topic=submissions_topic("notts-police"),
            partition=None,
            agency="someone-else",
        )
    finally:
        await producer.stop()

    [record] = await ingress.received({body["submission_id"]})
    assert record.json()["referrer_agency"] == "notts-police"
    stored = await ingress.db.fetchrow(
        "SELECT agency_id, channel FROM referrals WHERE submission_id = $1", body["submission_id"]
    )
    assert stored is not None
    assert (stored["agency_id"], stored["channel"]) == ("notts-police", "kafka")


async def test_an_agencys_topic_created_after_intake_started_is_read_from_its_first_message(
    ingress: Ingress,
) -> None:
    agency = f"new-agency-{uuid4().hex[:8]}"
    await register(ingress.db, agency)
    await create_topic(ingress.bootstrap, submissions_topic(agency))
    body = ingress.fresh("AT")
    start = time.monotonic()
    topic = submissions_topic(agency)
    await ingress.send(body, key=body["submission_id"], topic=topic, partition=None, agency=None)

    [record] = await ingress.received({body["submission_id"]})
    LINES.append(
        f"agency topic created after start-up: read {time.monotonic() - start:.1f} s later"
    )
    assert record.json()["referrer_agency"] == agency


async def test_a_topic_of_an_agency_intake_does_not_know_is_dead_lettered_and_nothing_stored(
    ingress: Ingress,
) -> None:
    topic = submissions_topic(f"unregistered-{uuid4().hex[:8]}")
    await create_topic(ingress.bootstrap, topic)
    body = ingress.fresh("AT")
    await ingress.send(
        body, key=body["submission_id"], topic=topic, partition=None, agency="notts-police"
    )

    letters = await collect(
        ingress.bootstrap,
        OPS_DEADLETTER,
        lambda r: r.json()["source_topic"] == topic,
        until=lambda kept: len(kept) >= 1,
        timeout=60,
    )
    assert [letter.json()["reason_code"] for letter in letters] == ["unknown_agency"]
    assert await ingress.stored(body["submission_id"]) == 0


async def test_an_invalid_submission_on_an_agencys_topic_is_rejected_under_that_agency(
    ingress: Ingress,
) -> None:
    await register(ingress.db, "notts-police")
    topic = submissions_topic("notts-police")
    await create_topic(ingress.bootstrap, topic)
    body = ingress.fresh("AT")
    body["victim"]["postcode"] = "nope"
    await ingress.send(
        body, key=body["submission_id"], topic=topic, partition=None, agency="someone-else"
    )

    [record] = await ingress.rejected(body["submission_id"])
    assert record.json()["referrer_agency"] == "notts-police"
    assert [e["field"] for e in record.json()["errors"]] == ["victim.postcode"]
