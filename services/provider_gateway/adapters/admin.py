"""Ops' view of deliveries: list failed ones, replay them, list and re-enable endpoints.

`endpoints list` shows each endpoint's breaker too (closed, open, half_open: see
domain.health) with its consecutive failures and when it last changed.

Rules kept here:
- listings show ids, providers, channels, counts, codes and times only, never a body;
- a replay puts failed deliveries of current assignments back in the queue, due now, with the
  retry schedule restarted (`retry_base`), and wakes the workers; deliveries of assignments
  that have passed to another provider are not replayed;
- a replay needs at least one filter, so nobody replays everything by accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.provider_gateway.adapters.referral_store import DELIVERY_CHANNEL

# Each filter applies only when given ($n IS NULL otherwise); the filters combine.
_FAILED = """
SELECT d.assignment_id, a.referral_id, a.provider, d.channel, d.attempts, d.last_status_code,
       d.last_error, d.failed_at, a.superseded_at IS NOT NULL AS superseded
FROM deliveries d JOIN assignments a USING (assignment_id)
WHERE d.state = 'failed'
  AND ($1::text IS NULL OR d.assignment_id = $1)
  AND ($2::text IS NULL OR a.provider = $2)
  AND ($3::timestamptz IS NULL OR d.failed_at >= $3)
ORDER BY d.failed_at
"""

_REPLAY = """
UPDATE deliveries d SET state = 'pending', next_attempt_at = $4, retry_base = d.attempts,
       first_attempt_at = NULL, failed_at = NULL
FROM assignments a
WHERE a.assignment_id = d.assignment_id AND d.state = 'failed' AND a.superseded_at IS NULL
  AND ($1::text IS NULL OR d.assignment_id = $1)
  AND ($2::text IS NULL OR a.provider = $2)
  AND ($3::timestamptz IS NULL OR d.failed_at >= $3)
"""


async def failed_deliveries(
    pool: asyncpg.Pool,
    *,
    assignment_id: str | None = None,
    provider: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(_FAILED, assignment_id, provider, since)
    return [dict(r) for r in rows]


async def replay(
    pool: asyncpg.Pool,
    *,
    now: datetime,
    assignment_id: str | None = None,
    provider: str | None = None,
    since: datetime | None = None,
) -> int:
    """Re-queue matching failed deliveries; returns how many."""
    if assignment_id is None and provider is None and since is None:
        raise ValueError("give --assignment, --provider or --since")
    async with pool.acquire() as conn, conn.transaction():
        done: str = await conn.execute(_REPLAY, assignment_id, provider, since, now)
        await conn.execute("SELECT pg_notify($1, '')", DELIVERY_CHANNEL)
    return int(done.rsplit(" ", 1)[-1])


async def endpoints(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT provider, disabled_at, reason_code, breaker_state, breaker_failures,"
        " breaker_changed_at FROM endpoints ORDER BY 1"
    )
    return [dict(r) for r in rows]


async def enable_endpoint(pool: asyncpg.Pool, provider: str) -> bool:
    done: str = await pool.execute(
        # Enabled with a closed breaker: ops have checked the endpoint, so its deliveries go now.
        "UPDATE endpoints SET disabled_at = NULL, reason_code = NULL, breaker_state = 'closed',"
        " breaker_failures = 0, breaker_probe_at = NULL"
        " WHERE provider = $1 AND disabled_at IS NOT NULL",
        provider,
    )
    if done.endswith(" 1"):
        await pool.execute("SELECT pg_notify($1, '')", DELIVERY_CHANNEL)
        return True
    return False
