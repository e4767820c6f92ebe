"""The gateway's handlers against in-memory fakes: assign once, answer, re-route, escalate."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from services.provider_gateway.domain import (
    InvalidTransition,
    NotCurrentAssignment,
    State,
)
from services.provider_gateway.handlers import (
    Context,
    record_decision,
    record_received,
)
from shared import OpsAlert, Provider
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event
from tests.provider_gateway.handler_support import answer, assign, respond


async def test_decision_then_details_makes_one_assignment(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        assert await record_decision(tx, decision_for(referral_id), ctx) is None
    async with store.referral(referral_id) as tx:
        made = await record_received(tx, received_event(referral_id), ctx)
    assert made is not None
    assert made.assignment_id == f"asg_{referral_id}_1"
    assert list(store.rows) == [made.assignment_id]
    assert store.channels[made.assignment_id] == ("webhook", "kafka")


async def test_details_then_decision_makes_one_assignment(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        assert await record_received(tx, received_event(referral_id), ctx) is None
    async with store.referral(referral_id) as tx:
        made = await record_decision(tx, decision_for(referral_id), ctx)
    assert made is not None
    assert len(store.rows) == 1


async def test_a_redelivered_decision_makes_no_second_assignment(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id)
    async with store.referral(referral_id) as tx:
        assert await record_decision(tx, decision_for(referral_id, "nwa"), ctx) is None
    async with store.referral(referral_id) as tx:
        assert await record_received(tx, received_event(referral_id), ctx) is None
    assert len(store.rows) == 1


async def test_out_of_area_makes_no_assignment(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        await record_received(tx, received_event(referral_id), ctx)
    async with store.referral(referral_id) as tx:
        decision = decision_for(referral_id, None, pathway="out_of_area")
        assert await record_decision(tx, decision, ctx) is None
    assert store.rows == {}


async def test_the_deadline_follows_the_priority(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, priority="urgent")
    (row,) = store.rows.values()
    assert row.sla_due_at == T0 + timedelta(hours=4)


async def test_acceptance_is_recorded_and_reported(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id)
    answered = await respond(store, ctx, answer(referral_id, "juno", "accepted"))
    assert answered.state is State.ACCEPTED
    assert store.states() == ["accepted"]
    assert store.of_topic("assignments.responses.v1") == []


async def test_an_http_answer_is_echoed_on_the_responses_topic(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id)
    await respond(store, ctx, answer(referral_id, "juno", "accepted"), channel="http")
    (echo,) = store.of_topic("assignments.responses.v1")
    assert echo.assignment_id == f"asg_{referral_id}_1"


async def test_the_same_answer_twice_is_a_duplicate(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id)
    await respond(store, ctx, answer(referral_id, "juno", "accepted"))
    again = await respond(store, ctx, answer(referral_id, "juno", "accepted"))
    assert again.duplicate is True
    assert store.states() == ["accepted"]


async def test_a_provider_cannot_answer_for_another_providers_assignment(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "juno")
    with pytest.raises(NotCurrentAssignment):
        await respond(store, ctx, answer(referral_id, "equation", "accepted"))


async def test_an_answer_cannot_undo_a_decline(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "nwa")
    await respond(store, ctx, answer(referral_id, "nwa", "declined"))
    with pytest.raises(InvalidTransition):
        await respond(store, ctx, answer(referral_id, "nwa", "accepted"))


async def test_a_decline_reroutes_to_the_lead_provider_in_a_new_round(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "equation")
    answered = await respond(store, ctx, answer(referral_id, "equation", "declined"))
    second = f"asg_{referral_id}_2"
    assert answered.next_assignment_id == second
    first = store.rows[f"asg_{referral_id}_1"]
    assert first.superseded_at is not None
    assert (store.rows[second].provider, store.rows[second].reason) == (
        Provider.NWA,
        "reroute_declined",
    )
    assert store.bodies[second].referral == store.bodies[first.assignment_id].referral
    assert store.states() == ["declined", "rerouted"]


async def test_the_old_provider_cannot_answer_after_the_reroute(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "equation")
    await respond(store, ctx, answer(referral_id, "equation", "declined"))
    with pytest.raises(NotCurrentAssignment):
        await respond(store, ctx, answer(referral_id, "equation", "accepted"))
    again = await respond(store, ctx, answer(referral_id, "equation", "declined"))
    assert again.duplicate is True


async def test_a_decline_by_the_lead_provider_alerts_a_person(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "nwa")
    answered = await respond(store, ctx, answer(referral_id, "nwa", "declined"))
    assert answered.next_assignment_id is None
    (alert,) = store.of_topic("ops.alerts.v1")
    assert isinstance(alert, OpsAlert)
    assert (alert.kind.value, alert.severity) == ("declined_by_lead", "critical")
    assert len(store.rows) == 1
