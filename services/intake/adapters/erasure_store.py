"""Intake's PostgreSQL side of erasure and retention.

Rules kept here:
- one erasure is one transaction, holding the referral's row lock: the data key is destroyed,
  the submission and its digest are nulled (ids, agency, channel, times and the timeline stay),
  the `referrals.received.v1` copies still in the outbox are deleted, an `erased` timeline
  entry and the audit row are appended and the `erased` ops event is queued in the outbox;
  all or nothing;
- a referral marked `duplicate_of` an erased one held the same submission: it is erased with it;
- erasing an erased referral changes nothing and says when it was erased;
- retention candidates are closed referrals (a `CLOSING_STATES` entry in their timeline) whose
  last timeline entry is older than the cutoff; erased ones are never candidates again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from services.common import sealing
from services.common.outbox import OutboxMessage, enqueue
from services.intake.adapters.store import OUTBOX
from services.intake.domain.erasure import Erasure, ErasureOutcome, ErasureRequest
from shared.topics import REFERRALS_RECEIVED

# Destroys one referral's data key inside the caller's transaction.
DestroyKey = Callable[[asyncpg.Connection, UUID, datetime], Awaitable[None]]

_CANDIDATES: Final = (
    "SELECT r.referral_id FROM referrals r"
    " WHERE r.erased_at IS NULL AND r.duplicate_of IS NULL"
    " AND EXISTS (SELECT 1 FROM referral_timeline t"
    "             WHERE t.referral_id = r.referral_id AND t.state = ANY($2::text[]))"
    " AND (SELECT max(t.at) FROM referral_timeline t WHERE t.referral_id = r.referral_id) < $1"
    " ORDER BY r.received_at, r.referral_id LIMIT $3"
)


async def destroy_data_key(conn: asyncpg.Connection, referral_id: UUID, at: datetime) -> None:
    """Crypto-shredding through the sealing API: every sealed copy becomes unreadable."""
    await sealing.destroy(conn, referral_id, at)


class ErasureStore:
    """asyncpg implementation of erasure and the retention query."""

    def __init__(self, pool: asyncpg.Pool, destroy_key: DestroyKey = destroy_data_key) -> None:
        self._pool = pool
        self._destroy_key = destroy_key

    async def erase(
        self,
        request: ErasureRequest,
        at: datetime,
        announce: Callable[[UUID], Sequence[OutboxMessage]],
    ) -> Erasure:
        """Erase the referral (and its duplicates), announcing each id with `announce(id)`."""
        rid = request.referral_id
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT erased_at FROM referrals WHERE referral_id = $1 FOR UPDATE", rid
            )
            if row is None:
                return Erasure(rid, ErasureOutcome.UNKNOWN, None)
            if row["erased_at"] is not None:
                return Erasure(rid, ErasureOutcome.ALREADY_ERASED, row["erased_at"])
            ids = [rid] + [
                r["referral_id"]
                for r in await conn.fetch(
                    "SELECT referral_id FROM referrals WHERE duplicate_of = $1"
                    " AND erased_at IS NULL FOR UPDATE",
                    rid,
                )
            ]
            for referral_id in ids:
                await self._destroy_key(conn, referral_id, at)
            await conn.execute(
                "UPDATE referrals SET submission = NULL, body_digest = ''::bytea, erased_at = $2"
                " WHERE referral_id = ANY($1::uuid[])",
                ids,
                at,
            )
            await conn.execute(
                "DELETE FROM outbox WHERE topic = $1 AND message_key = ANY($2::text[])",
                REFERRALS_RECEIVED,
                [str(i) for i in ids],
            )
            # The agency's status timeline shows the erasure; nothing else of it changes.
            await conn.executemany(
                "INSERT INTO referral_timeline (referral_id, state, at, source_event_id)"
                " VALUES ($1, 'erased', $2, $3) ON CONFLICT (source_event_id) DO NOTHING",
                [(i, at, f"erased:{i}") for i in ids],
            )
            await conn.executemany(
                "INSERT INTO erasure_audit (referral_id, operator, reason, channel, erased_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                [(i, request.operator, request.reason, request.channel.value, at) for i in ids],
            )
            for message in (m for i in ids for m in announce(i)):
                await enqueue(conn, OUTBOX, message)
            return Erasure(rid, ErasureOutcome.ERASED, at)

    async def retention_candidates(
        self, cutoff: datetime, closing_states: frozenset[str], limit: int
    ) -> list[UUID]:
        rows = await self._pool.fetch(_CANDIDATES, cutoff, sorted(closing_states), limit)
        return [r["referral_id"] for r in rows]
