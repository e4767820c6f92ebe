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
  neither is rejected naming the header, and not stored; what intake writes for Kafka
  submissions is a CloudEvent of its topic and schema.
Messages that must be seen in order are sent to one partition explicitly.
"""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from services.common.edge import digest
from shared.cloudevents import TYPE_SUBMITTED
from shared.topics import (
    OPS_DEADLETTER,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
)
from tests.intake.ingress import AGENCY, PARTITION, Ingress
from tests.support.cloudevents_check import assert_valid_cloudevents, mark
from tests.support.kafka import collect

pytestmark = pytest.mark.integration


async def test_a_valid_submission_is_stored_and_announced_keyed_by_its_referral_id(
    ingress: Ingress,
) -> None:
    body = ingress.fresh()
    await ingress.send(body, key=body["submission_id"])

    [record] = await ingress.received({body["submission_id"]})
    event = record.json()
    assert record.key == event["referral_id"]
    assert event["referrer_agency"] == AGENCY
    assert record.headers["ce_type"] == "uk.nottssas.referral.received.v1"
    assert record.headers["ce_subject"] == event["referral_id"]
    stored = await ingress.db.fetchrow(
        "SELECT referral_id::text AS referral_id, channel FROM referrals"
        " WHERE agency_id = $1 AND submission_id = $2",
        AGENCY,
        body["submission_id"],
    )
    assert stored is not None
    assert (stored["referral_id"], stored["channel"]) == (event["referral_id"], "kafka")


async def test_an_invalid_submission_is_rejected_naming_its_fields_without_personal_data_and_the_partition_flows_on(
    ingress: Ingress,
) -> None:
    marker = uuid4().hex[:10].upper()
    bad = ingress.fresh()
    bad["victim"] |= {
        "name": f"Victim {marker}",
        "postcode": f"PC{marker}",  # invalid: would leak if an error echoed its input
        "gender": f"g{marker}",  # invalid enum
    }
    bad["victim"]["safe_contact"] |= {"phone": f"07{marker}"}  # invalid phone
    bad["referrer"] |= {"name": f"Referrer {marker}", "email": f"{marker}@example.org"}
    good = ingress.fresh()
    await ingress.send(bad, key=bad["submission_id"])
    await ingress.send(good, key=good["submission_id"])  # same partition, after the bad one

    [record] = await ingress.rejected(bad["submission_id"])
    fields = {e["field"] for e in record.json()["errors"]}
    assert {"victim.postcode", "victim.gender", "victim.safe_contact.phone"} <= fields
    assert record.json()["referrer_agency"] == AGENCY
    assert record.key == bad["submission_id"]
    assert marker.encode() not in record.value
    assert marker not in json.dumps(record.headers)
    assert await ingress.received({good["submission_id"]}), "the partition is blocked"
    assert await ingress.stored(bad["submission_id"]) == 0


@pytest.mark.parametrize("agency", [None, "not-a-configured-agency"], ids=["missing", "unknown"])
async def test_a_submission_from_an_unknown_agency_is_rejected_naming_the_header(
    ingress: Ingress, agency: str | None
) -> None:
    body = ingress.fresh()
    await ingress.send(body, key=body["submission_id"], agency=agency)

    [record] = await ingress.rejected(body["submission_id"])
    errors = record.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("headers.agency-id", "unknown_agency")]
    assert await ingress.stored(body["submission_id"]) == 0


async def test_the_same_submission_sent_twice_is_one_referral_and_a_changed_one_conflicts(
    ingress: Ingress,
) -> None:
    body = ingress.fresh()
    changed = body | {"police_crime_reference": "CR-CHANGED-26"}
    sentinel = ingress.fresh()
    for value in (body, body, changed, sentinel):  # in order, on one partition
        await ingress.send(value, key=body["submission_id"])

    records = await ingress.received({body["submission_id"], sentinel["submission_id"]}, 2.0)
    ours = [r for r in records if r.json()["submission"]["submission_id"] == body["submission_id"]]
    assert len(ours) == 1, "the duplicate was announced twice"
    count = await ingress.db.fetchval(
        "SELECT count(*) FROM referrals WHERE agency_id = $1 AND submission_id = $2",
        AGENCY,
        body["submission_id"],
    )
    assert count == 1
    [conflict] = await ingress.rejected(body["submission_id"])
    assert [(e["field"], e["code"]) for e in conflict.json()["errors"]] == [
        ("submission_id", "conflict")
    ]


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{not json", b"[" * 100_000, b'{"submission_id": "x"'],
    ids=["invalid-utf8", "nested-too-deep", "truncated"],
)
async def test_unparseable_bytes_are_dead_lettered_with_a_reason_and_the_consumer_goes_on(
    ingress: Ingress, raw: bytes
) -> None:
    poison_key = f"POISON-{uuid4().hex[:12]}"
    after = ingress.fresh()
    await ingress.send(raw, key=poison_key)
    await ingress.send(after, key=poison_key)  # same partition, after the poison

    letters = await collect(
        ingress.bootstrap,
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
    assert await ingress.received({after["submission_id"]}), "the consumer stopped"


async def test_what_intake_writes_for_kafka_submissions_is_a_cloudevent_of_its_topic_and_schema(
    ingress: Ingress,
) -> None:
    """Read with the official CloudEvents SDK and the contract's JSON Schemas: every message of
    ours since this test started, after one valid, one invalid and one unparseable submission."""
    marks = await mark(ingress.bootstrap)
    valid, invalid = ingress.fresh(), ingress.fresh()
    invalid["victim"]["postcode"] = "nope"
    poison_key = f"POISON-{uuid4().hex[:12]}"
    await ingress.send(b"{not json", key=poison_key)
    await ingress.send(invalid, key=invalid["submission_id"])
    await ingress.send(valid, key=valid["submission_id"])
    assert await ingress.rejected(invalid["submission_id"])
    assert await ingress.received({valid["submission_id"]})
    await assert_valid_cloudevents(
        ingress.bootstrap, marks, expect=(REFERRALS_RECEIVED, REFERRALS_REJECTED, OPS_DEADLETTER)
    )


async def test_a_submission_in_structured_mode_is_accepted_and_one_that_is_no_cloudevent_rejected(
    ingress: Ingress,
) -> None:
    plain, structured = ingress.fresh(), ingress.fresh()
    await ingress.send(
        plain, key=plain["submission_id"], envelope={"content-type": "application/json"}
    )
    event = {
        "specversion": "1.0",
        "id": str(uuid4()),
        "source": "urn:agency:notts-police",
        "type": TYPE_SUBMITTED,
        "datacontenttype": "application/json",
        "data": structured,
    }
    await ingress.send(
        event,
        key=structured["submission_id"],
        envelope={"content-type": "application/cloudevents+json"},
    )

    assert await ingress.received({structured["submission_id"]})
    [record] = await ingress.rejected(plain["submission_id"])
    assert [(e["field"], e["code"]) for e in record.json()["errors"]] == [
        ("headers.ce_specversion", "not_a_cloudevent")
    ]
    assert await ingress.stored(plain["submission_id"]) == 0
