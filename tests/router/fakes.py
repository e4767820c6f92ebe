"""Hand-written fakes of the router's seams, for handler and wiring tests.

`FakeDecisionStore` keeps the store's rules (`adapters/store.py`): the first decision stored for a
referral wins, and a decision is marked published once.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared import Decision, ReferralReceived


class StoreDown(Exception):
    """The fake database is unreachable."""


class FakeDecisionStore:
    """The router's DecisionRepository in a dict; `down` makes every call fail."""

    def __init__(self) -> None:
        self.decisions: dict[UUID, Decision] = {}
        self.published: dict[UUID, datetime] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreDown("database unreachable")

    async def find(self, referral_id: UUID) -> tuple[Decision, bool] | None:
        self._check()
        found = self.decisions.get(referral_id)
        return None if found is None else (found, referral_id in self.published)

    async def save(self, referral: ReferralReceived, decision: Decision) -> Decision:
        self._check()
        return self.decisions.setdefault(referral.referral_id, decision)

    async def mark_published(self, referral_id: UUID, at: datetime) -> None:
        self._check()
        self.published.setdefault(referral_id, at)
