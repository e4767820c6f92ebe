"""One submission, one referral, enforced by PostgreSQL: concurrent duplicates, keys, migration 0002."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.postcode_data import load_postcode_index
from services.common.sealing import EnvKek
from services.intake.adapters.sealer import ReferralSealer
from services.intake.adapters.store import IntakeStore
from services.intake.domain import (
    Acceptance,
    IdempotencyKeyConflict,
    SubmissionConflict,
)
from services.intake.handlers import accept_submission
from shared import ReferralSubmission
from shared.topics import REFERRALS_RECEIVED
from tests.support.infra import DEV, read_env

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "intake" / "migrations"
NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)


@cache
def _sealer() -> ReferralSealer:
    # The stack's own key ring: these referrals' outbox rows stay in the shared database, and a
    # later intake publishes them, so the gateway must be able to open them.
    env = read_env(DEV / "stack.env")
    kek = EnvKek.parse(env["PII_KEK_KEYS"], env["PII_KEK_PRIMARY"])
    return ReferralSealer(kek, load_postcode_index())


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"], max_size=12)
    try:
        yield pool
    finally:
        await pool.close()


async def _accept(pool: asyncpg.Pool, body: dict[str, Any], key: str | None, agency: str) -> Any:
    try:
        return await accept_submission(
            IntakeStore(pool),
            ReferralSubmission.model_validate(body),
            agency_id=agency,
            idempotency_key=key,
            channel="http",
            now=lambda: NOW,
            new_id=uuid4,
            clock_skew=timedelta(minutes=5),
            seal=_sealer(),
        )
    except (SubmissionConflict, IdempotencyKeyConflict) as exc:
        return exc


async def _stored(pool: asyncpg.Pool, agency: str, submission_id: str) -> tuple[int, int]:
    referrals = await pool.fetchval(
        "SELECT count(*) FROM referrals WHERE agency_id = $1 AND submission_id = $2",
        agency,
        submission_id,
    )
    events = await pool.fetchval(
        "SELECT count(*) FROM outbox o JOIN referrals r ON o.message_key = r.referral_id::text"
        " WHERE r.agency_id = $1 AND r.submission_id = $2 AND o.topic = $3",
        agency,
        submission_id,
        REFERRALS_RECEIVED,
    )
    return referrals, events


async def test_concurrent_copies_of_one_submission_under_any_keys_make_one_referral(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    agency = f"agency-{uuid4().hex[:8]}"
    body = example_submission | {"submission_id": f"C-{uuid4().hex[:10]}"}
    keys = [None, "k1", "k2", None, "k1", "k3", None, "k2"]
    outcomes = await asyncio.gather(*(_accept(pool, body, key, agency) for key in keys))
    assert all(isinstance(o, Acceptance) for o in outcomes), outcomes
    assert len({o.referral_id for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1
    assert await _stored(pool, agency, body["submission_id"]) == (1, 1)


async def test_concurrent_different_bodies_make_one_referral_and_conflicts_naming_the_field(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    agency = f"agency-{uuid4().hex[:8]}"
    sid = f"D-{uuid4().hex[:10]}"
    bodies = [
        example_submission | {"submission_id": sid, "police_crime_reference": f"CR-{i}"}
        for i in range(6)
    ]
    outcomes = await asyncio.gather(*(_accept(pool, b, None, agency) for b in bodies))
    assert sum(isinstance(o, Acceptance) for o in outcomes) == 1
    assert {o.field for o in outcomes if not isinstance(o, Acceptance)} == {"submission_id"}
    # One key raced by six different submissions: one owns it, the others are refused by it.
    others = [example_submission | {"submission_id": f"E-{uuid4().hex[:10]}"} for _ in range(6)]
    raced = await asyncio.gather(*(_accept(pool, b, "shared-key", agency) for b in others))
    assert sum(isinstance(o, Acceptance) for o in raced) == 1
    assert {o.field for o in raced if not isinstance(o, Acceptance)} == {"Idempotency-Key"}
    stored = await asyncio.gather(*(_stored(pool, agency, b["submission_id"]) for b in others))
    assert sorted(stored) == [(0, 0)] * 5 + [(1, 1)]


async def test_migration_0002_keeps_earlier_duplicates_and_answers_with_the_first(
    pool: asyncpg.Pool,
) -> None:
    """Intake's tables as 0001 left them, rebuilt as temporary tables, with the rows the old
    rule let in: one submission stored under two keys. Nothing is deleted."""
    first, second, other = uuid4(), uuid4(), uuid4()
    with pytest.raises(_Rollback):
        await _migrate_old_rows(pool, first, second, other)


async def _migrate_old_rows(pool: asyncpg.Pool, first: Any, second: Any, other: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL search_path TO pg_temp")
        await conn.execute((MIGRATIONS / "0001_init.sql").read_text())
        for rid, key, sid, minute in (
            (first, "S1", "S1", 1),
            (second, "K2", "S1", 2),
            (other, "K9", "S9", 3),
        ):
            await conn.execute(
                "INSERT INTO referrals VALUES ($1, 'a', $2, $3, '\\x00', '{}', 'http',"
                " $4::timestamptz)",
                rid,
                key,
                sid,
                NOW + timedelta(minutes=minute),
            )
        await conn.execute((MIGRATIONS / "0002_one_submission_one_referral.sql").read_text())
        rows = await conn.fetch("SELECT referral_id, duplicate_of FROM referrals")
        keys = await conn.fetch("SELECT idempotency_key, submission_id FROM idempotency_keys")
        assert {r["referral_id"]: r["duplicate_of"] for r in rows} == {
            first: None,
            second: first,
            other: None,
        }
        assert {(k["idempotency_key"], k["submission_id"]) for k in keys} == {
            ("K2", "S1"),
            ("K9", "S9"),
        }
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO referrals VALUES ($1, 'a', NULL, 'S1', '\\x00', '{}', 'http', now())",
                uuid4(),
            )
        raise _Rollback  # leaves nothing behind


class _Rollback(Exception):
    """Rolls the scratch transaction back."""
