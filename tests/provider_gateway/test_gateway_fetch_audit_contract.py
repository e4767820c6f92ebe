"""One contract for the providers' fetch audit port (`fetch_api.FetchAudit`), run against the fake
(gateway_fakes.FakeFetchAudit) and the PostgreSQL store (adapters.erasure_store.ErasureStore).

Rules shown here: a referral never erased has no erasure time, an erased one the time intake
erased it; every fetch is audited (referral, provider, HTTP status), each one, in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest

from services.common.db import apply_migrations, create_pool
from services.provider_gateway.adapters.erasure_store import ErasureStore
from services.provider_gateway.bootstrap import MIGRATIONS
from services.provider_gateway.fetch_api import FetchAudit
from shared import Provider
from tests.provider_gateway.gateway_fakes import FakeFetchAudit
from tests.provider_gateway.gateway_samples import T0
from tests.provider_gateway.test_gateway_referral_store_contract import forget


class FetchAuditContract:
    """The tests; each subclass provides `audit` and the two hooks below."""

    async def plant_erased(self, audit: FetchAudit, referral_id: UUID) -> None:
        raise NotImplementedError

    async def audited(self, audit: FetchAudit, referral_id: UUID) -> list[tuple[str, int]]:
        """(provider, status) of each audited fetch of the referral, oldest first."""
        raise NotImplementedError

    async def test_a_referral_never_erased_has_no_erasure_time(self, audit: FetchAudit) -> None:
        assert await audit.erased_at(uuid4()) is None

    async def test_an_erased_referral_has_the_time_it_was_erased(self, audit: FetchAudit) -> None:
        rid = uuid4()
        await self.plant_erased(audit, rid)
        assert await audit.erased_at(rid) == T0

    async def test_every_fetch_is_audited_in_order(self, audit: FetchAudit) -> None:
        rid = uuid4()
        await audit.audit_fetch(rid, Provider.JUNO, T0, 200)
        await audit.audit_fetch(rid, Provider.NWA, T0, 403)
        await audit.audit_fetch(rid, Provider.JUNO, T0, 200)
        assert await self.audited(audit, rid) == [("juno", 200), ("nwa", 403), ("juno", 200)]


class TestFakeFetchAudit(FetchAuditContract):
    @pytest.fixture
    def audit(self) -> FakeFetchAudit:
        return FakeFetchAudit()

    async def plant_erased(self, audit: FetchAudit, referral_id: UUID) -> None:
        assert isinstance(audit, FakeFetchAudit)
        audit.erased[referral_id] = T0

    async def audited(self, audit: FetchAudit, referral_id: UUID) -> list[tuple[str, int]]:
        assert isinstance(audit, FakeFetchAudit)
        return [(p, s) for r, p, s in audit.fetches if r == referral_id]


@pytest.mark.integration
class TestPostgresFetchAudit(FetchAuditContract):
    """The real store on the gateway's schema; erasures are deleted after each test (the audit
    is append-only: its rows, which name no person, stay)."""

    @pytest.fixture
    async def audit(self, stack_env: dict[str, str]) -> AsyncIterator[ErasureStore]:
        pool = await create_pool(stack_env["GATEWAY_DATABASE_URL"], max_size=2)
        await apply_migrations(pool, MIGRATIONS)
        self._pool, self._ids = pool, list[UUID]()
        try:
            yield ErasureStore(pool)
        finally:
            await forget(pool, self._ids)
            await pool.close()

    async def plant_erased(self, audit: FetchAudit, referral_id: UUID) -> None:
        self._ids.append(referral_id)
        async with ErasureStore(self._pool).referral(referral_id) as tx:
            assert await tx.record(T0, uuid4())

    async def audited(self, audit: FetchAudit, referral_id: UUID) -> list[tuple[str, int]]:
        rows = await self._pool.fetch(
            "SELECT provider, status FROM assignment_fetches WHERE referral_id = $1"
            " ORDER BY fetch_id",
            referral_id,
        )
        return [(r["provider"], r["status"]) for r in rows]
