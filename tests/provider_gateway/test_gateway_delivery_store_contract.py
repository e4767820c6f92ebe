"""One contract for the gateway's attempt-recording port (`ports.DeliveryUnits`), run against the
fake (delivery_fakes.FakeRecorder) and the PostgreSQL store (adapters.delivery_store), so the
fake the delivery handler tests use cannot drift.

Rules shown here: an assignment is marked delivered once (the first channel); an endpoint is
disabled once; a delivery that ended delivered or failed takes no second outcome (a late
duplicate worker records nothing); what a transaction writes and queues is dropped together
when it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.provider_gateway.adapters.delivery_store import DeliveryStore
from services.provider_gateway.adapters.referral_store import ReferralStore
from services.provider_gateway.bootstrap import MIGRATIONS
from services.provider_gateway.domain import Delivered, GiveUp, Outcome, first_assignment
from services.provider_gateway.ports import AttemptResult, Claimed, DeliveryUnits
from shared import Provider
from tests.provider_gateway.delivery_fakes import FakeRecorder, claimed
from tests.provider_gateway.gateway_samples import T0, decision_for, received_event
from tests.provider_gateway.test_gateway_referral_store_contract import forget

OK = AttemptResult(Outcome.DELIVERED, 204, 5.0)


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


class DeliveryStoreContract:
    """The tests; each subclass provides `store`, `plant` (a claimed delivery) and `queued`."""

    async def plant(self, store: DeliveryUnits) -> Claimed:
        """A webhook delivery of a new assignment, claimed for its first attempt."""
        raise NotImplementedError

    async def queued(self, store: DeliveryUnits, referral_id: UUID) -> int:
        raise NotImplementedError

    async def test_an_assignment_is_marked_delivered_once(self, store: DeliveryUnits) -> None:
        c = await self.plant(store)
        async with store.transaction() as tx:
            assert not await tx.is_delivered(c.assignment_id)
            assert await tx.mark_delivered(c.assignment_id, T0)
        async with store.transaction() as tx:
            assert not await tx.mark_delivered(c.assignment_id, T0 + timedelta(seconds=1))
            assert await tx.is_delivered(c.assignment_id)

    async def test_an_endpoint_is_disabled_once(self, store: DeliveryUnits) -> None:
        async with store.transaction() as tx:
            assert await tx.disable_endpoint(Provider.JUNO, T0, "endpoint_gone")
        async with store.transaction() as tx:
            assert not await tx.disable_endpoint(Provider.JUNO, T0, "endpoint_gone")

    @pytest.mark.parametrize("step", [Delivered(), GiveUp("http_400")])
    async def test_a_delivery_that_ended_takes_no_second_outcome(
        self, store: DeliveryUnits, step: Delivered | GiveUp
    ) -> None:
        c = await self.plant(store)
        async with store.transaction() as tx:
            assert await tx.finish(c, OK, step, at=T0, first_attempt_at=T0)
        async with store.transaction() as tx:
            assert not await tx.finish(c, OK, Delivered(), at=T0, first_attempt_at=T0)

    async def test_a_transaction_that_raises_keeps_nothing_it_wrote_or_queued(
        self, store: DeliveryUnits
    ) -> None:
        c = await self.plant(store)
        with pytest.raises(Boom):
            await _deliver_and_raise(store, c)
        async with store.transaction() as tx:
            assert not await tx.is_delivered(c.assignment_id)
            assert await tx.finish(c, OK, Delivered(), at=T0, first_attempt_at=T0)
        assert await self.queued(store, c.referral_id) == 0


async def _deliver_and_raise(store: DeliveryUnits, c: Claimed) -> None:
    async with store.transaction() as tx:
        await tx.finish(c, OK, Delivered(), at=T0, first_attempt_at=T0)
        await tx.mark_delivered(c.assignment_id, T0)
        await tx.disable_endpoint(Provider.JUNO, T0, "endpoint_gone")
        await tx.emit(
            received_event(c.referral_id),
            topic="ops.events.v1",
            key=str(c.referral_id),
            ce_type="test",
            event_id="lost",
            at=T0,
        )
        raise Boom


class TestFakeDeliveryStore(DeliveryStoreContract):
    @pytest.fixture
    def store(self) -> FakeRecorder:
        return FakeRecorder()

    async def plant(self, store: DeliveryUnits) -> Claimed:
        return claimed()

    async def queued(self, store: DeliveryUnits, referral_id: UUID) -> int:
        assert isinstance(store, FakeRecorder)
        return len(store.tx.emitted)


_ENABLE_JUNO = "UPDATE endpoints SET disabled_at = NULL, reason_code = NULL WHERE provider = 'juno'"


@pytest.mark.integration
class TestPostgresDeliveryStore(DeliveryStoreContract):
    """The real store on the gateway's schema; each test's rows are deleted after it, and the
    juno endpoint enabled before and after (no gateway runs in this module)."""

    @pytest.fixture
    async def store(self, stack_env: dict[str, str]) -> AsyncIterator[DeliveryStore]:
        pool = await create_pool(stack_env["GATEWAY_DATABASE_URL"], max_size=2)
        await apply_migrations(pool, MIGRATIONS)
        await pool.execute(_ENABLE_JUNO)
        self._pool, self._ids = pool, list[UUID]()
        try:
            yield DeliveryStore(pool)
        finally:
            await pool.execute(_ENABLE_JUNO)
            await forget(pool, self._ids)
            await pool.close()

    async def plant(self, store: DeliveryUnits) -> Claimed:
        c = claimed()
        self._ids.append(c.referral_id)
        body = first_assignment(
            received_event(c.referral_id), decision_for(c.referral_id, "juno"), T0
        )
        assert body is not None
        assert body.assignment_id == c.assignment_id
        async with ReferralStore(self._pool).referral(c.referral_id) as tx:
            await tx.add_assignment(
                body, round_no=1, sla_due_at=T0 + timedelta(days=2), channels=("webhook",)
            )
        await _claim(self._pool, c)
        return c

    async def queued(self, store: DeliveryUnits, referral_id: UUID) -> int:
        found: int = await self._pool.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = $1", str(referral_id)
        )
        return found


async def _claim(pool: asyncpg.Pool, c: Claimed) -> None:
    """As a claim leaves it: attempt 1 taken, leased (never due to another test's gateway)."""
    await pool.execute(
        "UPDATE deliveries SET attempts = $2, next_attempt_at = $3, leased_until = $3"
        " WHERE assignment_id = $1",
        c.assignment_id,
        c.attempt,
        T0 + timedelta(days=3650),
    )
