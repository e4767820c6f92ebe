"""Escalation (handlers.check_overdue) on the fake store: a passed acceptance deadline is
escalated to the lead provider once, an accepted assignment never; ops events carry no personal
data."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from services.provider_gateway.handlers import (
    Context,
    check_overdue,
)
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0
from tests.provider_gateway.handler_support import Clock, answer, assign, respond


async def test_nothing_is_overdue_before_the_deadline(
    store: FakeReferralStore, ctx: Context, clock: Clock, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "juno", priority="urgent")
    clock.now = T0 + timedelta(hours=3, minutes=59)
    async with store.referral(referral_id) as tx:
        assert await check_overdue(tx, ctx) == 0


async def test_an_overdue_assignment_is_escalated_to_the_lead_provider_once(
    store: FakeReferralStore, ctx: Context, clock: Clock, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "juno", priority="urgent")
    clock.now = T0 + timedelta(hours=4)
    async with store.referral(referral_id) as tx:
        assert await check_overdue(tx, ctx) == 1
    async with store.referral(referral_id) as tx:
        assert await check_overdue(tx, ctx) == 0
    assert store.states() == ["overdue", "rerouted"]
    escalated = store.rows[f"asg_{referral_id}_2"]
    assert (escalated.provider, escalated.reason) == (Provider.NWA, "sla_escalation")
    (alert,) = store.of_topic("ops.alerts.v1")
    assert (alert.kind.value, alert.severity) == ("sla_breached", "warning")
    # The lead provider's own round then misses its deadline: an alert, no further escalation.
    clock.now = escalated.sla_due_at
    async with store.referral(referral_id) as tx:
        assert await check_overdue(tx, ctx) == 1
    assert len(store.rows) == 2
    assert [a.severity for a in store.of_topic("ops.alerts.v1")] == ["warning", "critical"]


async def test_an_accepted_assignment_is_never_overdue(
    store: FakeReferralStore, ctx: Context, clock: Clock, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "juno", priority="urgent")
    await respond(store, ctx, answer(referral_id, "juno", "accepted"))
    clock.now = T0 + timedelta(days=3)
    async with store.referral(referral_id) as tx:
        assert await check_overdue(tx, ctx) == 0


async def test_ops_events_carry_no_personal_data(
    store: FakeReferralStore, ctx: Context, clock: Clock, referral_id: UUID
) -> None:
    await assign(store, ctx, referral_id, "equation", priority="urgent")
    await respond(store, ctx, answer(referral_id, "equation", "declined"), channel="http")
    clock.now = T0 + timedelta(days=1)
    async with store.referral(referral_id) as tx:
        await check_overdue(tx, ctx)
    ops = [e for e in store.emitted if e.topic.startswith("ops.")]
    assert ops
    for emitted in ops:
        text = emitted.event.model_dump_json()
        for personal in ("Sam Example", "NG7 2AH", "07700900123", "police.example", "capacity"):
            assert personal not in text
