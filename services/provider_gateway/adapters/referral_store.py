"""PostgreSQL for everything that happens to one referral: its halves, rounds and answers.

Rules kept here:
- all work on one referral runs in one transaction holding `pg_advisory_xact_lock` on the
  referral id, so the received and decided handlers, provider answers and the deadline
  checker never interleave on the same referral (the two halves may arrive in either order);
- inserts are `ON CONFLICT DO NOTHING`: a redelivered event changes nothing;
- an assignment is written with its delivery rows and a NOTIFY that wakes the delivery worker
  on commit; superseding an assignment cancels whatever of it is still undelivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from services.common.telemetry import traceparent
from services.provider_gateway.adapters import outbox
from services.provider_gateway.domain import ReferralErased, State
from services.provider_gateway.ports import AssignmentRow
from shared import (
    Assignment,
    Decision,
    Pathway,
    Priority,
    Provider,
    ProviderResponse,
    ReferralReceived,
)

DELIVERY_CHANNEL: Final = "gateway_deliveries"


_COLUMNS = ", ".join(AssignmentRow.__dataclass_fields__)


def _row(record: asyncpg.Record) -> AssignmentRow:
    values = dict(record)
    values.update(
        provider=Provider(values["provider"]),
        priority=Priority(values["priority"]),
        pathway=Pathway(values["pathway"]),
        state=State(values["state"]),
    )
    return AssignmentRow(**values)


class ReferralTx(outbox.OutboxTx):
    """The operations on one referral inside its locked transaction."""

    def __init__(self, conn: asyncpg.Connection, referral_id: UUID) -> None:
        super().__init__(conn)
        self.referral_id = referral_id

    async def save_received(self, event: ReferralReceived) -> bool:
        # Details arriving after their referral was erased are not kept (docs/privacy.md).
        done: str = await self._conn.execute(
            "INSERT INTO referrals_received (referral_id, received) SELECT $1, $2"
            " WHERE NOT EXISTS (SELECT 1 FROM erased_referrals WHERE referral_id = $1)"
            " ON CONFLICT (referral_id) DO NOTHING",
            event.referral_id,
            event.model_dump(mode="json"),
        )
        return done.endswith(" 1")

    async def save_decision(self, decision: Decision) -> bool:
        done: str = await self._conn.execute(
            "INSERT INTO decisions (referral_id, decision) VALUES ($1, $2)"
            " ON CONFLICT (referral_id) DO NOTHING",
            decision.referral_id,
            decision.model_dump(mode="json"),
        )
        return done.endswith(" 1")

    async def received(self) -> ReferralReceived | None:
        raw = await self._conn.fetchval(
            "SELECT received FROM referrals_received WHERE referral_id = $1", self.referral_id
        )
        return None if raw is None else ReferralReceived.model_validate(raw)

    async def decision(self) -> Decision | None:
        raw = await self._conn.fetchval(
            "SELECT decision FROM decisions WHERE referral_id = $1", self.referral_id
        )
        return None if raw is None else Decision.model_validate(raw)

    async def assignments(self) -> list[AssignmentRow]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM assignments WHERE referral_id = $1 ORDER BY round",  # noqa: S608 - fixed column list
            self.referral_id,
        )
        return [_row(r) for r in rows]

    async def body(self, assignment_id: str) -> Assignment:
        raw = await self._conn.fetchval(
            "SELECT payload FROM assignments WHERE assignment_id = $1", assignment_id
        )
        if raw is None:  # nulled by an erasure (adapters.erasure_store)
            raise ReferralErased(assignment_id)
        return Assignment.model_validate(raw)

    async def add_assignment(
        self,
        assignment: Assignment,
        *,
        round_no: int,
        sla_due_at: datetime,
        channels: tuple[str, ...],
    ) -> None:
        d = assignment.decision
        await self._conn.execute(
            "INSERT INTO assignments (assignment_id, referral_id, round, provider, reason,"
            " priority, pathway, payload, created_at, sla_due_at, traceparent)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            assignment.assignment_id,
            assignment.referral_id,
            round_no,
            assignment.provider.value,
            assignment.reason,
            d.priority.value,
            d.pathway.value,
            assignment.model_dump(mode="json"),
            assignment.assigned_at,
            sla_due_at,
            # The trace this assignment was made in, resumed when it is delivered.
            traceparent(),
        )
        await self._conn.executemany(
            "INSERT INTO deliveries (assignment_id, channel, next_attempt_at) VALUES ($1, $2, $3)",
            [(assignment.assignment_id, channel, assignment.assigned_at) for channel in channels],
        )
        await self._conn.execute("SELECT pg_notify($1, '')", DELIVERY_CHANNEL)

    async def supersede(self, assignment_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE assignments SET superseded_at = $2 WHERE assignment_id = $1", assignment_id, at
        )
        await self._conn.execute(
            "UPDATE deliveries SET state = 'cancelled'"
            " WHERE assignment_id = $1 AND state = 'pending'",
            assignment_id,
        )

    async def has_response(self, assignment_id: str, response: ProviderResponse) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM responses WHERE assignment_id = $1 AND status = $2",
            assignment_id,
            response.status.value,
        )
        return found is not None

    async def save_response(
        self, assignment_id: str, response: ProviderResponse, *, channel: str, state: State
    ) -> None:
        await self._conn.execute(
            "INSERT INTO responses (assignment_id, status, at, reason, channel)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            assignment_id,
            response.status.value,
            response.at,
            response.reason,
            channel,
        )
        await self._conn.execute(
            "UPDATE assignments SET state = $2, accepted_at = CASE WHEN $2 IN"
            " ('accepted', 'contacted') THEN coalesce(accepted_at, $3) ELSE accepted_at END"
            " WHERE assignment_id = $1",
            assignment_id,
            state.value,
            response.at,
        )

    async def mark_overdue(self, assignment_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE assignments SET overdue_at = $2 WHERE assignment_id = $1", assignment_id, at
        )

    async def mark_half_alerted(self, at: datetime) -> bool:
        """Note that ops were told a half is missing; False if they already were."""
        done = 0
        for table in ("referrals_received", "decisions"):
            status: str = await self._conn.execute(
                f"UPDATE {table} SET missing_alerted_at = $2"  # noqa: S608 - fixed table names
                " WHERE referral_id = $1 AND missing_alerted_at IS NULL",
                self.referral_id,
                at,
            )
            done += int(status.rsplit(" ", 1)[-1])
        return done > 0


class ReferralStore:
    """Opens locked per-referral transactions, and finds referrals whose deadline passed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def referral(self, referral_id: UUID) -> AsyncIterator[ReferralTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            # hashtextextended gives a bigint key from the id; collisions only serialise more.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", str(referral_id)
            )
            yield ReferralTx(conn, referral_id)

    async def halves_waiting(self, stored_before: datetime, limit: int = 100) -> list[UUID]:
        """Referrals with only one half, stored before `stored_before`, not yet alerted."""
        rows = await self._pool.fetch(
            "(SELECT r.referral_id FROM referrals_received r"
            " WHERE r.missing_alerted_at IS NULL AND r.stored_at <= $1 AND NOT EXISTS"
            " (SELECT 1 FROM decisions d WHERE d.referral_id = r.referral_id) LIMIT $2)"
            " UNION "
            "(SELECT d.referral_id FROM decisions d"
            " WHERE d.missing_alerted_at IS NULL AND d.stored_at <= $1 AND NOT EXISTS"
            " (SELECT 1 FROM referrals_received r WHERE r.referral_id = d.referral_id) LIMIT $2)",
            stored_before,
            limit,
        )
        return [r["referral_id"] for r in rows]

    async def overdue(self, now: datetime, limit: int = 100) -> list[UUID]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT referral_id FROM assignments WHERE state = 'assigned'"
            " AND overdue_at IS NULL AND superseded_at IS NULL AND sla_due_at <= $1"
            " AND payload IS NOT NULL LIMIT $2",
            now,
            limit,
        )
        return [r["referral_id"] for r in rows]
