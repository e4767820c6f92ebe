"""One contract for the gateway's referral store port (`ports.ReferralUnits`), run against the
fake (gateway_fakes.FakeReferralStore) and the PostgreSQL store (adapters.referral_store) by
test_gateway_referral_store_contract.py, so the fake the handler tests use cannot drift.

Rules shown here: each half of a referral is kept once (the first saved), and none once the
referral is erased; rounds come back in order with their bodies; superseding, deadlines and
answers are stamped on their round; an answer is known by its status; a half-missing alert is
marked once per stored half, never for a referral with neither; what a transaction writes and
queues is kept together when it ends and dropped together when it raises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.provider_gateway.domain import Reason, State, first_assignment, next_round
from services.provider_gateway.ports import AssignmentRow, Emitter, ReferralUnits
from shared import (
    Assignment,
    OpsEvent,
    ProviderResponse,
    ReferralState,
    ResponseStatus,
    Service,
)
from shared.cloudevents import TYPE_OPS_EVENT
from shared.topics import OPS_EVENTS
from tests.provider_gateway.gateway_samples import decision_for, received_event

# Before any other test's rows, so `overdue` (which reads the whole table) sees this suite's.
T = datetime(1999, 6, 1, 9, tzinfo=UTC)
DUE = T + timedelta(days=2)


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


def round_one(referral_id: UUID) -> Assignment:
    body = first_assignment(received_event(referral_id, T), decision_for(referral_id, at=T), T)
    assert body is not None
    return body


def row_of(body: Assignment, round_no: int, **changes: object) -> AssignmentRow:
    fields: dict[str, object] = {
        "assignment_id": body.assignment_id,
        "referral_id": body.referral_id,
        "round": round_no,
        "provider": body.provider,
        "reason": body.reason,
        "priority": body.decision.priority,
        "pathway": body.decision.pathway,
        "state": State.ASSIGNED,
        "created_at": body.assigned_at,
        "sla_due_at": DUE,
        "delivered_at": None,
        "overdue_at": None,
        "superseded_at": None,
    }
    return AssignmentRow(**(fields | changes))  # type: ignore[arg-type]


class ReferralStoreContract:
    """The tests; each subclass provides the `store` fixture and the two hooks below."""

    async def queued(self, store: ReferralUnits, referral_id: UUID) -> list[tuple[str, str]]:
        """(topic, event id) of each event queued under the referral's key, in order."""
        raise NotImplementedError

    async def plant_erased(self, store: ReferralUnits, referral_id: UUID) -> None:
        """Record the referral as erased (as the erasure store does)."""
        raise NotImplementedError

    async def test_a_new_referral_has_no_halves_and_no_rounds(self, store: ReferralUnits) -> None:
        async with store.referral(uuid4()) as tx:
            assert (await tx.received(), await tx.decision(), await tx.assignments()) == (
                None,
                None,
                [],
            )

    async def test_each_half_is_kept_once_and_the_first_saved_wins(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        received, decision = received_event(rid, T), decision_for(rid, at=T)
        async with store.referral(rid) as tx:
            assert await tx.save_received(received)
            assert await tx.save_decision(decision)
        async with store.referral(rid) as tx:
            assert not await tx.save_received(received_event(rid, T + timedelta(hours=1)))
            assert not await tx.save_decision(decision_for(rid, "nwa", at=T))
            assert (await tx.received(), await tx.decision()) == (received, decision)

    async def test_details_arriving_after_an_erasure_are_not_kept(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        await self.plant_erased(store, rid)
        async with store.referral(rid) as tx:
            assert not await tx.save_received(received_event(rid, T))
            assert await tx.received() is None

    async def test_rounds_come_back_in_order_with_their_bodies(self, store: ReferralUnits) -> None:
        rid = uuid4()
        one = round_one(rid)
        two = next_round(one, 2, Reason.DECLINED, T + timedelta(hours=1))
        async with store.referral(rid) as tx:
            await tx.add_assignment(two, round_no=2, sla_due_at=DUE, channels=("kafka",))
            await tx.add_assignment(one, round_no=1, sla_due_at=DUE, channels=("webhook",))
        async with store.referral(rid) as tx:
            assert await tx.assignments() == [row_of(one, 1), row_of(two, 2)]
            assert (await tx.body(one.assignment_id), await tx.body(two.assignment_id)) == (
                one,
                two,
            )

    async def test_superseding_and_a_passed_deadline_are_stamped_on_the_round(
        self, store: ReferralUnits
    ) -> None:
        rid, late = uuid4(), T + timedelta(days=3)
        one = round_one(rid)
        async with store.referral(rid) as tx:
            await tx.add_assignment(one, round_no=1, sla_due_at=DUE, channels=("kafka",))
            await tx.mark_overdue(one.assignment_id, late)
            await tx.supersede(one.assignment_id, late)
        async with store.referral(rid) as tx:
            assert await tx.assignments() == [row_of(one, 1, overdue_at=late, superseded_at=late)]

    async def test_an_answer_moves_its_round_and_is_known_by_its_status(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        one = round_one(rid)
        accepted = ProviderResponse(
            referral_id=rid, provider=one.provider, status=ResponseStatus.ACCEPTED, at=T
        )
        contacted = accepted.model_copy(update={"status": ResponseStatus.CONTACTED})
        async with store.referral(rid) as tx:
            await tx.add_assignment(one, round_no=1, sla_due_at=DUE, channels=("kafka",))
            assert not await tx.has_response(one.assignment_id, accepted)
            await tx.save_response(
                one.assignment_id, accepted, channel="http", state=State.ACCEPTED
            )
        async with store.referral(rid) as tx:
            assert await tx.has_response(one.assignment_id, accepted)
            assert not await tx.has_response(one.assignment_id, contacted)
            assert [r.state for r in await tx.assignments()] == [State.ACCEPTED]

    async def test_a_half_missing_alert_is_marked_once_per_stored_half(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        async with store.referral(rid) as tx:
            assert not await tx.mark_half_alerted(T)  # neither half: nothing to mark
            await tx.save_received(received_event(rid, T))
            assert await tx.mark_half_alerted(T)
            assert not await tx.mark_half_alerted(T)
            await tx.save_decision(decision_for(rid, at=T))
            assert await tx.mark_half_alerted(T)  # the half that came later
            assert not await tx.mark_half_alerted(T)

    async def test_what_a_transaction_writes_and_queues_is_kept_together(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        async with store.referral(rid) as tx:
            await tx.save_received(received_event(rid, T))
            await _queue(tx, rid, "first")
            await _queue(tx, rid, "second")
        assert await self.queued(store, rid) == [(OPS_EVENTS, "first"), (OPS_EVENTS, "second")]
        async with store.referral(rid) as tx:
            assert await tx.received() is not None

    async def test_a_transaction_that_raises_keeps_nothing_it_wrote_or_queued(
        self, store: ReferralUnits
    ) -> None:
        rid = uuid4()
        one = round_one(rid)
        with pytest.raises(Boom):
            await _write_and_raise(store, rid, one)
        async with store.referral(rid) as tx:
            assert (await tx.decision(), await tx.assignments()) == (None, [])
        assert await self.queued(store, rid) == []


async def _write_and_raise(store: ReferralUnits, rid: UUID, one: Assignment) -> None:
    async with store.referral(rid) as tx:
        await tx.save_decision(decision_for(rid, at=T))
        await tx.add_assignment(one, round_no=1, sla_due_at=DUE, channels=("kafka",))
        await _queue(tx, rid, "lost")
        raise Boom


async def _queue(tx: Emitter, referral_id: UUID, event_id: str) -> None:
    event = OpsEvent(
        event_id=uuid4(),
        at=T,
        service=Service.PROVIDER_GATEWAY,
        state=ReferralState.OVERDUE,
        referral_id=referral_id,
    )
    key = str(referral_id)
    await tx.emit(event, topic=OPS_EVENTS, key=key, ce_type=TYPE_OPS_EVENT, event_id=event_id, at=T)
