"""Kafka ingress on the real broker and PostgreSQL, with intake running as a real process.

Rules checked:
- a valid submission on `referrals.submitted.v1` from a configured agency (header `agency-id`)
  is stored once and announced on `referrals.received.v1`, keyed by its new referral id;
- an invalid submission is answered on `referrals.rejected.v1`, naming each field at fault and
  carrying none of its personal data, and does not block its partition;
- a submission whose `agency-id` header is missing or unknown is rejected naming the header;
- bytes that are not JSON go to `ops.deadletter.v1` with a reason, and the consumer goes on;
- the same submission sent twice is one referral; a different body under the same
  submission id is rejected as a conflict;
- a submission must be a CloudEvent: binary mode (`ce_*` headers) or structured mode
  (`application/cloudevents+json`, the submission as the event's `data`); one that is
  neither is rejected naming the header, and not stored.
Messages that must be seen in order are sent to one partition explicitly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.common.edge import digest
from shared.cloudevents import TYPE_SUBMITTED
from shared.topics import (
    OPS_DEADLETTER,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
)
from tests.support.cloudevents_check import assert_valid_cloudevents, mark
from tests.support.infra import service_env
from tests.support.kafka import Record, cloudevent, collect, connection
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration

AGENCY = "notts-police"  # one of INTAKE_KAFKA_AGENCIES by default
PARTITION = 1


@pytest.fixture(scope="module")
def intake(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    port = free_port()
    env = service_env(stack_env, INTAKE_HTTP_PORT=str(port))
    logs = tmp_path_factory.mktemp("intake-kafka")
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


async def send(
    producer: AIOKafkaProducer,
    value: bytes | dict[str, Any],
    *,
    key: str,
    agency: str | None = AGENCY,
    envelope: dict[str, str] | None = None,
) -> None:
    body = json.dumps(value).encode() if isinstance(value, dict) else value
    ce = cloudevent(TYPE_SUBMITTED) if envelope is None else envelope
    headers = [(k, v.encode()) for k, v in ce.items()]
    if agency is not None:
        headers.append(("agency-id", agency.encode()))
    await producer.send_and_wait(
        REFERRALS_SUBMITTED, body, key=key.encode(), partition=PARTITION, headers=headers
    )


def fresh(example: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(example))
    body["submission_id"] = f"KI-{uuid4().hex[:12]}"
    return body


async def received(bootstrap: str, submission_ids: set[str], settle: float = 0.0) -> list[Record]:
    return await collect(
        bootstrap,
        REFERRALS_RECEIVED,
        lambda r: r.json()["submission"]["submission_id"] in submission_ids,
        until=lambda kept: (
            {r.json()["submission"]["submission_id"] for r in kept} >= submission_ids
        ),
        timeout=60,
        settle=settle,
    )


async def rejected(bootstrap: str, submission_id: str) -> list[Record]:
    return await collect(
        bootstrap,
        REFERRALS_REJECTED,
        lambda r: bool(r.json()["submission_id"] == submission_id),
        until=lambda kept: len(kept) >= 1,
        timeout=60,
        settle=1.0,
    )


async def test_a_valid_submission_is_stored_and_announced_keyed_by_its_referral_id(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    body = fresh(example_submission)
    await send(producer, body, key=body["submission_id"])

    [record] = await received(stack_env["KAFKA_BOOTSTRAP_SERVERS"], {body["submission_id"]})
    event = record.json()
    assert record.key == event["referral_id"]
    assert event["referrer_agency"] == AGENCY
    assert record.headers["ce_type"] == "uk.nottssas.referral.received.v1"
    assert record.headers["ce_subject"] == event["referral_id"]
    stored = await db.fetchrow(
        "SELECT referral_id::text AS referral_id, channel FROM referrals"
        " WHERE agency_id = $1 AND submission_id = $2",
        AGENCY,
        body["submission_id"],
    )
    assert stored is not None
    assert (stored["referral_id"], stored["channel"]) == (event["referral_id"], "kafka")


async def test_an_invalid_submission_is_rejected_naming_its_fields_without_personal_data_and_the_partition_flows_on(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    marker = uuid4().hex[:10].upper()
    bad = fresh(example_submission)
    bad["victim"] |= {
        "name": f"Victim {marker}",
        "postcode": f"PC{marker}",  # invalid: would leak if an error echoed its input
        "gender": f"g{marker}",  # invalid enum
    }
    bad["victim"]["safe_contact"] |= {"phone": f"07{marker}"}  # invalid phone
    bad["referrer"] |= {"name": f"Referrer {marker}", "email": f"{marker}@example.org"}
    good = fresh(example_submission)
    await send(producer, bad, key=bad["submission_id"])
    await send(producer, good, key=good["submission_id"])  # same partition, after the bad one

    [record] = await rejected(bootstrap, bad["submission_id"])
    fields = {e["field"] for e in record.json()["errors"]}
    assert {"victim.postcode", "victim.gender", "victim.safe_contact.phone"} <= fields
    assert record.json()["referrer_agency"] == AGENCY
    assert record.key == bad["submission_id"]
    assert marker.encode() not in record.value
    assert marker not in json.dumps(record.headers)
    assert await received(bootstrap, {good["submission_id"]}), "the partition is blocked"
    stored = await db.fetchval(
        "SELECT count(*) FROM referrals WHERE submission_id = $1", bad["submission_id"]
    )
    assert stored == 0


@pytest.mark.parametrize("agency", [None, "not-a-configured-agency"], ids=["missing", "unknown"])
async def test_a_submission_from_an_unknown_agency_is_rejected_naming_the_header(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
    agency: str | None,
) -> None:
    body = fresh(example_submission)
    await send(producer, body, key=body["submission_id"], agency=agency)

    [record] = await rejected(stack_env["KAFKA_BOOTSTRAP_SERVERS"], body["submission_id"])
    errors = record.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("headers.agency-id", "unknown_agency")]
    stored = await db.fetchval(
        "SELECT count(*) FROM referrals WHERE submission_id = $1", body["submission_id"]
    )
    assert stored == 0


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{not json", b"[" * 100_000, b'{"submission_id": "x"'],
    ids=["invalid-utf8", "nested-too-deep", "truncated"],
)
async def test_unparseable_bytes_are_dead_lettered_with_a_reason_and_the_consumer_goes_on(
    intake: None,
    producer: AIOKafkaProducer,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
    raw: bytes,
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    poison_key = f"POISON-{uuid4().hex[:12]}"
    after = fresh(example_submission)
    await send(producer, raw, key=poison_key)
    await send(producer, after, key=poison_key)  # same partition, after the poison

    letters = await collect(
        bootstrap,
        OPS_DEADLETTER,
        lambda r: r.key == digest(poison_key),
        until=lambda kept: len(kept) >= 1,
        timeout=60,
    )
    assert len(letters) == 1
    letter = letters[0].json()
    assert letter["source_topic"] == REFERRALS_SUBMITTED
    assert letter["source_partition"] == PARTITION
    assert letter["reason_code"] == "unparseable_json"
    assert await received(bootstrap, {after["submission_id"]}), "the consumer stopped"


async def test_the_same_submission_sent_twice_is_one_referral_and_a_changed_one_conflicts(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    body = fresh(example_submission)
    changed = body | {"police_crime_reference": "CR-CHANGED-26"}
    sentinel = fresh(example_submission)
    for value in (body, body, changed, sentinel):  # in order, on one partition
        await send(producer, value, key=body["submission_id"])

    records = await received(bootstrap, {body["submission_id"], sentinel["submission_id"]}, 2.0)
    ours = [r for r in records if r.json()["submission"]["submission_id"] == body["submission_id"]]
    assert len(ours) == 1, "the duplicate was announced twice"
    count = await db.fetchval(
        "SELECT count(*) FROM referrals WHERE agency_id = $1 AND submission_id = $2",
        AGENCY,
        body["submission_id"],
    )
    assert count == 1
    [conflict] = await rejected(bootstrap, body["submission_id"])
    assert [(e["field"], e["code"]) for e in conflict.json()["errors"]] == [
        ("submission_id", "conflict")
    ]


async def test_what_intake_writes_for_kafka_submissions_is_a_cloudevent_of_its_topic_and_schema(
    intake: None,
    producer: AIOKafkaProducer,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    """Read with the official CloudEvents SDK and the contract's JSON Schemas: every message of
    ours since this test started, after one valid, one invalid and one unparseable submission."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    marks = await mark(bootstrap)
    valid, invalid = fresh(example_submission), fresh(example_submission)
    invalid["victim"]["postcode"] = "nope"
    poison_key = f"POISON-{uuid4().hex[:12]}"
    await send(producer, b"{not json", key=poison_key)
    await send(producer, invalid, key=invalid["submission_id"])
    await send(producer, valid, key=valid["submission_id"])
    assert await rejected(bootstrap, invalid["submission_id"])
    assert await received(bootstrap, {valid["submission_id"]})
    await assert_valid_cloudevents(
        bootstrap, marks, expect=(REFERRALS_RECEIVED, REFERRALS_REJECTED, OPS_DEADLETTER)
    )


async def test_a_submission_in_structured_mode_is_accepted_and_one_that_is_no_cloudevent_rejected(
    intake: None,
    producer: AIOKafkaProducer,
    db: asyncpg.Connection,
    stack_env: dict[str, str],
    example_submission: dict[str, Any],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    plain, structured = fresh(example_submission), fresh(example_submission)
    await send(
        producer, plain, key=plain["submission_id"], envelope={"content-type": "application/json"}
    )
    event = {
        "specversion": "1.0",
        "id": str(uuid4()),
        "source": "urn:agency:notts-police",
        "type": TYPE_SUBMITTED,
        "datacontenttype": "application/json",
        "data": structured,
    }
    await send(
        producer,
        event,
        key=structured["submission_id"],
        envelope={"content-type": "application/cloudevents+json"},
    )

    assert await received(bootstrap, {structured["submission_id"]})
    [record] = await rejected(bootstrap, plain["submission_id"])
    assert [(e["field"], e["code"]) for e in record.json()["errors"]] == [
        ("headers.ce_specversion", "not_a_cloudevent")
    ]
    stored = await db.fetchval(
        "SELECT count(*) FROM referrals WHERE submission_id = $1", plain["submission_id"]
    )
    assert stored == 0
