"""Router's PostgreSQL store: the one decision of each referral, and the outbox that announces it.

Rules kept here:
- a referral has at most one decision: the insert is `ON CONFLICT DO NOTHING`, so the first
  stored wins and a concurrent or later copy stores nothing (and learns so);
- everything about one referral happens in one transaction (`DecisionStore.referral`), or a
  whole batch of referrals in one (`DecisionStore.batch`: one multi-row insert of the decisions,
  their outbox rows inserted in one pipelined statement and one NOTIFY just before the commit):
  the decisions and their outbox rows commit together or not at all; the rows are published by the
  shared relay (`services.common.outbox`) on the table described by `OUTBOX`, whose NOTIFY wakes
  it, and the relay marking the decided row sent stamps the decision's `published_at`
  (migration 0003);
- the referral is kept with its decision, for replaying a new rules version (`referrals`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from services.common.outbox import OutboxMessage, OutboxTable, enqueue_all, in_current_trace
from services.common.outbox_tx import OutboxTx
from services.router.ports import Stored
from shared import Decision, ReferralReceived, Service

OUTBOX_CHANNEL: Final = "router_outbox"
OUTBOX: Final = OutboxTable(channel=OUTBOX_CHANNEL, attempts_column="attempts")


class DecisionTx(OutboxTx):
    """One referral's transaction (implements `ports.DecisionUnit`)."""

    def __init__(self, conn: asyncpg.Connection, referral_id: UUID) -> None:
        super().__init__(conn, OUTBOX, Service.ROUTER)
        self.referral_id = referral_id

    async def stored(self) -> Stored | None:
        row = await self._conn.fetchrow(
            "SELECT decision, events_queued FROM decisions WHERE referral_id = $1",
            self.referral_id,
        )
        if row is None:
            return None
        return Stored(Decision.model_validate(row["decision"]), row["events_queued"])

    async def save(self, referral: ReferralReceived, decision: Decision) -> bool:
        done: str = await self._conn.execute(
            "INSERT INTO decisions (referral_id, submission_id, received_at, referral,"
            " rules_version, pathway, provider, priority, decision, decided_at, events_queued)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)"
            " ON CONFLICT (referral_id) DO NOTHING",
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
        return done.endswith(" 1")

    async def mark_queued(self) -> bool:
        done: str = await self._conn.execute(
            "UPDATE decisions SET events_queued = true"
            " WHERE referral_id = $1 AND NOT events_queued",
            self.referral_id,
        )
        return done.endswith(" 1")


# One statement for a batch's decisions; the json columns travel as text (one `::jsonb` cast),
# which spares a Python json.dumps per value.
_SAVE_ALL: Final = (
    "INSERT INTO decisions (referral_id, submission_id, received_at, referral, rules_version,"
    " pathway, provider, priority, decision, decided_at, events_queued)"
    " SELECT r, s, rec, ref::jsonb, v, pw, pv, pr, d::jsonb, da, true FROM unnest($1::uuid[],"
    " $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    " $9::text[], $10::timestamptz[]) AS t(r, s, rec, ref, v, pw, pv, pr, d, da)"
    " ON CONFLICT (referral_id) DO NOTHING RETURNING referral_id"
)


class DecisionBatchTx(OutboxTx):
    """A batch's transaction (implements `ports.DecisionBatch`); its events are inserted at the
    end of the block, before the commit, each with the trace context it was emitted in."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn, OUTBOX, Service.ROUTER)
        self._queued: list[OutboxMessage] = []

    async def save_all(self, decided: Sequence[tuple[ReferralReceived, Decision]]) -> set[UUID]:
        if not decided:
            return set()
        columns: list[list[object]] = [[] for _ in range(10)]
        for referral, d in decided:
            row = (
                referral.referral_id,
                referral.submission.submission_id,
                referral.received_at,
                referral.model_dump_json(),
                d.rules_version,
                d.pathway.value,
                d.provider.value if d.provider else None,
                d.priority.value,
                d.model_dump_json(),
                d.decided_at,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        rows = await self._conn.fetch(_SAVE_ALL, *columns)
        return {row["referral_id"] for row in rows}

    def unit(self, referral_id: UUID) -> DecisionTx:
        return DecisionTx(self._conn, referral_id)

    async def _queue(self, message: OutboxMessage) -> None:
        # Held back for `flush`, with the trace current now (the record's), as `enqueue` takes it.
        self._queued.append(in_current_trace(message))

    async def flush(self) -> None:
        """Insert the queued events (one pipelined statement) and wake the relay once."""
        await enqueue_all(self._conn, OUTBOX, self._queued)
        self._queued.clear()


class DecisionStore:
    """asyncpg implementation of the router's persistence (`ports.DecisionUnits`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[DecisionTx]:
        """One referral's transaction: committed if the block ends, rolled back if it raises."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield DecisionTx(conn, referral_id)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[DecisionBatchTx]:
        """A batch's transaction: its events inserted and committed if the block ends."""
        async with self._pool.acquire() as conn, conn.transaction():
            tx = DecisionBatchTx(conn)
            yield tx
            await tx.flush()

    async def referrals(self, since: datetime | None = None) -> AsyncIterator[ReferralReceived]:
        """Every stored referral (oldest first), for replaying a new rules version."""
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(
                "SELECT referral FROM decisions WHERE $1::timestamptz IS NULL OR received_at >= $1"
                " ORDER BY received_at",
                since,
            ):
                yield ReferralReceived.model_validate(row["referral"])
