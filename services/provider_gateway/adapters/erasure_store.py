"""PostgreSQL for erased referrals and the providers' fetch audit.

Rules kept here:
- an erasure runs in the referral's locked transaction (the same advisory lock as every other
  change to that referral): it records the referral as erased once, nulls the gateway's copies
  of its details (the stored `ReferralReceived`, every assignment body and the providers'
  free-text reasons), and moves its
  waiting deliveries to the terminal `erased` state, so none is attempted again;
- a repeated erasure event finds the referral recorded and changes nothing;
- the fetch audit is append-only (a trigger refuses changes): referral, provider, time and the
  HTTP status given, never a body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg

from services.provider_gateway.adapters.outbox import OutboxTx
from shared import Provider


class ErasureTx(OutboxTx):
    """One referral's erasure inside its locked transaction."""

    def __init__(self, conn: asyncpg.Connection, referral_id: UUID) -> None:
        super().__init__(conn)
        self.referral_id = referral_id

    async def record(self, erased_at: datetime, event_id: UUID) -> bool:
        """Note the erasure; False if it was noted before."""
        done: str = await self._conn.execute(
            "INSERT INTO erased_referrals (referral_id, erased_at, source_event_id)"
            " VALUES ($1, $2, $3) ON CONFLICT (referral_id) DO NOTHING",
            self.referral_id,
            erased_at,
            event_id,
        )
        return done.endswith(" 1")

    async def erase_copies(self) -> int:
        """Null the stored details and bodies; end waiting deliveries. Returns how many ended."""
        await self._conn.execute(
            "UPDATE referrals_received SET received = NULL WHERE referral_id = $1",
            self.referral_id,
        )
        await self._conn.execute(
            "UPDATE assignments SET payload = NULL WHERE referral_id = $1", self.referral_id
        )
        # A provider's free-text reason may name someone; the answer's status and time stay.
        await self._conn.execute(
            "UPDATE responses r SET reason = NULL FROM assignments a"
            " WHERE a.assignment_id = r.assignment_id AND a.referral_id = $1",
            self.referral_id,
        )
        ended: str = await self._conn.execute(
            "UPDATE deliveries d SET state = 'erased', leased_until = NULL FROM assignments a"
            " WHERE a.assignment_id = d.assignment_id AND a.referral_id = $1"
            " AND d.state = 'pending'",
            self.referral_id,
        )
        return int(ended.rsplit(" ", 1)[-1])


class ErasureStore:
    """Opens erasure transactions; answers whether a referral was erased; audits fetches."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[ErasureTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", str(referral_id)
            )
            yield ErasureTx(conn, referral_id)

    async def erased_at(self, referral_id: UUID) -> datetime | None:
        at: datetime | None = await self._pool.fetchval(
            "SELECT erased_at FROM erased_referrals WHERE referral_id = $1", referral_id
        )
        return at

    async def audit_fetch(
        self, referral_id: UUID, provider: Provider, at: datetime, status: int
    ) -> None:
        await self._pool.execute(
            "INSERT INTO assignment_fetches (referral_id, provider, at, status)"
            " VALUES ($1, $2, $3, $4)",
            referral_id,
            provider.value,
            at,
            status,
        )
