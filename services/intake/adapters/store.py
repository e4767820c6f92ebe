"""Intake's PostgreSQL store: referrals with their outbox rows, API keys, and the timeline.

Rules kept here:
- a rejection's outbox rows are written with its id (`rejections`), once per id;
- a referral and its outbox row are written in one transaction (`enqueue`, with a NOTIFY that
  wakes the relay when the transaction commits); the relay is the shared one in
  `services.common.outbox`, on the table described by `OUTBOX`;
- (agency, submission_id) is unique among referrals that are not marked `duplicate_of`
  (migration 0002), and (agency, idempotency key) names one submission: a concurrent duplicate
  of either inserts nothing (its whole transaction rolls back) and the caller looks again;
- an agency reads only the referrals it submitted;
- the referral's data key (`keyvault.data_keys`) is stored in the same transaction as the
  referral, whose `submission` column and outbox payloads hold only the sealed form (issue 14).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from services.common.sealing import WrappedKey, store_data_key
from services.intake.ports import StatusChange, StoredReferral, TimelineEntry

__all__ = ["OUTBOX", "IntakeStore", "StoredReferral", "TimelineEntry", "key_digest"]

OUTBOX_CHANNEL: Final = "intake_outbox"
OUTBOX: Final = OutboxTable(channel=OUTBOX_CHANNEL, attempts_column="attempts")


_BIND_KEY: Final = (
    "INSERT INTO idempotency_keys (agency_id, idempotency_key, submission_id)"
    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)


class _KeyTaken(Exception):
    """Raised inside the insert's transaction to roll it back: a concurrent request won the key."""


def key_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class IntakeStore:
    """asyncpg implementation of intake's persistence."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, agency_id: str, submission_id: str) -> StoredReferral | None:
        row = await self._pool.fetchrow(
            "SELECT referral_id, body_digest, received_at, submission_id FROM referrals"
            " WHERE agency_id = $1 AND submission_id = $2 AND duplicate_of IS NULL",
            agency_id,
            submission_id,
        )
        return StoredReferral(**dict(row)) if row else None

    async def key_owner(self, agency_id: str, idempotency_key: str) -> str | None:
        """The submission_id this agency's Idempotency-Key names, if it was used before."""
        owner: str | None = await self._pool.fetchval(
            "SELECT submission_id FROM idempotency_keys"
            " WHERE agency_id = $1 AND idempotency_key = $2",
            agency_id,
            idempotency_key,
        )
        return owner

    async def bind_key(self, agency_id: str, idempotency_key: str, submission_id: str) -> str:
        """Name `submission_id` by the key unless it already names one; returns the owner."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_BIND_KEY, agency_id, idempotency_key, submission_id)
            owner: str = await conn.fetchval(
                "SELECT submission_id FROM idempotency_keys"
                " WHERE agency_id = $1 AND idempotency_key = $2",
                agency_id,
                idempotency_key,
            )
            return owner

    async def insert_with_outbox(
        self,
        *,
        referral_id: UUID,
        agency_id: str,
        idempotency_key: str | None,
        submission_id: str,
        digest: bytes,
        submission: dict[str, Any],
        channel: str,
        received_at: datetime,
        messages: Sequence[OutboxMessage],
        data_key: WrappedKey | None,
    ) -> bool:
        """Insert the referral, its data key, its idempotency key, first timeline entry and
        outbox rows, all or nothing.

        False (nothing written) if the submission or the key is already taken.
        """
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                inserted = await conn.fetchval(
                    "INSERT INTO referrals (referral_id, agency_id, idempotency_key,"
                    " submission_id, body_digest, submission, channel, received_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " ON CONFLICT (agency_id, submission_id) WHERE duplicate_of IS NULL"
                    " DO NOTHING RETURNING referral_id",
                    referral_id,
                    agency_id,
                    idempotency_key,
                    submission_id,
                    digest,
                    submission,
                    channel,
                    received_at,
                )
                if inserted is None:
                    return False
                if data_key is not None:
                    await store_data_key(conn, data_key, received_at)
                if idempotency_key is not None:
                    bound = await conn.execute(_BIND_KEY, agency_id, idempotency_key, submission_id)
                    if bound.endswith(" 0"):
                        raise _KeyTaken  # noqa: TRY301 - rolls the transaction back
                await conn.execute(
                    "INSERT INTO referral_timeline (referral_id, state, at, source_event_id)"
                    " VALUES ($1, 'received', $2, $3)",
                    referral_id,
                    received_at,
                    f"received:{referral_id}",
                )
                for message in messages:
                    await enqueue(conn, OUTBOX, message)
                return True
        except _KeyTaken:
            return False

    async def queue_rejection(
        self, rejection_id: UUID, at: datetime, messages: Sequence[OutboxMessage]
    ) -> bool:
        """Queue a rejection's events once per rejection id; False (nothing queued) if seen."""
        async with self._pool.acquire() as conn, conn.transaction():
            first = await conn.execute(
                "INSERT INTO rejections (rejection_id, rejected_at) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                rejection_id,
                at,
            )
            if first.endswith(" 0"):
                return False
            for message in messages:
                await enqueue(conn, OUTBOX, message)
            return True

    async def agency_for_token(self, token: str) -> str | None:
        agency: str | None = await self._pool.fetchval(
            "SELECT agency_id FROM api_keys WHERE key_digest = $1 AND revoked_at IS NULL",
            key_digest(token),
        )
        return agency

    async def agency_known(self, agency_id: str) -> bool:
        """Whether `agency_id` is a registered agency (`agency-add`)."""
        known: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM agencies WHERE agency_id = $1)", agency_id
        )
        return known

    async def timeline(
        self, referral_id: UUID, agency_id: str
    ) -> tuple[str, list[TimelineEntry]] | None:
        """The submission id and timeline of a referral, if this agency submitted it."""
        submission_id = await self._pool.fetchval(
            "SELECT submission_id FROM referrals WHERE referral_id = $1 AND agency_id = $2",
            referral_id,
            agency_id,
        )
        if submission_id is None:
            return None
        rows = await self._pool.fetch(
            "SELECT state, at, provider, pathway, priority FROM referral_timeline"
            " WHERE referral_id = $1 ORDER BY at, state",
            referral_id,
        )
        return submission_id, [TimelineEntry(**dict(r)) for r in rows]

    async def record_status(self, change: StatusChange) -> bool:
        """Add a timeline entry once per source event; False for a duplicate or unknown referral."""
        result: str = await self._pool.execute(
            "INSERT INTO referral_timeline"
            " (referral_id, state, at, provider, pathway, priority, source_event_id)"
            " SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS"
            " (SELECT 1 FROM referrals WHERE referral_id = $1)"
            " ON CONFLICT (source_event_id) DO NOTHING",
            change.referral_id,
            change.state,
            change.at,
            change.provider,
            change.pathway,
            change.priority,
            change.source_event_id,
        )
        return result.endswith(" 1")

    async def outbox_backlog(self) -> int:
        count: int = await self._pool.fetchval(OUTBOX.backlog_sql)
        return count
