"""PostgreSQL for deliveries: claiming due ones, recording attempts, the attempts ledger.

Rules kept here:
- due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased by pushing their
  `next_attempt_at` forward by the lease in the same statement, then committed before any
  network call: no transaction stays open while a provider answers, several workers never
  send the same delivery at once, and a worker that dies mid-attempt loses nothing (the
  delivery is due again when its lease ends);
- a webhook delivery is claimed only for a provider that has a URL and whose endpoint is not
  disabled; a Kafka delivery only while the broker is connected;
- each attempt is one ledger row and one update of its delivery, in one transaction with the
  events it causes; the update checks the attempt count it claimed, so a late duplicate
  worker records nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

from services.provider_gateway.adapters import outbox
from services.provider_gateway.domain import Delivered, GiveUp, RetryAt, Step
from services.provider_gateway.ports import AttemptResult, Claimed
from shared import Assignment, Pathway, Priority, Provider

_CLAIM = """
WITH due AS (
    SELECT d.assignment_id, d.channel FROM deliveries d
    JOIN assignments a USING (assignment_id)
    JOIN endpoints e ON e.provider = a.provider
    WHERE d.state = 'pending' AND d.next_attempt_at <= $1
      AND ((d.channel = 'kafka' AND $2)
           OR (d.channel = 'webhook' AND e.disabled_at IS NULL AND a.provider = ANY($3::text[])))
    ORDER BY d.next_attempt_at LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d SET next_attempt_at = $1 + $5::interval
FROM due, assignments a
LEFT JOIN referrals_received r ON r.referral_id = a.referral_id
WHERE d.assignment_id = due.assignment_id AND d.channel = due.channel
  AND a.assignment_id = d.assignment_id
RETURNING d.assignment_id, d.channel, d.attempts, d.retry_base, d.first_attempt_at,
          a.referral_id, a.provider, a.priority, a.pathway, a.payload, a.traceparent,
          (r.received ->> 'received_at')::timestamptz AS received_at
"""

_QUEUE = """
SELECT channel, count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS retrying
FROM deliveries WHERE state = 'pending' GROUP BY channel
"""


def _claimed(r: asyncpg.Record) -> Claimed:
    return Claimed(
        assignment_id=r["assignment_id"],
        channel=r["channel"],
        referral_id=r["referral_id"],
        provider=Provider(r["provider"]),
        priority=Priority(r["priority"]),
        pathway=Pathway(r["pathway"]),
        attempt=r["attempts"] + 1,
        cycle_attempt=r["attempts"] - r["retry_base"] + 1,
        first_attempt_at=r["first_attempt_at"],
        body=Assignment.model_validate(r["payload"]).model_dump_json().encode(),
        received_at=r["received_at"],
        traceparent=r["traceparent"],
    )


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
        """Write the ledger row and the delivery's next state; False if already recorded."""
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
            " failed_at = CASE WHEN $3 = 'failed' THEN $9::timestamptz END"
            " WHERE assignment_id = $1 AND channel = $2 AND state = 'pending' AND attempts = $4 - 1",
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
        if not updated.endswith(" 1"):
            return False
        await self._conn.execute(
            "INSERT INTO delivery_attempts (assignment_id, channel, attempt, at, status_code,"
            " latency_ms, outcome, error_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            claimed.assignment_id,
            claimed.channel,
            claimed.attempt,
            at,
            result.status_code,
            result.latency_ms,
            result.outcome.value,
            result.error_code,
        )
        return True

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
    ) -> list[Claimed]:
        rows = await self._pool.fetch(_CLAIM, now, kafka, list(webhook_providers), limit, lease)
        return [_claimed(r) for r in rows]

    async def queue_depth(self) -> dict[str, tuple[int, int]]:
        """{channel: (pending deliveries, of which retrying)}."""
        rows = await self._pool.fetch(_QUEUE)
        return {r["channel"]: (r["pending"], r["retrying"]) for r in rows}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DeliveryTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield DeliveryTx(conn)
