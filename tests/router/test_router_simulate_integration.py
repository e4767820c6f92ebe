"""`simulate --from-db` on the real PostgreSQL: a new rules version replayed over stored referrals.

Rules shown here (cli.py, adapters/store.py): the referrals stored with the router's decisions,
received at or after `--since`, are replayed through the candidate and the baseline version, and
the counts are exactly those the same referrals give when replayed from a file. The DSN comes
from ROUTER_DATABASE_URL. Fails, never skips, without PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.router.adapters.rules_files import RULES_DIR
from services.router.adapters.store import DecisionStore
from services.router.bootstrap import MIGRATIONS
from services.router.domain import PostcodeIndex, compare
from services.router.engine import CachedRules, Router
from services.router.offline.commands import format_comparison
from shared import ReferralReceived, ReferralSubmission
from tests.support.cli import run_cli_bytes
from tests.support.infra import service_env

pytestmark = pytest.mark.integration


async def test_simulate_from_db_counts_what_the_stored_referrals_would_change(
    stack_env: dict[str, str],
    public_cases: list[dict[str, Any]],
    rules: CachedRules,
    county_juno: CachedRules,
    onspd: PostcodeIndex,
) -> None:
    # Received within microseconds of `since`, in a future that moves on with the clock: every
    # earlier run's rows lie before this run's `since`, so it selects this run's rows only.
    since = datetime(2100, 1, 1, tzinfo=UTC) + timedelta(seconds=time.time())
    before = ReferralReceived(
        referral_id=uuid4(),
        received_at=since - timedelta(microseconds=1),
        referrer_agency="notts-police",
        submission=ReferralSubmission.model_validate(public_cases[1]["submission"]),
    )
    stored = [
        ReferralReceived(
            referral_id=uuid4(),
            received_at=since + timedelta(microseconds=i),
            referrer_agency="notts-police",
            submission=ReferralSubmission.model_validate(case["submission"]),
        )
        for i, case in enumerate(public_cases)
    ]
    pool = await create_pool(stack_env["ROUTER_DATABASE_URL"])
    try:
        await apply_migrations(pool, MIGRATIONS)
        store, decide = DecisionStore(pool), Router(rules, onspd)
        for referral in [before, *stored]:
            async with store.referral(referral.referral_id) as tx:
                await tx.save(referral, decide(referral))
    finally:
        await pool.close()
    expected = compare(stored, county_juno, rules, onspd)
    assert expected.changed >= 1, "the public cases include county referrals the change moves"

    candidate = RULES_DIR / "2026-11-county-juno.json"
    args = ["simulate", "--from-db", "--no-progress", "--rules", str(candidate)]
    try:
        result = run_cli_bytes(
            "services.router", *args, "--since", since.isoformat(), env=service_env(stack_env)
        )
    finally:
        # Rows dated in 2100 would otherwise sit in the development database for good.
        await _forget(stack_env["ROUTER_DATABASE_URL"], [r.referral_id for r in [before, *stored]])
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == format_comparison(expected)
    assert f"referrals: {len(stored)}  changed: {expected.changed}" in result.stdout.decode()


async def _forget(dsn: str, ids: list[UUID]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM decisions WHERE referral_id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
