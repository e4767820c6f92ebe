"""Helpers of intake's erasure and retention tests on the real PostgreSQL: referrals stored
directly or through the acceptance use case, what is kept of one, the command line."""

from __future__ import annotations

import functools
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.common import sealing
from services.common.postcode_data import load_postcode_index
from services.intake.adapters.sealer import ReferralSealer
from services.intake.adapters.store import IntakeStore
from services.intake.domain.erasure import ErasureChannel, ErasureRequest
from services.intake.handlers import accept_submission
from shared import ReferralSubmission
from tests.support.cli import run_cli
from tests.support.infra import DEV, read_env, service_env

NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)


async def stored_at(pool: asyncpg.Pool, example: dict[str, Any], at: datetime) -> UUID:
    """A referral received at `at` (long ago: stored directly, as the clock check would refuse)."""
    rid = uuid4()
    stored = await IntakeStore(pool).insert_with_outbox(
        referral_id=rid,
        agency_id="notts-police",
        idempotency_key=None,
        submission_id=f"R-{uuid4().hex[:12]}",
        digest=b"d",
        submission=example,
        channel="http",
        received_at=at,
        messages=[],
        data_key=None,
    )
    assert stored
    return rid


@functools.cache
def sealer() -> ReferralSealer:
    """Seals under the stack's key-encryption key, as intake does (so tests can unseal)."""
    env = read_env(DEV / "stack.env")  # written by the stack_env fixture's scripts
    kek = sealing.EnvKek.parse(env["PII_KEK_KEYS"], env["PII_KEK_PRIMARY"])
    return ReferralSealer(kek, load_postcode_index())


async def accepted(pool: asyncpg.Pool, example: dict[str, Any]) -> UUID:
    """A referral accepted now (NOW) through the real use case, sealed as intake seals."""
    body = example | {"submission_id": f"E-{uuid4().hex[:12]}"}
    at = NOW
    outcome = await accept_submission(
        IntakeStore(pool),
        ReferralSubmission.model_validate(body),
        agency_id="notts-police",
        idempotency_key=None,
        channel="http",
        now=lambda: at,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=sealer(),
    )
    return outcome.referral_id


async def state_of(pool: asyncpg.Pool, rid: UUID) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT submission, body_digest, erased_at, submission_id FROM referrals"
        " WHERE referral_id = $1",
        rid,
    )
    outbox = await pool.fetch(
        "SELECT topic, headers->>'ce_id' AS id FROM outbox WHERE message_key = $1 ORDER BY 1, 2",
        str(rid),
    )
    return {
        **dict(row),
        "outbox": [(r["topic"], r["id"]) for r in outbox],
        "audit": await pool.fetchval(
            "SELECT count(*) FROM erasure_audit WHERE referral_id = $1", rid
        ),
        "timeline": [
            r["state"]
            for r in await pool.fetch(
                "SELECT state FROM referral_timeline WHERE referral_id = $1 ORDER BY at, state",
                rid,
            )
        ],
    }


def request(rid: UUID) -> ErasureRequest:
    return ErasureRequest(rid, "j.smith", "DPO-2026-0114", ErasureChannel.CLI)


def cli(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("services.intake", *args, env=service_env(stack_env), timeout=60)
