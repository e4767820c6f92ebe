"""One contract for the router's store port (`ports.DecisionUnits`), run against the fake and the
real PostgreSQL store, so the fake the handler and wiring tests use cannot drift from the real one.

Rules shown here (adapters/store.py, kept by tests/router/fakes.py too): a referral has one
decision, the first saved (a second save stores nothing and says so); what a transaction saves,
marks and queues is kept together when it ends and dropped together when it raises; a decision
stored before the outbox (events not queued) is marked queued once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import _AsyncGeneratorContextManager
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest

from services.router.adapters.store import DecisionStore, DecisionTx
from services.router.bootstrap import MIGRATIONS
from services.router.engine import CachedRules, Router
from services.router.ports import DecisionUnits, Stored
from shared import Decision, ReferralReceived
from shared.cloudevents import TYPE_DECIDED
from shared.topics import REFERRALS_DECIDED
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.fakes import FakeDecisionStore
from tests.support.infra import migrated_pool, queued_events

T1 = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


class DecisionStoreContract:
    """The tests; each subclass provides `store` and reads what it queued and planted."""

    async def queued(self, store: DecisionUnits, referral_id: UUID) -> list[tuple[str, str]]:
        raise NotImplementedError

    async def plant_unpublished(
        self, store: DecisionUnits, referral: ReferralReceived, decision: Decision
    ) -> None:
        raise NotImplementedError

    @pytest.fixture
    def decision_of(self, rules: CachedRules, directory: FakeDirectory) -> Router:
        return Router(rules, directory)

    async def test_a_referral_without_a_decision_has_none_stored(
        self, store: DecisionUnits, make_received: MakeReceived
    ) -> None:
        referral = make_received()
        async with store.referral(referral.referral_id) as tx:
            assert await tx.stored() is None

    async def test_the_first_decision_saved_is_kept_and_a_second_is_refused(
        self, store: DecisionUnits, make_received: MakeReceived, decision_of: Router
    ) -> None:
        referral = make_received()
        first = decision_of(referral).model_copy(update={"decided_at": T1})
        other = decision_of(make_received(victim__gender="male")).model_copy(
            update={"referral_id": referral.referral_id}
        )
        async with store.referral(referral.referral_id) as tx:
            assert await tx.save(referral, first)
        async with store.referral(referral.referral_id) as tx:
            assert not await tx.save(referral, other)
            assert await tx.stored() == Stored(first, events_queued=True)

    async def test_what_a_transaction_saves_and_queues_is_kept_together(
        self, store: DecisionUnits, make_received: MakeReceived, decision_of: Router
    ) -> None:
        referral = make_received()
        decision = decision_of(referral).model_copy(update={"decided_at": T1})
        rid = str(referral.referral_id)
        async with store.referral(referral.referral_id) as tx:
            await tx.save(referral, decision)
            await tx.emit(
                decision,
                topic=REFERRALS_DECIDED,
                key=rid,
                ce_type=TYPE_DECIDED,
                event_id=f"decided:{rid}",
                at=T1,
            )
        assert await self.queued(store, referral.referral_id) == [
            (REFERRALS_DECIDED, f"decided:{rid}")
        ]

    async def test_a_transaction_that_raises_keeps_neither_the_decision_nor_its_events(
        self, store: DecisionUnits, make_received: MakeReceived, decision_of: Router
    ) -> None:
        referral = make_received()
        decision = decision_of(referral).model_copy(update={"decided_at": T1})
        with pytest.raises(Boom):
            await _save_queue_and_raise(store, referral, decision)
        async with store.referral(referral.referral_id) as tx:
            assert await tx.stored() is None
        assert await self.queued(store, referral.referral_id) == []

    async def test_a_decision_stored_before_the_outbox_is_marked_queued_once(
        self, store: DecisionUnits, make_received: MakeReceived, decision_of: Router
    ) -> None:
        referral = make_received()
        decision = decision_of(referral).model_copy(update={"decided_at": T1})
        await self.plant_unpublished(store, referral, decision)
        async with store.referral(referral.referral_id) as tx:
            assert await tx.stored() == Stored(decision, events_queued=False)
            assert await tx.mark_queued()
            assert not await tx.mark_queued()
        async with store.referral(referral.referral_id) as tx:
            assert await tx.stored() == Stored(decision, events_queued=True)
            assert not await tx.mark_queued()


async def _save_queue_and_raise(
    store: DecisionUnits, referral: ReferralReceived, decision: Decision
) -> None:
    async with store.referral(referral.referral_id) as tx:
        await tx.save(referral, decision)
        await tx.emit(
            decision,
            topic=REFERRALS_DECIDED,
            key=str(referral.referral_id),
            ce_type=TYPE_DECIDED,
            event_id=f"decided:{referral.referral_id}",
            at=T1,
        )
        raise Boom


class TestFakeDecisionStore(DecisionStoreContract):
    @pytest.fixture
    def store(self) -> FakeDecisionStore:
        return FakeDecisionStore()

    async def queued(self, store: DecisionUnits, referral_id: UUID) -> list[tuple[str, str]]:
        assert isinstance(store, FakeDecisionStore)
        return [(m.topic, m.headers["ce_id"]) for m in store.outbox if m.key == str(referral_id)]

    async def plant_unpublished(
        self, store: DecisionUnits, referral: ReferralReceived, decision: Decision
    ) -> None:
        assert isinstance(store, FakeDecisionStore)
        store.decisions[referral.referral_id] = Stored(decision, events_queued=False)


@pytest.mark.integration
class TestPostgresDecisionStore(DecisionStoreContract):
    """The real store on the router's schema; each test's rows are deleted after it, so no
    router's relay ever publishes them."""

    @pytest.fixture
    async def store(self, stack_env: dict[str, str]) -> AsyncIterator[DecisionStore]:
        async with migrated_pool(stack_env["ROUTER_DATABASE_URL"], MIGRATIONS) as pool:
            self._pool = pool
            store = _Tracked(pool)
            try:
                yield store
            finally:
                await _forget(pool, store.ids)

    async def queued(self, store: DecisionUnits, referral_id: UUID) -> list[tuple[str, str]]:
        return await queued_events(self._pool, str(referral_id))

    async def plant_unpublished(
        self, store: DecisionUnits, referral: ReferralReceived, decision: Decision
    ) -> None:
        async with store.referral(referral.referral_id) as tx:
            await tx.save(referral, decision)
        # As migration 0003 leaves a decision the old router stored and never published.
        await self._pool.execute(
            "UPDATE decisions SET events_queued = false WHERE referral_id = $1",
            referral.referral_id,
        )


class _Tracked(DecisionStore):
    """The real store, noting every referral it opened, to delete their rows afterwards."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.ids: list[UUID] = []

    def referral(self, referral_id: UUID) -> _AsyncGeneratorContextManager[DecisionTx]:
        self.ids.append(referral_id)
        return super().referral(referral_id)


async def _forget(pool: asyncpg.Pool, ids: list[UUID]) -> None:
    await pool.execute(
        "DELETE FROM outbox WHERE message_key = ANY($1::text[])", [str(i) for i in ids]
    )
    await pool.execute("DELETE FROM decisions WHERE referral_id = ANY($1::uuid[])", ids)
