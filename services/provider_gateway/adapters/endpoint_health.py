"""PostgreSQL for endpoint health: each provider endpoint's circuit breaker, in `endpoints`.

Rules kept here:
- the breaker's state lives in its endpoint's row, so every gateway instance on the database
  shares one breaker per endpoint; the rules that move it are domain.health's, applied by the
  caller inside its transaction with the row locked (`load(..., lock=True)`);
- an endpoint whose probe is due is selected `FOR UPDATE SKIP LOCKED`: of several workers or
  instances, one takes the probe and the others pass over it;
- releasing brings the endpoint's waiting webhook deliveries forward, the k-th (in the order
  they were due) to k release slots from now, those already due included, so that the rate
  holds however many piled up; a leased delivery (its request may be in flight) is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.provider_gateway.domain.health import Breaker, BreakerPolicy, BreakerState

_COLUMNS = "breaker_state, breaker_failures, breaker_probe_at, breaker_changed_at"
_LOAD = f"SELECT {_COLUMNS} FROM endpoints WHERE provider = $1"  # noqa: S608 - constant text

_PROBES_DUE = f"""
SELECT provider, {_COLUMNS}
FROM endpoints
WHERE provider = ANY($1::text[]) AND disabled_at IS NULL AND breaker_state <> 'closed'
  AND breaker_probe_at <= $2
ORDER BY provider
FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - constant text

_SAVE = """
UPDATE endpoints SET breaker_state = $2, breaker_failures = $3, breaker_probe_at = $4,
       breaker_changed_at = $5
WHERE provider = $1
"""

_RELEASE = """
WITH waiting AS (
    SELECT d.assignment_id, d.channel,
           row_number() OVER (ORDER BY d.next_attempt_at) - 1 AS pos
    FROM deliveries d JOIN assignments a USING (assignment_id)
    WHERE a.provider = $1 AND d.channel = 'webhook' AND d.state = 'pending'
      AND (d.leased_until IS NULL OR d.leased_until <= $2)
)
UPDATE deliveries d SET next_attempt_at = $2 + w.pos * $3::interval
FROM waiting w
WHERE d.assignment_id = w.assignment_id AND d.channel = w.channel
"""


def _breaker(r: asyncpg.Record) -> Breaker:
    return Breaker(
        state=BreakerState(r["breaker_state"]),
        failures=r["breaker_failures"],
        probe_at=r["breaker_probe_at"],
        changed_at=r["breaker_changed_at"],
    )


async def load(conn: asyncpg.Connection, provider: str, *, lock: bool = False) -> Breaker:
    row = await conn.fetchrow(_LOAD + (" FOR UPDATE" if lock else ""), provider)
    return Breaker() if row is None else _breaker(row)


async def save(conn: asyncpg.Connection, provider: str, b: Breaker) -> None:
    await conn.execute(_SAVE, provider, b.state.value, b.failures, b.probe_at, b.changed_at)


async def probes_due(
    conn: asyncpg.Connection, providers: Sequence[str], now: datetime
) -> list[tuple[str, Breaker]]:
    """The endpoints (locked, in this transaction) whose probe may be taken now."""
    rows = await conn.fetch(_PROBES_DUE, list(providers), now)
    return [(r["provider"], _breaker(r)) for r in rows]


async def release(
    conn: asyncpg.Connection, provider: str, *, at: datetime, policy: BreakerPolicy
) -> int:
    """Bring the endpoint's waiting deliveries forward at the policy's rate; returns how many."""
    done: str = await conn.execute(_RELEASE, provider, at, policy.release_slot(1))
    return int(done.rsplit(" ", 1)[-1])


async def states(pool: asyncpg.Pool) -> dict[str, BreakerState]:
    """{provider: its endpoint's breaker state}, for the gauge."""
    rows = await pool.fetch("SELECT provider, breaker_state FROM endpoints")
    return {r["provider"]: BreakerState(r["breaker_state"]) for r in rows}
