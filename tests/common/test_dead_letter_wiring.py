"""Wiring: a poison message on a typed subscriber is dead-lettered with its reason and acked,
so the consumer goes on (FastStream's in-memory TestKafkaBroker; no real Kafka needed)."""

from __future__ import annotations

from typing import Any

import pytest
from faststream import AckPolicy
from faststream.kafka import TestKafkaBroker

from services.common.kafka import dead_letter_middleware, make_broker
from shared import ReferralReceived, Service
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, REFERRALS_RECEIVED
from tests.support.kafka import cloudevent

POISON = [
    (b"[" * 5000 + b"]" * 5000, "unparseable_json"),
    (b"not json at all", "unparseable_json"),
    (b'{"referral_id": "nope"}', "validation_failed"),
]


@pytest.mark.parametrize(("payload", "reason"), POISON, ids=["too-deep", "not-json", "wrong-shape"])
async def test_a_poison_message_is_dead_lettered_and_the_consumer_goes_on(
    payload: bytes, reason: str, example_submission: dict[str, Any]
) -> None:
    broker = make_broker("127.0.0.1:1", client_id="wiring")
    broker.add_middleware(dead_letter_middleware(Service.ROUTER, lambda: broker))
    handled: list[ReferralReceived] = []
    letters: list[dict[str, Any]] = []

    @broker.subscriber(REFERRALS_RECEIVED, group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def on_received(referral: ReferralReceived) -> None:
        handled.append(referral)

    @broker.subscriber(OPS_DEADLETTER, group_id="ops")
    async def on_dead_letter(letter: dict[str, Any]) -> None:
        letters.append(letter)

    good = {
        "referral_id": "2b0c7a4e-8f0e-4d59-9a4b-8d1f2e3c4b5a",
        "received_at": "2026-11-20T10:15:00+00:00",
        "referrer_agency": "demo-agency",
        "submission": example_submission,
    }
    async with TestKafkaBroker(broker) as test_broker:
        headers = cloudevent(TYPE_RECEIVED)
        await test_broker.publish(
            payload, topic=REFERRALS_RECEIVED, key=b"poison-key", headers=headers
        )
        await test_broker.publish(good, topic=REFERRALS_RECEIVED, key=b"good-key", headers=headers)

    assert [letter["reason_code"] for letter in letters] == [reason]
    assert letters[0]["source_topic"] == REFERRALS_RECEIVED
    assert "Sam Example" not in str(letters)
    assert [str(r.referral_id) for r in handled] == [good["referral_id"]]
