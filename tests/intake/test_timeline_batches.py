"""Intake's timeline inputs taken in batches (FastStream's TestKafkaBroker, a fake store).

Rules shown here (subscribers.py, services/common/kafka_batch.py): `ops.events.v1` and
`referrals.decided.v1` reach intake's timeline a batch at a time (one store unit and one offset
commit per batch, not per message: every service's ops events pass through intake, several per
referral); each record is read alone, so a bad one is dead-lettered with its reason while the
rest take effect; a batch handled again (redelivered after a crash) adds nothing twice; a store
failure raises, for the whole batch to be redelivered, and dead-letters nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.intake.bootstrap import build_broker
from services.intake.subscribers import Wiring
from shared import (
    Area,
    Decision,
    Locality,
    OpsEvent,
    Pathway,
    Priority,
    Provider,
    ReferralState,
    ReferralSubmission,
    Service,
)
from shared.cloudevents import TYPE_DECIDED, TYPE_OPS_EVENT
from shared.topics import OPS_DEADLETTER, OPS_EVENTS, REFERRALS_DECIDED
from tests.intake.fakes import NOW, FakeStore, StoreDown, accept
from tests.support.kafka import cloudevent


@dataclass
class Wired:
    broker: KafkaBroker
    store: FakeStore
    units: int = 0  # how many times a handler asked for the timeline store
    dead: list[dict[str, Any]] = field(default_factory=list)

    def timeline(self) -> FakeStore:
        self.units += 1
        return self.store


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    store = FakeStore()

    async def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("no submission is sent here")

    wired = Wired(KafkaBroker(), store)
    wiring = Wiring(
        accept=refused,
        rejections=lambda: store,
        timeline=wired.timeline,
        agency_known=store.agency_known,
        header_agencies=frozenset(),
        now=lambda: NOW,
    )
    broker = build_broker("127.0.0.1:1", wiring)

    @broker.subscriber(OPS_DEADLETTER, group_id="timeline-batch-dead")
    async def on_dead(body: dict[str, Any]) -> None:
        wired.dead.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        wired.broker = test_broker
        yield wired


async def _stored(wired: Wired, submission: ReferralSubmission) -> UUID:
    acceptance = await accept(
        wired.store, submission.model_copy(update={"submission_id": f"S-{uuid4().hex[:8]}"})
    )
    return acceptance.referral_id


def _ops(state: ReferralState, rid: UUID, service: Service = Service.PROVIDER_GATEWAY) -> bytes:
    event = OpsEvent(event_id=uuid4(), at=NOW, service=service, state=state, referral_id=rid)
    return event.model_dump_json().encode()


def _decision(rid: UUID | None) -> bytes:
    return (
        Decision(
            referral_id=rid,
            pathway=Pathway.STALKING_ADVOCACY,
            provider=Provider.EQUATION,
            priority=Priority.STANDARD,
            rules_version="test",
            decided_at=NOW,
            submission_id="S-1",
            locality=Locality(local_authority_code="E06000018", area=Area.NOTTINGHAM_CITY),
        )
        .model_dump_json()
        .encode()
    )


async def test_a_batch_of_ops_events_is_one_unit_and_a_bad_record_is_dead_lettered_alone(
    wired: Wired, submission: ReferralSubmission
) -> None:
    rid = await _stored(wired, submission)
    batch = (
        _ops(ReferralState.RECEIVED, rid, Service.INTAKE),  # not a timeline step
        _ops(ReferralState.DELIVERED, rid),
        b"\xff not json",
        _ops(ReferralState.ACCEPTED, rid),
    )
    for _ in range(2):  # the same batch again, as after a crash before the offset commit
        await wired.broker.publish_batch(
            *batch, topic=OPS_EVENTS, headers=cloudevent(TYPE_OPS_EVENT)
        )
    assert sorted(state for _, state in wired.store.timeline.values()) == ["accepted", "delivered"]
    assert wired.units == 2, "one store unit per batch, not one per message"
    assert [(d["source_topic"], d["reason_code"]) for d in wired.dead] == [
        (OPS_EVENTS, "unparseable_json")
    ] * 2


async def test_a_batch_of_decisions_joins_each_timeline_once_and_letters_one_without_referral(
    wired: Wired, submission: ReferralSubmission
) -> None:
    first, second = await _stored(wired, submission), await _stored(wired, submission)
    await wired.broker.publish_batch(
        _decision(first),
        _decision(None),
        _decision(second),
        _decision(first),  # the same decision again
        topic=REFERRALS_DECIDED,
        headers=cloudevent(TYPE_DECIDED),
    )
    assert wired.store.timeline == {
        f"decided:{first}": (first, "decided"),
        f"decided:{second}": (second, "decided"),
    }
    assert wired.units == 1
    assert [d["reason_code"] for d in wired.dead] == ["decision_without_referral_id"]


async def test_a_store_failure_in_a_batch_is_raised_for_redelivery_not_dead_lettered(
    wired: Wired, submission: ReferralSubmission
) -> None:
    rid = await _stored(wired, submission)
    wired.store.down = True
    with pytest.raises(StoreDown):
        await wired.broker.publish_batch(
            _ops(ReferralState.DELIVERED, rid), topic=OPS_EVENTS, headers=cloudevent(TYPE_OPS_EVENT)
        )
    assert wired.dead == []


def test_the_timeline_subscribers_let_the_broker_fill_each_fetch() -> None:
    """Under load a fetch brings a batch, not the one event that arrived since the last one,
    and a quiet topic's event still arrives within FILL_WAIT_MS (FastStream keeps the
    consumer's settings in `_connection_args`)."""
    wiring = Wiring(
        accept=lambda *_a, **_k: None,  # type: ignore[arg-type]
        rejections=FakeStore,
        timeline=FakeStore,
        agency_known=FakeStore().agency_known,
        header_agencies=frozenset(),
        now=lambda: NOW,
    )
    broker = build_broker("127.0.0.1:1", wiring)
    timeline = {
        s.group_id: s._connection_args  # type: ignore[attr-defined]
        for s in broker.subscribers
        if s.group_id in {"intake-timeline", "intake-timeline-ops"}  # type: ignore[attr-defined]
    }
    assert set(timeline) == {"intake-timeline", "intake-timeline-ops"}
    for group, args in timeline.items():
        assert (args["fetch_min_bytes"], args["fetch_max_wait_ms"]) == (64 * 1024, 250), group
