"""PostgreSQL for a batch of referral halves: many referrals' work in ONE locked transaction.

Rules kept here:
- a batch's transaction takes the advisory lock of every referral it carries (the same
  `pg_advisory_xact_lock` key as `ReferralStore.referral`, so a batch and a single referral's
  work never interleave on one referral), in ascending key order, in one statement: two batches
  (the received and the decided consumers) that share referrals wait for each other and never
  deadlock; single-referral work holds one lock only, so it cannot close a cycle either;
- each referral's work inside it goes through its own `ReferralTx` on the shared connection, so
  the use cases are those of a single message (inserts `ON CONFLICT DO NOTHING`: a redelivered
  batch changes nothing), and all of it commits, or none of it, with its outbox rows;
- the NOTIFY that wakes the delivery workers is sent once per channel by PostgreSQL however many
  assignments the batch made (notifications with one payload are merged in a transaction).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from services.provider_gateway.adapters.referral_store import ReferralTx

# Sorted before locking, so every batch takes its locks in the same order (see the docstring).
LOCK_ALL = """
SELECT count(pg_advisory_xact_lock(k)) FROM (
    SELECT DISTINCT hashtextextended(id, 0) AS k FROM unnest($1::text[]) AS id ORDER BY k
) AS keys
"""


class ReferralBatches:
    """Opens one transaction for the referrals of a batch, each referral locked."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def referrals(
        self, referral_ids: Iterable[UUID]
    ) -> AsyncIterator[Callable[[UUID], ReferralTx]]:
        """Yields `unit(referral_id)`: that referral's operations inside the batch's transaction."""
        ids = sorted({str(r) for r in referral_ids})
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.fetchval(LOCK_ALL, ids)

            def unit(referral_id: UUID) -> ReferralTx:
                if str(referral_id) not in ids:  # its lock was not taken: no work on it here
                    raise ValueError("the referral is not one of the batch's")
                return ReferralTx(conn, referral_id)

            yield unit
