"""The seams between the router's use case and its adapters.

The use case (`handlers`) depends on these protocols only; the asyncpg store
(`adapters.store`) and the tests' in-memory fake implement them. Values crossing a seam are
frozen. `Decide` is the routing policy bound to the rules and postcodes in force
(`engine.load_decider`): the one input the policy reads is a `ReferralReceived`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from services.common.outbox_tx import Emitter  # the seam every store transaction offers
from shared import Decision, ReferralReceived

__all__ = ["Decide", "DecisionBatch", "DecisionUnit", "DecisionUnits", "Emitter", "Stored"]

Decide = Callable[[ReferralReceived], Decision]


@dataclass(frozen=True)
class Stored:
    """A referral's stored decision, and whether its events are in the outbox."""

    decision: Decision
    events_queued: bool


class DecisionUnit(Emitter, Protocol):
    """One referral's transaction: its decision and the events that announce it."""

    async def stored(self) -> Stored | None: ...

    async def save(self, referral: ReferralReceived, decision: Decision) -> bool:
        """Store the decision with its referral; False if the referral already has one."""
        ...

    async def mark_queued(self) -> bool:
        """Note that the stored decision's events are queued; False if they already were."""
        ...


class DecisionBatch(Emitter, Protocol):
    """One transaction for a batch of referrals: their decisions and the events announcing them."""

    async def save_all(self, decided: Sequence[tuple[ReferralReceived, Decision]]) -> set[UUID]:
        """Store each decision with its referral; the ids stored now (the others had one)."""
        ...

    def unit(self, referral_id: UUID) -> DecisionUnit:
        """One referral's part of this transaction (to recall a decision stored before)."""
        ...


class DecisionUnits(Protocol):
    """Opens one referral's transaction, or a batch's (see adapters.store.DecisionStore)."""

    def referral(self, referral_id: UUID) -> AbstractAsyncContextManager[DecisionUnit]: ...

    def batch(self) -> AbstractAsyncContextManager[DecisionBatch]: ...
