"""PostgreSQL for deliveries: claiming due ones, recording attempts, the attempts ledger.

Rules kept here:
- due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased by pushing their
  `next_attempt_at` forward by the lease in the same statement, then committed before any
  network call: no transaction stays open while a provider answers, several workers never
  send the same delivery at once, and a worker that dies mid-attempt loses nothing (the
  delivery is due again when its lease ends);
- the ledger is written before the send: the claim takes the attempt's number and commits its
  `delivery_attempts` row as `in_flight`, so every request that may have reached a provider is
  listed; the outcome completes that row later; an attempt still `in_flight` when its delivery
  is claimed again never got an outcome and becomes `unknown` (numbers never gap or repeat);
- a webhook delivery is claimed only for a provider that has a URL and whose endpoint is not
  disabled and whose breaker is closed (see domain.health); while it is open, one probe at a
  time is claimed (`claim_probes`), plus any delivery due for its last attempt before it is
  given up; a Kafka delivery only while the broker is connected;
- an attempt's outcome, its delivery's next state, the breaker and the events they cause are
  one transaction (a worker records its whole claimed batch in one: `batch`, see
  handlers.recording for the lock order); the update checks the attempt number it claimed,
  so a late duplicate worker records nothing for its delivery;
- the breaker lives in the `endpoints` row, shared by every gateway instance; when it closes,
  the endpoint's waiting deliveries (not those leased) are brought forward at a bounded rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

from services.common.outbox import OutboxMessage, enqueue_all, in_current_trace
from services.provider_gateway.adapters import delivery_sql as sql
from services.provider_gateway.adapters import endpoint_health as health
from services.provider_gateway.adapters import outbox
from services.provider_gateway.domain import Delivered, GiveUp, RetryAt, Step
from services.provider_gateway.domain.health import (
    Breaker,
    BreakerPolicy,
    BreakerState,
    after_attempt,
    closed,
    take_probe,
)
from services.provider_gateway.ports import AttemptResult, Claimed
from shared import Provider


class DeliveryTx(outbox.OutboxTx):
    """Recording one attempt and what it causes, in one transaction."""

    async def finish(
        self,
        claimed: Claimed,
        result: AttemptResult,
        step: Step,
        *,
        at: datetime,
        first_attempt_at: datetime,
    ) -> bool:
        """Complete the attempt's ledger row and the delivery's next state; False if the
        delivery is no longer this worker's (its lease was reclaimed, or it was cancelled).

        The ledger row gets the outcome while it is still `in_flight`, even if the delivery
        was cancelled meanwhile (the request went out all the same); a reclaimed attempt is
        already `unknown` and stays so, since another attempt has taken over.
        """
        state, next_at = "pending", at
        if isinstance(step, Delivered):
            state = "delivered"
        elif isinstance(step, GiveUp):
            state = "failed"
        elif isinstance(step, RetryAt):
            next_at = step.at
        updated: str = await self._conn.execute(
            "UPDATE deliveries SET state = $3, attempts = $4, next_attempt_at = $5,"
            " first_attempt_at = $6, last_status_code = $7, last_error = $8,"
            " delivered_at = CASE WHEN $3 = 'delivered' THEN $9::timestamptz END,"
            " failed_at = CASE WHEN $3 = 'failed' THEN $9::timestamptz END, leased_until = NULL"
            " WHERE assignment_id = $1 AND channel = $2 AND state = 'pending' AND attempts = $4",
            claimed.assignment_id,
            claimed.channel,
            state,
            claimed.attempt,
            next_at,
            first_attempt_at,
            result.status_code,
            result.error_code,
            at,
        )
        # The delivery row first, then its ledger row: the order the claim takes them in.
        await self._conn.execute(
            "UPDATE delivery_attempts SET finished_at = $4, status_code = $5, latency_ms = $6,"
            " outcome = $7, error_code = $8"
            " WHERE assignment_id = $1 AND channel = $2 AND attempt = $3"
            " AND outcome = 'in_flight'",
            claimed.assignment_id,
            claimed.channel,
            claimed.attempt,
            at,
            result.status_code,
            result.latency_ms,
            result.outcome.value,
            result.error_code,
        )
        return updated.endswith(" 1")

    async def record_health(
        self, claimed: Claimed, *, answered: bool, at: datetime, policy: BreakerPolicy
    ) -> tuple[Breaker, Breaker, int]:
        """Move the endpoint's breaker after this attempt: (before, after, deliveries released).

        Called first in the attempt's transaction: the endpoint row is locked before any
        delivery row, in every transaction that takes both, so two of them never deadlock.
        """
        provider = claimed.provider.value
        before = await health.load(self._conn, provider)
        if answered and before == Breaker(changed_at=before.changed_at):
            return before, before, 0  # healthy and staying so: no lock, no write
        before = await health.load(self._conn, provider, lock=True)
        after = after_attempt(before, answered=answered, probe=claimed.probe, now=at, policy=policy)
        if after != before:
            await health.save(self._conn, provider, after)
        released = 0
        if closed(before, after):
            released = await health.release(self._conn, provider, at=at, policy=policy)
        return before, after, released

    async def mark_delivered(self, assignment_id: str, at: datetime) -> bool:
        """Stamp the assignment delivered; True only for its first delivered channel."""
        done: str = await self._conn.execute(
            "UPDATE assignments SET delivered_at = $2 WHERE assignment_id = $1"
            " AND delivered_at IS NULL",
            assignment_id,
            at,
        )
        return done.endswith(" 1")

    async def is_delivered(self, assignment_id: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT delivered_at IS NOT NULL FROM assignments WHERE assignment_id = $1",
            assignment_id,
        )
        return bool(found)

    async def disable_endpoint(self, provider: Provider, at: datetime, reason_code: str) -> bool:
        """Disable the provider's webhook endpoint; True if it was enabled until now."""
        done: str = await self._conn.execute(
            "UPDATE endpoints SET disabled_at = $2, reason_code = $3"
            " WHERE provider = $1 AND disabled_at IS NULL",
            provider.value,
            at,
            reason_code,
        )
        return done.endswith(" 1")


class DeliveryStore:
    """Claims due deliveries and opens the transactions that record their attempts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        kafka: bool,
        webhook_providers: Sequence[str],
        give_up_after: timedelta = timedelta(days=1),
    ) -> list[Claimed]:
        rows = await self._pool.fetch(
            sql.CLAIM, now, lease, kafka, list(webhook_providers), limit, give_up_after
        )
        return [sql.claimed_of(r) for r in rows]

    async def claim_probes(
        self,
        *,
        now: datetime,
        lease: timedelta,
        webhook_providers: Sequence[str],
        policy: BreakerPolicy,
    ) -> list[Claimed]:
        """One probe delivery for each open endpoint whose probe is due, if this worker wins it.

        The endpoint row is locked (SKIP LOCKED) while its probe is taken, so of several
        workers and gateway instances one takes it; the others pass over it.
        """
        probes: list[Claimed] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for provider, breaker in await health.probes_due(conn, webhook_providers, now):
                taken = await conn.fetch(sql.CLAIM_PROBE, now, lease, provider)
                if taken:
                    await health.save(conn, provider, take_probe(breaker, now=now, policy=policy))
                    probes.append(sql.claimed_of(taken[0], probe=True))
        return probes

    async def breakers(self) -> dict[str, BreakerState]:
        """{provider: its endpoint's breaker state}, for the gauge."""
        return await health.states(self._pool)

    async def queue_depth(self) -> dict[str, tuple[int, int]]:
        """{channel: (pending deliveries, of which retrying)}."""
        rows = await self._pool.fetch(sql.QUEUE)
        return {r["channel"]: (r["pending"], r["retrying"]) for r in rows}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DeliveryTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield DeliveryTx(conn)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[DeliveryTx]:
        """One transaction for a claimed batch's attempts: its outbox rows are held back and
        inserted in one pipelined statement, with one NOTIFY, when the block ends."""
        async with self._pool.acquire() as conn, conn.transaction():
            tx = DeliveryBatchTx(conn)
            yield tx
            await tx.flush()


class DeliveryBatchTx(DeliveryTx):
    """A batch's `DeliveryTx`: each event is queued with the trace context it was emitted in
    (the attempt's span) and inserted, in emit order, by `flush`."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn)
        self._queued: list[OutboxMessage] = []

    async def _queue(self, message: OutboxMessage) -> None:
        self._queued.append(in_current_trace(message))

    async def flush(self) -> None:
        await enqueue_all(self._conn, outbox.OUTBOX, self._queued)
        self._queued.clear()
