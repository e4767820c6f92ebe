"""The services' own tables, read with each service's role: steps of one referral, and counts.

Rules kept here:
- every query names its columns; none selects a referral body, a submission, a payload, a
  provider's free-text reason or a delivery's error text: ids, states, codes, counts and
  times only (the router's trace is reduced to its rule names inside PostgreSQL);
- each service's DSN reaches only that service's schema, so each source is read on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg

from services.common.db import create_pool
from services.ops.domain import DecisionFacts, StateFact, Step

# What "this database cannot be read now" looks like: refused, timed out, or refused by PostgreSQL.
DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError)


@asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def intake_steps(pool: asyncpg.Pool, referral_id: UUID) -> list[Step]:
    steps: list[Step] = []
    row = await pool.fetchrow(
        "SELECT submission_id, agency_id, channel, received_at FROM referrals"
        " WHERE referral_id = $1",
        referral_id,
    )
    if row is not None:
        steps.append(
            Step(
                row["received_at"],
                "intake",
                "stored",
                {
                    "submission": row["submission_id"],
                    "agency": row["agency_id"],
                    "channel": row["channel"],
                },
            )
        )
    for r in await pool.fetch(
        "SELECT state, at, provider, pathway, priority FROM referral_timeline"
        " WHERE referral_id = $1",
        referral_id,
    ):
        steps.append(
            Step(
                r["at"],
                "intake",
                r["state"],
                {"provider": r["provider"], "pathway": r["pathway"], "priority": r["priority"]},
            )
        )
    return steps


async def router_steps(pool: asyncpg.Pool, referral_id: UUID) -> list[Step]:
    row = await pool.fetchrow(
        "SELECT rules_version, pathway, provider, priority, decided_at, published_at,"
        " jsonb_path_query_array(decision, '$.trace[*].rule') AS rules"
        " FROM decisions WHERE referral_id = $1",
        referral_id,
    )
    if row is None:
        return []
    steps = [
        Step(
            row["decided_at"],
            "router",
            "decided",
            {
                "pathway": row["pathway"],
                "provider": row["provider"] or "none",
                "priority": row["priority"],
                "rules_version": row["rules_version"],
                "rules": ",".join(str(r) for r in row["rules"] or []),
            },
        )
    ]
    if row["published_at"] is not None:
        steps.append(Step(row["published_at"], "router", "published", {}))
    return steps


async def gateway_steps(pool: asyncpg.Pool, referral_id: UUID) -> list[Step]:
    steps: list[Step] = []
    for table, what in (("referrals_received", "details_stored"), ("decisions", "decision_stored")):
        at = await pool.fetchval(
            f"SELECT stored_at FROM {table} WHERE referral_id = $1",  # noqa: S608 - fixed names
            referral_id,
        )
        if at is not None:
            steps.append(Step(at, "gateway", what, {}))
    for a in await pool.fetch(
        "SELECT assignment_id, round, provider, reason, priority, pathway, state, created_at,"
        " sla_due_at, delivered_at, accepted_at, overdue_at, superseded_at"
        " FROM assignments WHERE referral_id = $1",
        referral_id,
    ):
        ids = {"assignment": a["assignment_id"], "provider": a["provider"]}
        steps.append(
            Step(
                a["created_at"],
                "gateway",
                "assigned",
                ids
                | {
                    "round": a["round"],
                    "reason": a["reason"],
                    "pathway": a["pathway"],
                    "priority": a["priority"],
                    "state": a["state"],
                    "sla_due": a["sla_due_at"].isoformat(),
                },
            )
        )
        for column, what in (
            ("delivered_at", "delivered"),
            ("accepted_at", "accepted"),
            ("overdue_at", "overdue"),
            ("superseded_at", "superseded"),
        ):
            if a[column] is not None:
                steps.append(Step(a[column], "gateway", what, ids))
    for t in await pool.fetch(
        "SELECT t.assignment_id, t.channel, t.attempt, t.at, t.status_code, t.latency_ms,"
        " t.outcome, t.error_code FROM delivery_attempts t"
        " JOIN assignments a USING (assignment_id) WHERE a.referral_id = $1",
        referral_id,
    ):
        steps.append(
            Step(
                t["at"],
                "gateway",
                f"attempt:{t['outcome']}",
                {
                    "assignment": t["assignment_id"],
                    "channel": t["channel"],
                    "attempt": t["attempt"],
                    "status": t["status_code"],
                    # None while in flight, or when the outcome was never recorded (unknown).
                    "latency_ms": None if t["latency_ms"] is None else f"{t['latency_ms']:.1f}",
                    "error": t["error_code"],
                },
            )
        )
    for d in await pool.fetch(
        "SELECT d.assignment_id, d.channel, d.attempts, d.failed_at, d.last_status_code"
        " FROM deliveries d JOIN assignments a USING (assignment_id)"
        " WHERE a.referral_id = $1 AND d.failed_at IS NOT NULL",
        referral_id,
    ):
        steps.append(
            Step(
                d["failed_at"],
                "gateway",
                "delivery_failed",
                {
                    "assignment": d["assignment_id"],
                    "channel": d["channel"],
                    "attempts": d["attempts"],
                    "status": d["last_status_code"],
                },
            )
        )
    for r in await pool.fetch(
        "SELECT r.assignment_id, r.status, r.at, r.channel FROM responses r"
        " JOIN assignments a USING (assignment_id) WHERE a.referral_id = $1",
        referral_id,
    ):
        steps.append(
            Step(
                r["at"],
                "gateway",
                f"response:{r['status']}",
                {"assignment": r["assignment_id"], "channel": r["channel"]},
            )
        )
    return steps


async def decisions_in(
    pool: asyncpg.Pool, since: datetime | None, until: datetime | None
) -> list[DecisionFacts]:
    rows = await pool.fetch(
        "SELECT referral_id, pathway, provider, priority FROM decisions"
        " WHERE ($1::timestamptz IS NULL OR decided_at >= $1)"
        " AND ($2::timestamptz IS NULL OR decided_at < $2)",
        since,
        until,
    )
    return [
        DecisionFacts(r["referral_id"], r["pathway"], r["provider"], r["priority"]) for r in rows
    ]


async def received_in(
    pool: asyncpg.Pool, since: datetime | None, until: datetime | None
) -> list[StateFact]:
    rows = await pool.fetch(
        "SELECT referral_id FROM referrals"
        " WHERE ($1::timestamptz IS NULL OR received_at >= $1)"
        " AND ($2::timestamptz IS NULL OR received_at < $2)",
        since,
        until,
    )
    return [StateFact(r["referral_id"], "received") for r in rows]
