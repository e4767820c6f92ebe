"""Helpers of the referral handler tests: a settable clock, assigning and answering on the fake store."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.provider_gateway.handlers import (
    Answered,
    Context,
    record_decision,
    record_received,
    record_response,
)
from shared import ProviderResponse
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def assign(
    store: FakeReferralStore,
    ctx: Context,
    rid: UUID,
    provider: str = "juno",
    priority: str = "standard",
) -> None:
    async with store.referral(rid) as tx:
        await record_decision(tx, decision_for(rid, provider, priority=priority), ctx)
    async with store.referral(rid) as tx:
        await record_received(tx, received_event(rid), ctx)


def answer(
    rid: UUID, provider: str, status: str, assignment_id: str | None = None
) -> ProviderResponse:
    return ProviderResponse.model_validate(
        {
            "referral_id": rid,
            "provider": provider,
            "status": status,
            "at": T0,
            "assignment_id": assignment_id,
        }
    )


async def respond(
    store: FakeReferralStore, ctx: Context, response: ProviderResponse, channel: str = "kafka"
) -> Answered:
    async with store.referral(response.referral_id) as tx:
        return await record_response(tx, response, channel=channel, ctx=ctx)
