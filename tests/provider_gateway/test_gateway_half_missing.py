"""Referrals with one half only (details without a decision, or the reverse): ops are told once."""

from __future__ import annotations

from uuid import UUID

import pytest

from services.provider_gateway.domain import SlaPolicy
from services.provider_gateway.handlers import (
    Context,
    check_half_missing,
    record_decision,
    record_received,
)
from shared import OpsAlert, Provider
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event


@pytest.fixture
def ctx() -> Context:
    return Context(sla=SlaPolicy(), channels=dict.fromkeys(Provider, ("kafka",)), now=lambda: T0)


@pytest.fixture
def store() -> FakeReferralStore:
    return FakeReferralStore()


async def check(store: FakeReferralStore, ctx: Context, rid: UUID) -> int:
    async with store.referral(rid) as tx:
        return await check_half_missing(tx, rid, ctx)


def alerts(store: FakeReferralStore) -> list[OpsAlert]:
    return store.of_topic("ops.alerts.v1")


async def test_a_decision_without_its_referral_alerts_once_naming_the_missing_half(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        await record_decision(tx, decision_for(referral_id, "juno"), ctx)
    assert await check(store, ctx, referral_id) == 1
    assert await check(store, ctx, referral_id) == 0
    (alert,) = alerts(store)
    assert (alert.kind.value, alert.reason_code, alert.severity) == (
        "referral_half_missing",
        "referral_missing",
        "warning",
    )
    assert (alert.referral_id, alert.provider) == (referral_id, Provider.JUNO)


async def test_an_urgent_decision_without_its_referral_is_critical(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        await record_decision(tx, decision_for(referral_id, "nwa", priority="urgent"), ctx)
    await check(store, ctx, referral_id)
    assert alerts(store)[0].severity == "critical"


async def test_a_referral_nobody_decided_alerts_with_no_provider(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        await record_received(tx, received_event(referral_id), ctx)
    assert await check(store, ctx, referral_id) == 1
    (alert,) = alerts(store)
    assert (alert.reason_code, alert.provider) == ("decision_missing", None)
    assert "Sam Example" not in alert.model_dump_json()


async def test_a_referral_whose_other_half_arrived_meanwhile_raises_nothing(
    store: FakeReferralStore, ctx: Context, referral_id: UUID
) -> None:
    async with store.referral(referral_id) as tx:
        await record_received(tx, received_event(referral_id), ctx)
        await record_decision(tx, decision_for(referral_id, "juno"), ctx)
    assert await check(store, ctx, referral_id) == 0
    assert alerts(store) == []
