"""Router's use case: decide a received referral once, store it, publish it.

The decision is stored before it is published and the stored one is what gets published,
so a redelivered referral (after a crash or rebalance) republishes the same decision with
the same CloudEvent id (`decided:<referral_id>`), which downstream consumers dedupe on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared import Decision, ReferralReceived

Decide = Callable[[ReferralReceived], Decision]
PublishDecision = Callable[[Decision], Awaitable[None]]


class DecisionRepository(Protocol):
    async def find(self, referral_id: UUID) -> tuple[Decision, bool] | None: ...

    async def save(self, referral: ReferralReceived, decision: Decision) -> Decision: ...

    async def mark_published(self, referral_id: UUID, at: datetime) -> None: ...


async def handle_received(
    referral: ReferralReceived,
    *,
    store: DecisionRepository,
    decide: Decide,
    publish: PublishDecision,
    now: Callable[[], datetime],
) -> tuple[Decision, bool]:
    """Decide (or recall) and publish; returns the decision and whether it was new."""
    existing = await store.find(referral.referral_id)
    if existing is not None:
        decision, published = existing
        if not published:
            await publish(decision)
            await store.mark_published(referral.referral_id, now())
        return decision, False
    decision = decide(referral).model_copy(update={"decided_at": now()})
    decision = await store.save(referral, decision)
    await publish(decision)
    await store.mark_published(referral.referral_id, now())
    return decision, True
