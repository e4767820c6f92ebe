"""Endpoint health and the ledger in the real PostgreSQL: breaker rows, probes, release, claims.

Two pools stand for two gateway instances on one database. The clock is injected and set in
the year 2000, so that claims see only this module's deliveries (other runs' rows are due in
the present); every assertion reads this module's rows only. The `equation` endpoint's breaker
is reset before and after each test. FAILS (never skips) without PostgreSQL (`stack_env`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.ops.adapters.tables import gateway_steps
from services.provider_gateway.adapters import admin
from services.provider_gateway.adapters.delivery_store import DeliveryStore
from services.provider_gateway.adapters.referral_store import ReferralStore
from services.provider_gateway.bootstrap import MIGRATIONS
from services.provider_gateway.domain import Delivered, Outcome, RetryAt, Step, first_assignment
from services.provider_gateway.domain.health import BreakerPolicy, BreakerState
from services.provider_gateway.ports import AttemptResult, Claimed
from tests.provider_gateway.gateway_samples import decision_for, received_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = datetime(2000, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)
POLICY = BreakerPolicy(
    threshold=2,
    probe_interval=timedelta(seconds=5),
    probe_timeout=timedelta(seconds=10),
    release_per_second=4,
)
RESET = (
    "UPDATE endpoints SET breaker_state = 'closed', breaker_failures = 0,"
    " breaker_probe_at = NULL, disabled_at = NULL, reason_code = NULL WHERE provider = 'equation'"
)


@pytest.fixture
async def pools(stack_env: dict[str, str]) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    dsn = stack_env["GATEWAY_DATABASE_URL"]
    one, two = await create_pool(dsn, max_size=3), await create_pool(dsn, max_size=3)
    try:
        await apply_migrations(one, MIGRATIONS)
        # Another run's leftovers of this module (due in 2000) must not be claimed here.
        await one.execute(
            "UPDATE deliveries SET state = 'cancelled' WHERE state = 'pending'"
            " AND next_attempt_at < '2001-01-01'"
        )
        await one.execute(RESET)
        yield one, two
    finally:
        await one.execute(RESET)
        await one.close()
        await two.close()


async def waiting(pool: asyncpg.Pool, count: int, *, at: datetime = T) -> list[str]:
    """`count` equation assignments with a webhook delivery due at `at`; their ids."""
    ids = []
    for n in range(count):
        rid = uuid4()
        body = first_assignment(received_event(rid), decision_for(rid, "equation"), at)
        assert body is not None
        body = body.model_copy(update={"assigned_at": at + timedelta(milliseconds=n)})
        async with ReferralStore(pool).referral(rid) as tx:
            await tx.add_assignment(body, round_no=1, sla_due_at=at, channels=("webhook",))
        ids.append(body.assignment_id)
    return ids


async def claim(pool: asyncpg.Pool, at: datetime, limit: int = 10) -> list[Claimed]:
    return await DeliveryStore(pool).claim(
        now=at, limit=limit, lease=LEASE, kafka=False, webhook_providers=["equation"]
    )


async def record(
    pool: asyncpg.Pool, c: Claimed, *, status: int | None, at: datetime
) -> tuple[BreakerState, BreakerState, int]:
    """Record `c`'s attempt as the worker does: health first, then the delivery and ledger."""
    outcome = Outcome.DELIVERED if status == 200 else Outcome.RETRYABLE
    result = AttemptResult(outcome, status, 5.0, None if status == 200 else "http_503")
    async with DeliveryStore(pool).transaction() as tx:
        before, after, released = await tx.record_health(
            c, answered=outcome is Outcome.DELIVERED, at=at, policy=POLICY
        )
        step: Step = Delivered() if status == 200 else RetryAt(at + timedelta(hours=1))
        assert await tx.finish(c, result, step, at=at, first_attempt_at=T)
    return before.state, after.state, released


async def ledger(pool: asyncpg.Pool, assignment_id: str) -> list[tuple[int, str]]:
    found = await pool.fetch(
        "SELECT attempt, outcome FROM delivery_attempts WHERE assignment_id = $1 ORDER BY 1",
        assignment_id,
    )
    return [(r["attempt"], r["outcome"]) for r in found]


async def test_the_claim_commits_an_in_flight_row_and_a_lost_one_becomes_unknown(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    one, two = pools
    (aid,) = await waiting(one, 1)
    (first,) = await claim(one, T)
    assert first.attempt == 1
    # Before any request goes out, the ledger already lists it.
    assert await ledger(one, aid) == [(1, "in_flight")]
    # Its worker dies; after the lease another instance claims it again.
    assert await claim(two, T + LEASE - timedelta(seconds=1)) == []
    (again,) = await claim(two, T + LEASE)
    assert (again.attempt, again.cycle_attempt) == (2, 2)
    assert await ledger(one, aid) == [(1, "unknown"), (2, "in_flight")]
    # `ops trace` lists both, though neither has an outcome (nor a latency) yet.
    steps = await gateway_steps(one, UUID(aid.split("_")[1]))
    attempts = sorted((str(s.details["attempt"]), s.what) for s in steps if "attempt" in s.details)
    assert attempts == [("1", "attempt:unknown"), ("2", "attempt:in_flight")]
    await record(two, again, status=200, at=T + LEASE)
    assert await ledger(one, aid) == [(1, "unknown"), (2, "delivered")]
    # The dead worker's late result changes nothing.
    async with DeliveryStore(one).transaction() as tx:
        late = AttemptResult(Outcome.DELIVERED, 200, 1.0)
        assert not await tx.finish(first, late, RetryAt(T), at=T, first_attempt_at=T)


async def test_an_open_endpoint_gets_one_probe_from_two_instances_then_releases_at_a_rate(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    one, two = pools
    ids = await waiting(one, 6)
    a, b = await claim(one, T + timedelta(seconds=1), limit=2)
    assert (await record(one, a, status=503, at=T))[1] is BreakerState.CLOSED
    assert await record(one, b, status=503, at=T) == (BreakerState.CLOSED, BreakerState.OPEN, 0)

    # Open: nothing is claimed for the endpoint, due or not, until a probe is due.
    later = T + timedelta(seconds=2)
    assert await claim(two, later) == []
    stores = [DeliveryStore(p) for p in (one, two)]

    async def probes(at: datetime) -> list[list[Claimed]]:
        return list(
            await asyncio.gather(
                *(
                    s.claim_probes(
                        now=at, lease=LEASE, webhook_providers=["equation"], policy=POLICY
                    )
                    for s in stores
                )
            )
        )

    assert await probes(later) == [[], []]
    got = await probes(T + timedelta(seconds=5))
    taken = [c for batch in got for c in batch]
    assert len(taken) == 1, "two instances took more than one probe"
    assert taken[0].probe
    assert await probes(T + timedelta(seconds=6)) == [[], []]  # the probe is out
    states = await DeliveryStore(one).breakers()
    assert states["equation"] is BreakerState.HALF_OPEN
    # `endpoints list` shows it to ops.
    (listed,) = [e for e in await admin.endpoints(one) if e["provider"] == "equation"]
    assert (listed["breaker_state"], listed["breaker_failures"]) == ("half_open", 2)

    # The probe is answered: closed, and the waiting deliveries are due at 4 per second.
    back = T + timedelta(seconds=7)
    _, after, released = await record(two, taken[0], status=200, at=back)
    assert after is BreakerState.CLOSED
    assert released == 5
    due = await one.fetch(
        "SELECT next_attempt_at FROM deliveries WHERE assignment_id = ANY($1::text[])"
        " AND state = 'pending' ORDER BY 1",
        ids,
    )
    assert [r["next_attempt_at"] - back for r in due] == [
        timedelta(seconds=s) for s in (0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert len(await claim(one, back + timedelta(seconds=0.5), limit=10)) == 3


async def test_an_attempt_whose_delivery_was_cancelled_meanwhile_still_gets_its_outcome(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    one, _ = pools
    (aid,) = await waiting(one, 1)
    (sent,) = await claim(one, T + timedelta(seconds=1))
    # A decline re-routed the referral while the request was out: the delivery is cancelled.
    await one.execute("UPDATE deliveries SET state = 'cancelled' WHERE assignment_id = $1", aid)
    async with DeliveryStore(one).transaction() as tx:
        result = AttemptResult(Outcome.DELIVERED, 200, 8.0)
        assert not await tx.finish(sent, result, Delivered(), at=T, first_attempt_at=T)
    assert await ledger(one, aid) == [(1, "delivered")]
