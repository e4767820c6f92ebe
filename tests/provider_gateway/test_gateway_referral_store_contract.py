"""The referral store contract (referral_store_contract.py) against the fake and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import _AsyncGeneratorContextManager
from uuid import UUID

import asyncpg
import pytest

from services.provider_gateway.adapters.referral_store import ReferralStore, ReferralTx
from services.provider_gateway.bootstrap import MIGRATIONS
from services.provider_gateway.ports import ReferralUnits
from tests.provider_gateway.gateway_fakes import FakeReferralStore
from tests.provider_gateway.referral_store_contract import ReferralStoreContract, T
from tests.support.infra import migrated_pool, queued_events


class TestFakeReferralStore(ReferralStoreContract):
    @pytest.fixture
    def store(self) -> FakeReferralStore:
        return FakeReferralStore()

    async def queued(self, store: ReferralUnits, referral_id: UUID) -> list[tuple[str, str]]:
        assert isinstance(store, FakeReferralStore)
        return [(e.topic, e.event_id) for e in store.emitted if e.key == str(referral_id)]

    async def plant_erased(self, store: ReferralUnits, referral_id: UUID) -> None:
        assert isinstance(store, FakeReferralStore)
        store.erased.add(referral_id)


@pytest.mark.integration
class TestPostgresReferralStore(ReferralStoreContract):
    """The real store on the gateway's schema; each test's rows are deleted after it (before
    any gateway's relay could publish its outbox rows: none runs in this module)."""

    @pytest.fixture
    async def store(self, stack_env: dict[str, str]) -> AsyncIterator[ReferralStore]:
        async with migrated_pool(stack_env["GATEWAY_DATABASE_URL"], MIGRATIONS) as pool:
            self._pool = pool
            store = _Tracked(pool)
            try:
                yield store
            finally:
                await forget(pool, store.ids)

    async def queued(self, store: ReferralUnits, referral_id: UUID) -> list[tuple[str, str]]:
        return await queued_events(self._pool, str(referral_id))

    async def plant_erased(self, store: ReferralUnits, referral_id: UUID) -> None:
        assert isinstance(store, _Tracked)
        store.ids.append(referral_id)
        await self._pool.execute(
            "INSERT INTO erased_referrals (referral_id, erased_at, source_event_id)"
            " VALUES ($1, $2, gen_random_uuid())",
            referral_id,
            T,
        )


class _Tracked(ReferralStore):
    """The real store, noting every referral it opened, to delete their rows afterwards."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.ids: list[UUID] = []

    def referral(self, referral_id: UUID) -> _AsyncGeneratorContextManager[ReferralTx]:
        self.ids.append(referral_id)
        return super().referral(referral_id)


async def forget(pool: asyncpg.Pool, ids: list[UUID]) -> None:
    """Delete every row of these referrals (the fetch audit is append-only and never written)."""
    keys = [str(i) for i in ids]
    await pool.execute("DELETE FROM outbox WHERE message_key = ANY($1::text[])", keys)
    rounds = "(SELECT assignment_id FROM assignments WHERE referral_id = ANY($1::uuid[]))"
    for table in ("responses", "delivery_attempts", "deliveries"):
        await pool.execute(f"DELETE FROM {table} WHERE assignment_id IN {rounds}", ids)
    for table in ("assignments", "decisions", "referrals_received", "erased_referrals"):
        await pool.execute(f"DELETE FROM {table} WHERE referral_id = ANY($1::uuid[])", ids)
