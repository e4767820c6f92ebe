"""The router's Kafka wiring with FastStream's TestKafkaBroker: no real broker, a fake store.

Rules shown here (bootstrap.py, subscribers.py, services/common/kafka.py and outbox.py): handling
a ReferralReceived on `referrals.received.v1` publishes nothing itself but queues its Decision and
the ops copy in the store's transaction; the relay's publisher (`kafka_publisher`, what the
outbox relay publishes rows with) then puts the Decision on `referrals.decided.v1`, keyed by the
referral id, with CloudEvents headers whose `ce_id` is `decided:<referral_id>`; a message that is not JSON, or is JSON but not a
ReferralReceived, goes to `ops.deadletter.v1` with its reason (and the fields at fault, never their
values) and the consumer goes on; any other failure (the store is down) is not dead-lettered but
raised, so the ack policy redelivers the message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.common.edge import digest
from services.common.outbox import kafka_publisher
from services.router.bootstrap import build_broker
from services.router.engine import CachedRules, Router
from services.router.handlers import Context
from shared import ReferralReceived, ReferralSubmission
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, OPS_EVENTS, REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.fakes import FakeDecisionStore, StoreDown
from tests.support.kafka import cloudevent

NOW = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)


@dataclass
class Seen:
    """A message read off a topic by the test's own subscriber."""

    body: dict[str, Any]
    key: bytes | None
    headers: dict[str, Any]

    @classmethod
    def of(cls, body: dict[str, Any], msg: KafkaMessage) -> Seen:
        record = msg.raw_message
        assert not isinstance(record, tuple), "a single record, not a batch"
        return cls(body, record.key, dict(msg.headers))


@dataclass
class Wired:
    broker: KafkaBroker
    store: FakeDecisionStore
    decided: list[Seen] = field(default_factory=list)
    dead: list[Seen] = field(default_factory=list)
    ops: list[Seen] = field(default_factory=list)

    async def send(self, value: bytes, key: str = "k-1") -> None:
        await self.broker.publish(
            value,
            topic=REFERRALS_RECEIVED,
            key=key.encode(),
            headers=cloudevent(TYPE_RECEIVED),
        )

    async def send_referral(self, referral: ReferralReceived) -> None:
        await self.send(referral.model_dump_json().encode(), str(referral.referral_id))

    async def relay(self) -> int:
        """Publish the committed outbox rows as the outbox relay does; returns how many."""
        publish = kafka_publisher(self.broker)
        rows = self.store.take_outbox()
        for row in rows:
            await publish(row)
        return len(rows)


@pytest.fixture
async def wired(rules: CachedRules, directory: FakeDirectory) -> AsyncIterator[Wired]:
    store = FakeDecisionStore()
    broker = build_broker(
        "127.0.0.1:1",
        store=lambda: store,
        ctx=Context(decide=Router(rules, directory), now=lambda: NOW),
    )
    wired = Wired(broker, store)

    @broker.subscriber(REFERRALS_DECIDED, group_id="wiring-test-decided")
    async def on_decided(body: dict[str, Any], msg: KafkaMessage) -> None:
        wired.decided.append(Seen.of(body, msg))

    @broker.subscriber(OPS_DEADLETTER, group_id="wiring-test-dead")
    async def on_dead(body: dict[str, Any], msg: KafkaMessage) -> None:
        wired.dead.append(Seen.of(body, msg))

    @broker.subscriber(OPS_EVENTS, group_id="wiring-test-ops")
    async def on_ops(body: dict[str, Any], msg: KafkaMessage) -> None:
        wired.ops.append(Seen.of(body, msg))

    async with TestKafkaBroker(broker) as test_broker:
        wired.broker = test_broker
        yield wired


async def test_a_received_referral_is_published_decided_keyed_by_its_id_with_cloudevent_headers(
    wired: Wired, make_received: MakeReceived
) -> None:
    referral = make_received(victim__gender="male")
    await wired.send_referral(referral)
    assert await wired.relay() == 2
    (seen,) = wired.decided
    rid = str(referral.referral_id)
    assert (seen.body["referral_id"], seen.body["pathway"], seen.body["provider"]) == (
        rid,
        "stalking_advocacy",
        "equation",
    )
    assert seen.body["decided_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert seen.key == rid.encode()
    assert seen.headers["ce_id"] == f"decided:{rid}"
    assert seen.headers["ce_type"] == "uk.nottssas.referral.decided.v1"
    assert seen.headers["ce_source"] == "urn:nottssas:router"
    assert seen.headers["ce_subject"] == rid
    assert seen.headers["ce_specversion"] == "1.0"
    assert wired.store.decisions[referral.referral_id].decision.pathway.value == "stalking_advocacy"
    assert wired.dead == []


async def test_a_decision_is_announced_on_ops_events_with_codes_only(
    wired: Wired, make_received: MakeReceived
) -> None:
    referral = make_received(victim__gender="male")
    await wired.send_referral(referral)
    await wired.relay()
    (event,) = wired.ops
    assert event.key == str(referral.referral_id).encode()
    assert (event.body["state"], event.body["service"]) == ("decided", "router")
    assert (event.body["pathway"], event.body["provider"]) == ("stalking_advocacy", "equation")
    assert event.body["rules_version"] == wired.decided[0].body["rules_version"]
    text = json.dumps(event.body)
    assert isinstance(referral.submission, ReferralSubmission)
    assert referral.submission.victim.name not in text
    assert str(referral.submission.victim.postcode) not in text


async def test_a_redelivered_referral_is_not_published_twice(
    wired: Wired, make_received: MakeReceived
) -> None:
    referral = make_received()
    await wired.send_referral(referral)
    await wired.send_referral(referral)
    assert await wired.relay() == 2
    assert [s.body["referral_id"] for s in wired.decided] == [str(referral.referral_id)]


async def test_handling_a_referral_publishes_nothing_itself_its_events_wait_for_the_relay(
    wired: Wired, make_received: MakeReceived
) -> None:
    referral = make_received()
    await wired.send_referral(referral)
    assert (wired.decided, wired.ops) == ([], [])
    assert [(m.topic, m.headers["ce_id"]) for m in wired.store.outbox] == [
        (REFERRALS_DECIDED, f"decided:{referral.referral_id}"),
        (OPS_EVENTS, f"ops:decided:{referral.referral_id}"),
    ]
    await wired.relay()
    assert [s.body["referral_id"] for s in wired.decided] == [str(referral.referral_id)]


async def test_a_message_that_is_not_json_is_dead_lettered_and_the_next_referral_decided(
    wired: Wired, make_received: MakeReceived
) -> None:
    await wired.send(b"\xff not json at all", key="poison-1")
    referral = make_received()
    await wired.send_referral(referral)
    await wired.relay()
    (letter,) = wired.dead
    # The key was not validated, so ops sees its digest, not the key.
    assert letter.key == digest(b"poison-1").encode()
    assert (letter.body["source_topic"], letter.body["service"]) == (REFERRALS_RECEIVED, "router")
    assert letter.body["reason_code"] == "unparseable_json"
    assert [s.body["referral_id"] for s in wired.decided] == [str(referral.referral_id)]


async def test_json_that_is_not_a_received_referral_is_dead_lettered_naming_its_fields_only(
    wired: Wired, make_received: MakeReceived
) -> None:
    body = json.loads(make_received().model_dump_json())
    body["submission"]["victim"]["postcode"] = "NOT A POSTCODE"
    del body["received_at"]
    await wired.send(json.dumps(body).encode())
    (letter,) = wired.dead
    assert letter.body["reason_code"] == "validation_failed"
    assert set(letter.body["error_fields"]) == {
        "referral.received_at",
        "referral.submission.victim.postcode",
    }
    assert "NOT A POSTCODE" not in json.dumps(letter.body)
    assert (wired.decided, wired.store.outbox) == ([], [])
    assert wired.store.decisions == {}


async def test_a_store_failure_is_raised_for_redelivery_not_dead_lettered(
    wired: Wired, make_received: MakeReceived
) -> None:
    wired.store.down = True
    with pytest.raises(StoreDown):
        await wired.send_referral(make_received())
    assert await wired.relay() == 0
    assert (wired.dead, wired.decided) == ([], [])
