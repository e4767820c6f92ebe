"""Hand-written fakes of the router's seams, for handler and wiring tests.

`FakeDecisionStore` keeps the store's rules (`adapters/store.py`, checked against it by
`test_router_store_contract.py`): one decision per referral, the first stored wins; a
transaction's decision, marks and outbox rows are kept if it ends and dropped if it raises; the
outbox rows are the messages the real store would queue (built by the same function), recorded
by the fakes' shared `emit` (`tests/support/emits.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from services.common.outbox import OutboxMessage
from services.router.ports import Stored
from shared import Decision, ReferralReceived, Service
from tests.support.emits import Emitted, RecordsEmits


class StoreDown(Exception):
    """The fake database is unreachable."""


@dataclass
class FakeDecisionStore:
    """The router's `DecisionUnits` in dicts; `down` makes every call fail."""

    decisions: dict[UUID, Stored] = field(default_factory=dict)
    referrals_kept: dict[UUID, ReferralReceived] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    down: bool = False

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[FakeDecisionTx]:
        if self.down:
            raise StoreDown("database unreachable")
        tx = FakeDecisionTx(self, referral_id)
        yield tx  # an exception in the block skips the commit below: nothing is kept
        tx.commit()

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[FakeBatchTx]:
        if self.down:
            raise StoreDown("database unreachable")
        tx = FakeBatchTx(self)
        yield tx  # as `referral`: nothing of the batch is kept if the block raises
        tx.commit()

    def take_outbox(self) -> list[OutboxMessage]:
        """The queued messages, removed (as the relay marks them sent)."""
        taken, self.outbox = self.outbox, []
        return taken


class FakeDecisionTx(RecordsEmits):
    """One referral's transaction: changes staged, applied on commit."""

    def __init__(self, store: FakeDecisionStore, referral_id: UUID) -> None:
        self._store = store
        self.referral_id = referral_id
        self._decision: Stored | None = None
        self._referral: ReferralReceived | None = None
        self._queued: list[OutboxMessage] = []

    def _current(self) -> Stored | None:
        return self._decision or self._store.decisions.get(self.referral_id)

    async def stored(self) -> Stored | None:
        return self._current()

    async def save(self, referral: ReferralReceived, decision: Decision) -> bool:
        if self._current() is not None:
            return False
        self._decision, self._referral = Stored(decision, events_queued=True), referral
        return True

    async def mark_queued(self) -> bool:
        current = self._current()
        if current is None or current.events_queued:
            return False
        self._decision = Stored(current.decision, events_queued=True)
        return True

    def _recorded(self, emitted: Emitted) -> None:
        self._queued.append(emitted.message(Service.ROUTER))

    def commit(self) -> None:
        if self._decision is not None:
            self._store.decisions[self.referral_id] = self._decision
        if self._referral is not None:
            self._store.referrals_kept[self.referral_id] = self._referral
        self._store.outbox.extend(self._queued)


class FakeBatchTx(RecordsEmits):
    """A batch's transaction: one referral's staged changes per referral, applied together."""

    def __init__(self, store: FakeDecisionStore) -> None:
        self._store = store
        self._units: dict[UUID, FakeDecisionTx] = {}
        self._queued = FakeDecisionTx(store, UUID(int=0))  # the batch's own emits
        self.save_all_calls = 0

    def unit(self, referral_id: UUID) -> FakeDecisionTx:
        return self._units.setdefault(referral_id, FakeDecisionTx(self._store, referral_id))

    async def save_all(self, decided: Sequence[tuple[ReferralReceived, Decision]]) -> set[UUID]:
        self.save_all_calls += 1
        return {r.referral_id for r, d in decided if await self.unit(r.referral_id).save(r, d)}

    def _recorded(self, emitted: Emitted) -> None:
        self._queued._recorded(emitted)

    def commit(self) -> None:
        for unit in self._units.values():
            unit.commit()
        self._queued.commit()
