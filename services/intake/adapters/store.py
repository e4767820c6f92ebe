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
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from services.common.outbox import OutboxMessage, OutboxTable, enqueue
from services.common.sealing import WrappedKey
from services.common.telemetry import current_trace_headers
from services.intake.ports import StatusChange, StoredReferral, TimelineEntry

__all__ = ["OUTBOX", "IntakeStore", "StoredReferral", "TimelineEntry", "key_digest"]

OUTBOX_CHANNEL: Final = "intake_outbox"
OUTBOX: Final = OutboxTable(channel=OUTBOX_CHANNEL, attempts_column="attempts")


_BIND_KEY: Final = (
    "INSERT INTO idempotency_keys (agency_id, idempotency_key, submission_id)"
    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)


# The whole accept path in one statement (one round trip; a statement is atomic): the referral,
# then only if it was inserted its data key, idempotency key, first timeline entry, outbox rows
# and the NOTIFY that wakes the relay on commit. Columns as `vault.store_data_key` and
# `outbox.enqueue` write them. `key_bound` is false when a concurrent request holds the key:
# the caller then rolls the transaction back.
_ACCEPT: Final = f"""
WITH referral AS (
    INSERT INTO referrals (referral_id, agency_id, idempotency_key, submission_id, body_digest,
                           submission, channel, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (agency_id, submission_id) WHERE duplicate_of IS NULL DO NOTHING
    RETURNING referral_id
), data_key AS (
    INSERT INTO keyvault.data_keys (referral_id, kek_version, wrapped_key, created_at)
    SELECT referral_id, $9, $10, $8 FROM referral WHERE $10::bytea IS NOT NULL
    ON CONFLICT (referral_id) DO NOTHING
), bound AS (
    INSERT INTO idempotency_keys (agency_id, idempotency_key, submission_id)
    SELECT $2, $3, $4 FROM referral WHERE $3::text IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING 1
), timeline AS (
    INSERT INTO referral_timeline (referral_id, state, at, source_event_id)
    SELECT referral_id, 'received', $8, 'received:' || referral_id FROM referral
), queued AS (
    INSERT INTO {OUTBOX.table} ({OUTBOX.topic_column}, {OUTBOX.key_column},
                                {OUTBOX.headers_column}, {OUTBOX.payload_column})
    SELECT m.topic, m.key, m.headers::jsonb, m.payload
      FROM referral,
           unnest($11::text[], $12::text[], $13::text[], $14::bytea[])
               WITH ORDINALITY AS m (topic, key, headers, payload, n)
     ORDER BY m.n
), woken AS (
    SELECT pg_notify('{OUTBOX_CHANNEL}', '') FROM referral
)
SELECT (SELECT referral_id FROM referral) AS referral_id,
       $3::text IS NULL OR EXISTS (SELECT 1 FROM bound) AS key_bound,
       (SELECT count(*) FROM woken) AS woken
"""  # noqa: S608 - identifiers from code (OutboxTable checks them), values are parameters


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
        headers = current_trace_headers()  # the request's trace, carried by the outbox rows
        args = (
            referral_id,
            agency_id,
            idempotency_key,
            submission_id,
            digest,
            submission,
            channel,
            received_at,
            data_key.kek_version if data_key else None,
            data_key.wrapped if data_key else None,
            [m.topic for m in messages],
            [m.key for m in messages],
            [json.dumps(headers | m.headers) for m in messages],
            [m.payload for m in messages],
        )
        if idempotency_key is None:  # one statement is its own transaction: all or nothing
            return await self._pool.fetchval(_ACCEPT, *args) is not None
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_ACCEPT, *args)
                referral = row["referral_id"]
                if referral is not None and not row["key_bound"]:
                    raise _KeyTaken  # noqa: TRY301 - rolls the referral and its rows back
                return referral is not None
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
