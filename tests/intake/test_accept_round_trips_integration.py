"""Accepting a new submission costs one statement on PostgreSQL, and still writes everything.

The accept path is intake's throughput floor (issue 16): each statement is a round trip, and on
a busy machine each round trip is a context switch. The referral, its data key, its first
timeline entry, its outbox rows and the relay's wake-up are one statement (atomic as any
transaction); with an Idempotency-Key it runs in a transaction so that a lost key undoes it.
A new submission is stored first: the stored one is looked for only once the insert found the
submission taken (it then writes nothing), so a repeat costs the insert and the lookup.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.common.postcode_data import load_postcode_index
from services.common.sealing import EnvKek
from services.intake.adapters.sealer import ReferralSealer
from services.intake.adapters.store import IntakeStore
from services.intake.handlers import accept_submission
from shared import ReferralSubmission
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED
from tests.support.infra import DEV, read_env

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
_RESET = "SELECT pg_advisory_unlock_all"  # asyncpg's reset of a released connection


@pytest.fixture
async def counted(
    stack_env: dict[str, str], pool: asyncpg.Pool
) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A pool like intake's (JSONB codec), of one connection, that records each statement it
    sends once warm (asyncpg's one-off type introspection of a connection is not counted).
    `pool` (conftest) applies intake's migrations first, so the module runs on a fresh database."""
    sent: list[str] = []

    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        conn.add_query_logger(lambda record: sent.append(record.query))

    pool = await asyncpg.create_pool(
        stack_env["INTAKE_DATABASE_URL"], min_size=1, max_size=1, init=init
    )
    try:
        yield pool, sent
    finally:
        await pool.close()


async def _accept(pool: asyncpg.Pool, body: dict[str, Any], key: str | None, agency: str) -> Any:
    env = read_env(DEV / "stack.env")
    sealer = ReferralSealer(
        EnvKek.parse(env["PII_KEK_KEYS"], env["PII_KEK_PRIMARY"]), load_postcode_index()
    )
    return await accept_submission(
        IntakeStore(pool),
        ReferralSubmission.model_validate(body),
        agency_id=agency,
        idempotency_key=key,
        channel="http",
        now=lambda: NOW,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=sealer,
    )


async def _written(pool: asyncpg.Pool, referral_id: Any) -> dict[str, Any]:
    return dict(
        await pool.fetchrow(
            "SELECT (SELECT count(*) FROM keyvault.data_keys WHERE referral_id = $1) AS keys,"
            " (SELECT array_agg(state) FROM referral_timeline WHERE referral_id = $1) AS states,"
            " (SELECT array_agg(topic ORDER BY outbox_id) FROM outbox"
            "   WHERE message_key = $1::text) AS topics",
            referral_id,
        )
    )


async def test_a_new_submission_is_stored_in_one_statement_and_a_repeat_found_after_it(
    counted: tuple[asyncpg.Pool, list[str]], example_submission: dict[str, Any]
) -> None:
    pool, sent = counted
    agency = f"agency-{uuid4().hex[:8]}"
    await _accept(pool, example_submission | {"submission_id": f"W-{uuid4().hex}"}, None, agency)
    sent.clear()
    body = example_submission | {"submission_id": f"R-{uuid4().hex[:10]}"}
    accepted = await _accept(pool, body, None, agency)
    statements = [q for q in sent if not q.startswith(_RESET)]
    assert accepted.created
    assert len(statements) == 1, [q[:60] for q in statements]  # the insert of everything
    assert await _written(pool, accepted.referral_id) == {
        "keys": 1,
        "states": ["received"],
        "topics": [REFERRALS_RECEIVED, OPS_EVENTS],
    }
    sent.clear()
    again = await _accept(pool, body, None, agency)
    statements = [q for q in sent if not q.startswith(_RESET)]
    assert (again.referral_id, again.created) == (accepted.referral_id, False)
    assert len(statements) == 2, [q[:60] for q in statements]  # the insert (nothing), the lookup
    assert (await _written(pool, accepted.referral_id))["keys"] == 1


async def test_with_an_idempotency_key_the_insert_is_one_statement_in_a_transaction(
    counted: tuple[asyncpg.Pool, list[str]], example_submission: dict[str, Any]
) -> None:
    pool, sent = counted
    agency = f"agency-{uuid4().hex[:8]}"
    await _accept(pool, example_submission | {"submission_id": f"W-{uuid4().hex}"}, "w", agency)
    sent.clear()
    body = example_submission | {"submission_id": f"K-{uuid4().hex[:10]}"}
    accepted = await _accept(pool, body, "key-1", agency)
    statements = [q for q in sent if not q.startswith(_RESET)]
    # key owner, then BEGIN, the insert of everything, COMMIT
    assert len(statements) == 4, statements
    owner = await pool.fetchval(
        "SELECT submission_id FROM idempotency_keys WHERE agency_id = $1 AND idempotency_key = 'key-1'",
        agency,
    )
    assert owner == body["submission_id"]
    assert (await _written(pool, accepted.referral_id))["topics"] == [
        REFERRALS_RECEIVED,
        OPS_EVENTS,
    ]
