"""Intake's Kafka wiring with FastStream's TestKafkaBroker: no real broker, a fake store.

Rules shown here (bootstrap.py, subscribers.py, handlers/, services/common/kafka.py and
outbox.py): a submission on `referrals.submitted.v1` from a configured agency publishes nothing
itself but queues its ReferralReceived and the ops copy in the store's transaction, and the
relay's publisher puts it on `referrals.received.v1` keyed by the new referral id; an invalid
submission is rejected through the outbox too (never published from the subscriber), under an id
derived from the record, so the same record handled twice is rejected once; an unknown
`agency-id` header is rejected naming the header; bytes that are not JSON are dead-lettered and
the consumer goes on; the router's decision joins the referral's timeline; a store failure is
raised for redelivery, not dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common.outbox import kafka_publisher
from services.intake.bootstrap import build_broker
from services.intake.domain import Acceptance
from services.intake.subscribers import Wiring
from shared import Area, Decision, Locality, Pathway, Priority, Provider, ReferralSubmission
from shared.cloudevents import TYPE_DECIDED, TYPE_SUBMITTED
from shared.topics import (
    OPS_DEADLETTER,
    OPS_EVENTS,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    REFERRALS_REJECTED,
    REFERRALS_SUBMITTED,
)
from tests.intake.fakes import NOW, FakeStore, StoreDown, accept
from tests.support.kafka import cloudevent

AGENCY = "notts-police"


@dataclass
class Wired:
    broker: KafkaBroker
    store: FakeStore
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def submit(
        self, body: bytes | dict[str, Any], *, agency: str = AGENCY, partition: int = 0
    ) -> None:
        value = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = cloudevent(TYPE_SUBMITTED) | {"agency-id": agency}
        await self.broker.publish(
            value, topic=REFERRALS_SUBMITTED, key=b"k-1", headers=headers, partition=partition
        )

    async def relay(self) -> int:
        """Publish the committed outbox rows as the outbox relay does; returns how many."""
        publish = kafka_publisher(self.broker)
        rows = self.store.take_outbox()
        for row in rows:
            await publish(row)
        return len(rows)

    def on(self, topic: str) -> list[dict[str, Any]]:
        return self.seen.setdefault(topic, [])


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    store = FakeStore()

    async def accept_here(submission: ReferralSubmission, **kwargs: Any) -> Acceptance:
        assert kwargs["channel"] == "kafka"
        return await accept(store, submission, agency=kwargs["agency_id"])

    wiring = Wiring(
        accept=accept_here,
        rejections=lambda: store,
        timeline=lambda: store,
        agency_known=store.agency_known,
        header_agencies=frozenset({AGENCY}),
        now=lambda: NOW,
    )
    broker = build_broker("127.0.0.1:1", wiring)
    wired = Wired(broker, store)
    for topic in (REFERRALS_RECEIVED, REFERRALS_REJECTED, OPS_DEADLETTER, OPS_EVENTS):
        broker.subscriber(topic, group_id=f"wiring-test-{topic}")(_keeper(wired.on(topic)))

    async with TestKafkaBroker(broker) as test_broker:
        wired.broker = test_broker
        yield wired


def _keeper(kept: list[dict[str, Any]]) -> Callable[..., Awaitable[None]]:
    async def keep(body: dict[str, Any], msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple), "a single record, not a batch"
        kept.append(body | {"_headers": dict(msg.headers), "_key": record.key})

    return keep


def _key(seen: dict[str, Any]) -> bytes | None:
    key: bytes | None = seen["_key"]
    return key


async def test_a_submission_is_queued_not_published_and_the_relay_announces_it_keyed_by_its_referral(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    await wired.submit(example_submission)
    assert wired.on(REFERRALS_RECEIVED) == []
    (referral,) = wired.store.rows.values()
    assert await wired.relay() == 2
    (received,) = wired.on(REFERRALS_RECEIVED)
    rid = str(referral.referral_id)
    assert (received["referral_id"], received["referrer_agency"]) == (rid, AGENCY)
    assert _key(received) == rid.encode()
    assert received["_headers"]["ce_id"] == f"received:{rid}"
    assert wired.on(REFERRALS_REJECTED) == []


async def test_an_invalid_submission_is_rejected_through_the_outbox_naming_its_fields(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    example_submission["victim"]["postcode"] = "NOT A POSTCODE"
    await wired.submit(example_submission)
    assert wired.on(REFERRALS_REJECTED) == [], "the subscriber publishes nothing itself"
    assert [m.topic for m in wired.store.outbox] == [REFERRALS_REJECTED, OPS_EVENTS]
    await wired.relay()
    (rejected,) = wired.on(REFERRALS_REJECTED)
    assert rejected["submission_id"] == example_submission["submission_id"]
    assert [e["field"] for e in rejected["errors"]] == ["victim.postcode"]
    assert "NOT A POSTCODE" not in json.dumps(rejected, default=str)
    assert _key(rejected) == example_submission["submission_id"].encode()
    (ops,) = wired.on(OPS_EVENTS)
    assert (ops["state"], ops["reason_code"]) == ("rejected", "validation_failed")
    assert ops["_headers"]["ce_id"] == ops["event_id"] != rejected["_headers"]["ce_id"]
    assert wired.store.rows == {}


async def test_the_same_record_handled_twice_is_rejected_once_under_one_id(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    del example_submission["victim"]
    await wired.submit(example_submission)
    await wired.submit(example_submission)  # the same record again: topic, partition, offset
    assert await wired.relay() == 2
    await wired.submit(example_submission, partition=1)  # another record: its own answer
    assert await wired.relay() == 2
    first, other = wired.on(REFERRALS_REJECTED)
    assert first["_headers"]["ce_id"] != other["_headers"]["ce_id"]
    assert len(wired.store.rejections) == 2


async def test_an_unknown_agency_header_is_rejected_naming_the_header(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    await wired.submit(example_submission, agency="somebody-else")
    await wired.relay()
    (rejected,) = wired.on(REFERRALS_REJECTED)
    assert [(e["field"], e["code"]) for e in rejected["errors"]] == [
        ("headers.agency-id", "unknown_agency")
    ]
    assert rejected["referrer_agency"] == "somebody-else"
    assert wired.on(OPS_EVENTS)[0]["reason_code"] == "unknown_agency"
    assert wired.store.rows == {}


async def test_bytes_that_are_not_json_are_dead_lettered_and_the_next_submission_accepted(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    await wired.submit(b"\xff not json at all")
    await wired.submit(example_submission)
    (letter,) = wired.on(OPS_DEADLETTER)
    assert (letter["source_topic"], letter["reason_code"]) == (
        REFERRALS_SUBMITTED,
        "unparseable_json",
    )
    assert len(wired.store.rows) == 1
    assert wired.on(REFERRALS_REJECTED) == []


async def test_the_routers_decision_joins_the_referrals_timeline_once(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    await wired.submit(example_submission)
    (referral,) = wired.store.rows.values()
    decision = Decision(
        referral_id=referral.referral_id,
        pathway=Pathway.STALKING_ADVOCACY,
        provider=Provider.EQUATION,
        priority=Priority.STANDARD,
        rules_version="test",
        decided_at=NOW,
        submission_id=referral.submission_id,
        locality=Locality(local_authority_code="E06000018", area=Area.NOTTINGHAM_CITY),
    )
    for _ in range(2):
        await wired.broker.publish(
            decision.model_dump_json().encode(),
            topic=REFERRALS_DECIDED,
            key=str(referral.referral_id).encode(),
            headers=cloudevent(TYPE_DECIDED),
        )
    decided = f"decided:{referral.referral_id}"
    assert wired.store.timeline == {decided: (referral.referral_id, "decided")}


async def test_a_store_failure_is_raised_for_redelivery_not_dead_lettered(
    wired: Wired, example_submission: dict[str, Any]
) -> None:
    wired.store.down = True
    with pytest.raises(StoreDown):
        await wired.submit(example_submission)
    assert wired.on(OPS_DEADLETTER) == []
    assert await wired.relay() == 0
