"""What the router's integration tests send and read: received referrals in, decisions out.

A referral is sent as intake sends it (CloudEvents headers, `ce_id` = `received:<referral_id>`,
keyed by the referral id); decisions are read back from `referrals.decided.v1`; `stored` counts
the router's rows for a set of referrals.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import ReferralReceived, ReferralSubmission, ce_headers
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import REFERRALS_DECIDED, REFERRALS_RECEIVED
from tests.support.kafka import Record, collect, connection, produce


def received_headers(referral: ReferralReceived) -> dict[str, str]:
    rid = str(referral.referral_id)
    return ce_headers(
        type=TYPE_RECEIVED,
        source="urn:nottssas:intake",
        time=referral.received_at,
        subject=rid,
        id=f"received:{rid}",
    )


async def send_received(bootstrap: str, referral: ReferralReceived) -> None:
    await produce(
        bootstrap,
        REFERRALS_RECEIVED,
        referral.model_dump_json().encode(),
        key=str(referral.referral_id),
        headers=received_headers(referral),
    )


async def send_all_received(bootstrap: str, referrals: list[ReferralReceived]) -> None:
    """Many referrals through one producer, all in flight at once (a backlog)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **connection()
    )
    await producer.start()
    try:
        sent = [
            await producer.send(
                REFERRALS_RECEIVED,
                r.model_dump_json().encode(),
                key=str(r.referral_id).encode(),
                headers=[(k, v.encode()) for k, v in received_headers(r).items()],
            )
            for r in referrals
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_decisions(bootstrap: str, ids: set[str], *, settle: float = 0.0) -> list[Record]:
    """The decisions of `ids` (then `settle` s more, so late duplicates show too)."""
    return await collect(
        bootstrap,
        REFERRALS_DECIDED,
        lambda r: r.key in ids,
        until=lambda kept: {r.key for r in kept} >= ids,
        timeout=120,
        settle=settle,
    )


def received(submission: dict[str, Any]) -> ReferralReceived:
    """A public case as intake would pass it on: received when it was submitted."""
    parsed = ReferralSubmission.model_validate(submission)
    return ReferralReceived(
        referral_id=uuid4(),
        received_at=parsed.submitted_at,
        referrer_agency="notts-police",
        submission=parsed,
    )


async def stored(dsn: str, ids: list[UUID]) -> tuple[int, int]:
    """(rows, rows marked published) in the router's `decisions` table for `ids`."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS rows, count(published_at) AS published FROM decisions"
            " WHERE referral_id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["rows"]), int(row["published"])


async def published_ids(dsn: str, ids: list[UUID]) -> set[str]:
    """Which of `ids` the router's `decisions` table has marked published (Kafka acknowledged
    their decision and the relay's mark committed)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT referral_id FROM decisions"
            " WHERE referral_id = ANY($1::uuid[]) AND published_at IS NOT NULL",
            ids,
        )
    finally:
        await conn.close()
    return {str(r["referral_id"]) for r in rows}


async def stored_at_least(
    dsn: str, ids: list[UUID], count: int, timeout: float = 60, *, published: int = 0
) -> int:
    """Poll until `count` of `ids` are stored, and `published` of them marked published (the
    router is mid-stream, its relay at work); how many were stored."""
    deadline = asyncio.get_running_loop().time() + timeout
    rows = 0
    while asyncio.get_running_loop().time() < deadline:
        rows, marked = await stored(dsn, ids)
        if rows >= count and marked >= published:
            break
        await asyncio.sleep(0.02)
    return rows
