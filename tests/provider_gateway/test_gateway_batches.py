"""The gateway's two halves taken in batches, with FastStream's TestKafkaBroker and the fake store.

Rules shown here (subscribers.py, adapters/referral_batch.py): a batch of decisions (or of
referral details) is stored in ONE transaction locking each of its referrals; a record of the
batch that cannot be read (not JSON, the wrong shape, a decision without a referral id) is
dead-lettered alone with its reason and the rest of the batch takes effect; a batch delivered
again makes no second assignment and queues no new event (one webhook-id per assignment); a
batch whose transaction fails stores nothing and dead-letters nothing (it is redelivered).
Every service's ops events are taken in batches too: intake's erasures are applied once each,
the other events are passed over, a bad record is dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.common.kafka import dead_letter_middleware, dead_letterer, make_broker
from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import Context
from services.provider_gateway.subscribers import (
    register_erasure_subscriber,
    register_subscribers,
)
from shared import OpsEvent, Provider, ReferralState, Service
from shared.cloudevents import TYPE_DECIDED, TYPE_OPS_EVENT, TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, OPS_EVENTS, REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event
from tests.support.kafka import cloudevent


class StoreDown(Exception):
    """The database went away in the middle of a batch."""


@dataclass
class FailingStore(FakeReferralStore):
    fail_batches: bool = False

    def referrals(self, referral_ids: Any) -> Any:
        if self.fail_batches:
            raise StoreDown
        return super().referrals(referral_ids)


@dataclass
class Wired:
    broker: KafkaBroker
    store: FailingStore
    dead: list[dict[str, Any]] = field(default_factory=list)

    async def decisions(self, *bodies: bytes) -> None:
        await self.broker.publish_batch(
            *bodies, topic=REFERRALS_DECIDED, headers=cloudevent(TYPE_DECIDED)
        )

    async def details(self, *bodies: bytes) -> None:
        await self.broker.publish_batch(
            *bodies, topic=REFERRALS_RECEIVED, headers=cloudevent(TYPE_RECEIVED)
        )


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    broker = make_broker("127.0.0.1:1", client_id="batch-test")
    letters = dead_letterer(Service.PROVIDER_GATEWAY, lambda: broker)
    broker.add_middleware(
        dead_letter_middleware(Service.PROVIDER_GATEWAY, lambda: broker, dead_letter=letters)
    )
    store = FailingStore()
    ctx = Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("webhook",)), now=lambda: T0)
    register_subscribers(broker, lambda: store, ctx, batches=lambda: store, dead_letter=letters)
    wired = Wired(broker, store)

    @broker.subscriber(OPS_DEADLETTER, group_id="batch-test-dead")
    async def on_dead(body: dict[str, Any]) -> None:
        wired.dead.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        wired.broker = test_broker
        yield wired


def _decision(rid: UUID) -> bytes:
    return decision_for(rid).model_dump_json().encode()


def _details(rid: UUID) -> bytes:
    return received_event(rid).model_dump_json().encode()


async def test_a_batch_of_decisions_is_one_transaction_and_makes_one_assignment_each(
    wired: Wired,
) -> None:
    ids = [uuid4() for _ in range(4)]
    await wired.details(*map(_details, ids))
    await wired.decisions(*map(_decision, ids))
    assert wired.store.batches == [sorted(ids), sorted(ids)], "one transaction per batch"
    assert sorted(wired.store.rows) == sorted(f"asg_{rid}_1" for rid in ids)
    assert wired.dead == []


async def test_one_bad_record_of_a_batch_is_dead_lettered_alone_and_the_others_take_effect(
    wired: Wired,
) -> None:
    ids = [uuid4() for _ in range(3)]
    await wired.details(*map(_details, ids))
    no_id = json.loads(decision_for(uuid4()).model_dump_json()) | {"referral_id": None}
    shape = json.loads(decision_for(uuid4()).model_dump_json())
    del shape["priority"]
    await wired.decisions(
        _decision(ids[0]),
        b"\xff not json",
        _decision(ids[1]),
        json.dumps(no_id).encode(),
        json.dumps(shape).encode(),
        _decision(ids[2]),
    )
    assert sorted(d["reason_code"] for d in wired.dead) == [
        "decision_without_referral_id",
        "unparseable_json",
        "validation_failed",
    ]
    assert [d["error_fields"] for d in wired.dead if d["reason_code"] == "validation_failed"] == [
        ["decision.priority"]
    ]
    assert sorted(wired.store.rows) == sorted(f"asg_{rid}_1" for rid in ids)
    assert wired.store.batches[-1] == sorted(ids), "the bad records lock nothing"


async def test_a_redelivered_batch_makes_no_second_assignment_and_no_new_event(
    wired: Wired,
) -> None:
    ids = [uuid4() for _ in range(3)]
    await wired.details(*map(_details, ids))
    await wired.decisions(*map(_decision, ids))
    rows, emitted = dict(wired.store.rows), list(wired.store.emitted)
    await wired.decisions(*map(_decision, ids))  # as after a crash before the offset commit
    await wired.details(*map(_details, ids))
    assert wired.store.rows == rows
    assert wired.store.emitted == emitted
    assert wired.dead == []


async def test_a_batch_whose_transaction_fails_stores_nothing_and_dead_letters_nothing(
    wired: Wired,
) -> None:
    ids = [uuid4() for _ in range(2)]
    await wired.details(*map(_details, ids))
    wired.store.fail_batches = True
    with pytest.raises(StoreDown):
        await wired.decisions(_decision(ids[0]), b"{", _decision(ids[1]))
    assert (wired.store.rows, wired.store.decisions, wired.dead) == ({}, {}, [])


@dataclass
class FakeErasures:
    """Intake's erasures as the gateway applies them (adapters.erasure_store), once each."""

    applied: dict[UUID, UUID] = field(default_factory=dict)  # referral id -> event id
    emitted: list[str] = field(default_factory=list)
    transactions: int = 0

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[FakeErasureTx]:
        self.transactions += 1
        yield FakeErasureTx(self, referral_id)


@dataclass
class FakeErasureTx:
    store: FakeErasures
    referral_id: UUID

    async def record(self, erased_at: datetime, event_id: UUID) -> bool:
        if self.referral_id in self.store.applied:
            return False
        self.store.applied[self.referral_id] = event_id
        return True

    async def erase_copies(self) -> int:
        return 0

    async def emit(self, event: Any, **where: Any) -> None:
        self.store.emitted.append(where["event_id"])


def _ops(state: ReferralState, service: Service, rid: UUID) -> bytes:
    event = OpsEvent(event_id=uuid4(), at=T0, service=service, state=state, referral_id=rid)
    return event.model_dump_json().encode()


async def test_ops_events_in_a_batch_apply_intake_erasures_once_and_dead_letter_a_bad_one() -> None:
    broker = make_broker("127.0.0.1:1", client_id="erasure-batch-test")
    letters = dead_letterer(Service.PROVIDER_GATEWAY, lambda: broker)
    erasures, dead = FakeErasures(), []
    register_erasure_subscriber(broker, lambda: erasures, lambda: T0, dead_letter=letters)

    @broker.subscriber(OPS_DEADLETTER, group_id="erasure-batch-dead")
    async def on_dead(body: dict[str, Any]) -> None:
        dead.append(body)

    erased, other = uuid4(), uuid4()
    batch = (
        _ops(ReferralState.DECIDED, Service.ROUTER, other),
        _ops(ReferralState.ERASED, Service.PROVIDER_GATEWAY, other),  # the gateway's own: not one
        b"\xff not json",
        _ops(ReferralState.ERASED, Service.INTAKE, erased),
    )
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(2):  # the same batch again, as after a crash before the offset commit
            await test_broker.publish_batch(
                *batch, topic=OPS_EVENTS, headers=cloudevent(TYPE_OPS_EVENT)
            )
    assert list(erasures.applied) == [erased]
    assert len(erasures.emitted) == 1, "the gateway's own erased event, queued once"
    assert erasures.transactions == 2, "one transaction per erasure, none for the others"
    assert [d["reason_code"] for d in dead] == ["unparseable_json", "unparseable_json"]
