"""The subscribers' wiring with FastStream's TestKafkaBroker: typed bodies, poison handling.

On a provider's own responses topic the provider is the topic's: an answer whose body names
another provider is dead-lettered and takes no effect.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.common.kafka import dead_letter_middleware, dead_letterer, make_broker
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import Context
from services.provider_gateway.subscribers import register_subscribers
from shared import Provider, Service
from shared.cloudevents import TYPE_DECIDED, TYPE_RECEIVED, TYPE_RESPONSE
from shared.topics import (
    ASSIGNMENTS_RESPONSES,
    OPS_DEADLETTER,
    REFERRALS_DECIDED,
    REFERRALS_RECEIVED,
    responses_topic,
)
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event
from tests.support.kafka import cloudevent

TYPES = {
    REFERRALS_RECEIVED: TYPE_RECEIVED,
    REFERRALS_DECIDED: TYPE_DECIDED,
    ASSIGNMENTS_RESPONSES: TYPE_RESPONSE,
}


@dataclass
class Wired:
    broker: KafkaBroker
    store: FakeReferralStore
    dead: list[dict[str, Any]]

    async def publish(self, body: Any, topic: str, key: UUID) -> None:
        payload = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body)
        await self.broker.publish(
            payload.encode(), topic=topic, key=str(key).encode(), headers=cloudevent(TYPES[topic])
        )


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    broker = make_broker("127.0.0.1:1", client_id="wiring-test")
    letters = dead_letterer(Service.PROVIDER_GATEWAY, lambda: broker)
    broker.add_middleware(
        dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker, dead_letter=letters)
    )
    store = FakeReferralStore()
    ctx = Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)
    register_subscribers(broker, lambda: store, ctx, batches=lambda: store, dead_letter=letters)
    dead: list[dict[str, Any]] = []

    @broker.subscriber(OPS_DEADLETTER, group_id="wiring-test-dead")
    async def collect(letter: dict[str, Any]) -> None:
        dead.append(letter)

    async with TestKafkaBroker(broker) as test_broker:
        yield Wired(test_broker, store, dead)


async def test_both_halves_on_their_topics_make_an_assignment(
    wired: Wired, referral_id: UUID
) -> None:
    await wired.publish(decision_for(referral_id), REFERRALS_DECIDED, referral_id)
    await wired.publish(received_event(referral_id), REFERRALS_RECEIVED, referral_id)
    assert list(wired.store.rows) == [f"asg_{referral_id}_1"]


async def test_a_decision_without_a_referral_id_is_dead_lettered(
    wired: Wired, referral_id: UUID
) -> None:
    body = decision_for(referral_id).model_dump(mode="json") | {"referral_id": None}
    await wired.publish(body, REFERRALS_DECIDED, referral_id)
    (letter,) = wired.dead
    assert (letter["reason_code"], letter["source_topic"]) == (
        "decision_without_referral_id",
        REFERRALS_DECIDED,
    )


async def test_a_malformed_decision_is_dead_lettered_by_field(
    wired: Wired, referral_id: UUID
) -> None:
    body = decision_for(referral_id).model_dump(mode="json") | {"priority": "whenever"}
    await wired.publish(body, REFERRALS_DECIDED, referral_id)
    (letter,) = wired.dead
    assert letter["reason_code"] == "validation_failed"
    assert letter["error_fields"] == ["decision.priority"]


async def test_an_answer_for_no_current_assignment_is_dead_lettered(
    wired: Wired, referral_id: UUID
) -> None:
    answer = {
        "referral_id": str(referral_id),
        "provider": "juno",
        "status": "accepted",
        "at": T0.isoformat(),
    }
    await wired.publish(answer, ASSIGNMENTS_RESPONSES, referral_id)
    (letter,) = wired.dead
    assert letter["reason_code"] == "assignment_not_current"
    assert wired.store.states() == []


async def _assigned_to_juno(wired: Wired, referral_id: UUID) -> dict[str, Any]:
    await wired.publish(decision_for(referral_id, "juno"), REFERRALS_DECIDED, referral_id)
    await wired.publish(received_event(referral_id), REFERRALS_RECEIVED, referral_id)
    return {
        "referral_id": str(referral_id),
        "provider": "juno",
        "status": "accepted",
        "at": T0.isoformat(),
    }


async def _answer_on(wired: Wired, topic: str, answer: dict[str, Any], key: UUID) -> None:
    headers = cloudevent(TYPE_RESPONSE, agency_id="nwa")  # a header never names the provider
    await wired.broker.publish(
        json.dumps(answer).encode(), topic=topic, key=str(key).encode(), headers=headers
    )


async def test_an_answer_on_a_providers_own_topic_is_applied_as_that_providers(
    wired: Wired, referral_id: UUID
) -> None:
    answer = await _assigned_to_juno(wired, referral_id)
    await _answer_on(wired, responses_topic("juno"), answer, referral_id)
    assert wired.dead == []
    assert wired.store.states()[-1] == "accepted"


async def test_an_answer_for_another_provider_on_a_providers_topic_is_dead_lettered_and_takes_no_effect(
    wired: Wired, referral_id: UUID
) -> None:
    answer = await _assigned_to_juno(wired, referral_id)
    before = wired.store.states()
    await _answer_on(wired, responses_topic("nwa"), answer, referral_id)  # nwa answering for juno
    (letter,) = wired.dead
    assert (letter["reason_code"], letter["source_topic"]) == (
        "provider_mismatch",
        "assignments.responses.nwa.v1",
    )
    assert letter["error_fields"] == ["provider"]
    assert wired.store.states() == before
    assert "accepted" not in wired.store.states()


async def test_an_answer_on_the_topic_of_no_known_provider_is_dead_lettered(
    wired: Wired, referral_id: UUID
) -> None:
    answer = await _assigned_to_juno(wired, referral_id)
    await _answer_on(wired, "assignments.responses.acme.v1", answer, referral_id)
    (letter,) = wired.dead
    assert letter["reason_code"] == "unknown_provider"
    assert "accepted" not in wired.store.states()
