"""Router's PostgreSQL store: the one decision of each referral.

Rules kept here:
- a referral has at most one decision: the first one stored wins, and a redelivered
  referral gets the stored decision back (never a second, different one);
- a decision is marked published only after Kafka acknowledged it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

import asyncpg

from shared import Decision, ReferralReceived


class DecisionStore:
    """asyncpg implementation of the router's persistence."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, referral_id: UUID) -> tuple[Decision, bool] | None:
        """The stored decision and whether it was published, if any."""
        row = await self._pool.fetchrow(
            "SELECT decision, published_at FROM decisions WHERE referral_id = $1", referral_id
        )
        if row is None:
            return None
        return Decision.model_validate(row["decision"]), row["published_at"] is not None

    async def save(self, referral: ReferralReceived, decision: Decision) -> Decision:
        """Store the decision unless one exists; returns the decision in force."""
        row = await self._pool.fetchrow(
            "INSERT INTO decisions (referral_id, submission_id, received_at, referral,"
            " rules_version, pathway, provider, priority, decision, decided_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (referral_id) DO UPDATE SET referral_id = decisions.referral_id"
            " RETURNING decision",
            referral.referral_id,
            referral.submission.submission_id,
            referral.received_at,
            referral.model_dump(mode="json"),
            decision.rules_version,
            decision.pathway.value,
            decision.provider.value if decision.provider else None,
            decision.priority.value,
            decision.model_dump(mode="json"),
            decision.decided_at,
        )
        return Decision.model_validate(row["decision"])

    async def mark_published(self, referral_id: UUID, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE decisions SET published_at = $2 WHERE referral_id = $1 AND published_at IS NULL",
            referral_id,
            at,
        )

    async def referrals(self, since: datetime | None = None) -> AsyncIterator[ReferralReceived]:
        """Every stored referral (oldest first), for replaying a new rules version."""
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(
                "SELECT referral FROM decisions WHERE $1::timestamptz IS NULL OR received_at >= $1"
                " ORDER BY received_at",
                since,
            ):
                yield ReferralReceived.model_validate(row["referral"])
