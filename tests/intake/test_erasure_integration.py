"""Erasure and retention on the real PostgreSQL: what is removed, what stays, and only once.

Rules checked here:
- `erase` nulls the submission and its digest, deletes the `referrals.received.v1` copies in
  the outbox, appends one audit row and one `erased` timeline entry, and queues one `erased`
  ops event (stable id); ids, agency, times and the earlier timeline stay;
- erasing again says "already erased" and writes nothing; an unknown id is "unknown";
- another referral is untouched; the audit refuses to be changed;
- retention: the dry run lists the closed referrals past the period (and only those), the run
  erases exactly those, and a second run finds nothing more;
- the command line says the same (`erase`, again, unknown id).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common import sealing
from services.common.db import apply_migrations, create_pool
from services.common.postcode_data import load_postcode_index
from services.intake.adapters.erasure_store import ErasureStore
from services.intake.adapters.store import IntakeStore
from services.intake.domain.erasure import ErasureChannel, ErasureOutcome, ErasureRequest
from services.intake.erasure import erase_referral, retention_step, run_retention
from services.intake.handlers import accept_submission
from services.intake.sealing import ReferralSealer
from shared import ReferralSubmission
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED
from tests.support.infra import DEV, ROOT, read_env, service_env

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "services" / "intake" / "migrations"
NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack_env["INTAKE_DATABASE_URL"], max_size=4)
    try:
        await apply_migrations(pool, MIGRATIONS)
        yield pool
    finally:
        await pool.close()


async def _stored_at(pool: asyncpg.Pool, example: dict[str, Any], at: datetime) -> UUID:
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
def _sealer() -> ReferralSealer:
    """Seals under the stack's key-encryption key, as intake does (so tests can unseal)."""
    env = read_env(DEV / "stack.env")  # written by the stack_env fixture's scripts
    kek = sealing.EnvKek.parse(env["PII_KEK_KEYS"], env["PII_KEK_PRIMARY"])
    return ReferralSealer(kek, load_postcode_index())


async def _accepted(pool: asyncpg.Pool, example: dict[str, Any]) -> UUID:
    body = example | {"submission_id": f"E-{uuid4().hex[:12]}"}
    at = NOW
    accepted = await accept_submission(
        IntakeStore(pool),
        ReferralSubmission.model_validate(body),
        agency_id="notts-police",
        idempotency_key=None,
        channel="http",
        now=lambda: at,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=_sealer(),
    )
    return accepted.referral_id


async def _state(pool: asyncpg.Pool, rid: UUID) -> dict[str, Any]:
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


def _request(rid: UUID) -> ErasureRequest:
    return ErasureRequest(rid, "j.smith", "DPO-2026-0114", ErasureChannel.CLI)


async def test_erase_removes_the_personal_copies_and_keeps_ids_states_and_times(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid, other = (
        await _accepted(pool, example_submission),
        await _accepted(pool, example_submission),
    )
    before = await _state(pool, rid)
    assert before["submission"] is not None
    assert (REFERRALS_RECEIVED, f"received:{rid}") in before["outbox"]
    at = NOW + timedelta(days=1)

    done = await erase_referral(ErasureStore(pool), _request(rid), now=lambda: at)

    assert (done.outcome, done.erased_at) == (ErasureOutcome.ERASED, at)
    after = await _state(pool, rid)
    assert (after["submission"], after["body_digest"], after["erased_at"]) == (None, b"", at)
    assert after["submission_id"] == before["submission_id"]
    assert after["outbox"] == [
        (OPS_EVENTS, f"ops:erased:{rid}"),
        (OPS_EVENTS, f"ops:received:{rid}"),
    ]
    assert (after["audit"], after["timeline"]) == (1, ["received", "erased"])
    audit = await pool.fetchrow("SELECT * FROM erasure_audit WHERE referral_id = $1", rid)
    assert (audit["operator"], audit["reason"], audit["channel"]) == (
        "j.smith",
        "DPO-2026-0114",
        "cli",
    )
    payload = await pool.fetchval(
        "SELECT payload FROM outbox WHERE message_key = $1 AND headers->>'ce_id' = $2",
        str(rid),
        f"ops:erased:{rid}",
    )
    event = json.loads(payload)
    assert (event["state"], event["reason_code"], event["referral_id"]) == (
        "erased",
        "operator_request",
        str(rid),
    )
    untouched = await _state(pool, other)
    assert untouched["submission"] is not None
    assert untouched["erased_at"] is None
    assert (REFERRALS_RECEIVED, f"received:{other}") in untouched["outbox"]


async def test_erase_destroys_the_data_key_so_no_sealed_copy_opens_and_others_still_do(
    pool: asyncpg.Pool, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    kek = sealing.EnvKek.parse(stack_env["PII_KEK_KEYS"], stack_env["PII_KEK_PRIMARY"])
    submission = ReferralSubmission.model_validate(example_submission)
    rid, other = (
        await _accepted(pool, example_submission),
        await _accepted(pool, example_submission),
    )
    sealed = {}
    for referral_id in (rid, other):
        # A sealed copy under the referral's own data key (made here if intake made none).
        try:
            key = await sealing.load_data_key(pool, referral_id, kek)
            sealed[referral_id] = sealing.seal_submission(submission, key)
        except sealing.DataKeyNotFound:
            sealed[referral_id] = await sealing.seal(pool, kek, referral_id, submission, NOW)
    await erase_referral(ErasureStore(pool), _request(rid), now=lambda: NOW)
    with pytest.raises(sealing.DataKeyDestroyed):
        await sealing.unseal(pool, kek, rid, sealed[rid])
    row = await pool.fetchrow("SELECT * FROM keyvault.data_keys WHERE referral_id = $1", rid)
    assert (row["wrapped_key"], row["destroyed_at"]) == (None, NOW)
    assert await sealing.unseal(pool, kek, other, sealed[other]) == submission


async def test_erasing_twice_says_already_erased_and_changes_nothing(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid = await _accepted(pool, example_submission)
    first = await erase_referral(ErasureStore(pool), _request(rid), now=lambda: NOW)
    once = await _state(pool, rid)
    later = NOW + timedelta(hours=3)
    again = await erase_referral(ErasureStore(pool), _request(rid), now=lambda: later)
    assert (again.outcome, again.erased_at) == (ErasureOutcome.ALREADY_ERASED, first.erased_at)
    assert await _state(pool, rid) == once


async def test_an_unknown_referral_is_unknown_and_nothing_is_written(pool: asyncpg.Pool) -> None:
    audits = await pool.fetchval("SELECT count(*) FROM erasure_audit")
    done = await erase_referral(ErasureStore(pool), _request(uuid4()), now=lambda: NOW)
    assert done.outcome is ErasureOutcome.UNKNOWN
    assert await pool.fetchval("SELECT count(*) FROM erasure_audit") == audits


async def test_the_erasure_audit_is_append_only(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid = await _accepted(pool, example_submission)
    await erase_referral(ErasureStore(pool), _request(rid), now=lambda: NOW)
    for statement in (
        "UPDATE erasure_audit SET operator = 'someone' WHERE referral_id = $1",
        "DELETE FROM erasure_audit WHERE referral_id = $1",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement, rid)


async def test_retention_dry_run_lists_then_the_run_erases_the_closed_and_old_only_once(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    # A world of its own in 2001, so referrals of other tests are never inside its window.
    start = datetime(2001, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=200)
    store = ErasureStore(pool)
    await run_retention(store, days=90, now=lambda: now, dry_run=False)  # earlier runs' leftovers
    closed_old, contacted_old, open_old, closed_recent = [
        await _stored_at(pool, example_submission, start) for _ in range(4)
    ]
    intake = IntakeStore(pool)
    for rid, state, days in (
        (closed_old, "accepted", 3),
        (contacted_old, "contacted", 5),
        (open_old, "delivered", 3),  # delivered, never taken on: still open
        (closed_recent, "accepted", 150),  # closed 50 days before `now`: inside the period
    ):
        await intake.record_status(
            referral_id=rid,
            state=state,
            at=start + timedelta(days=days),
            source_event_id=f"t:{rid}",
        )

    dry = await run_retention(store, days=90, now=lambda: now, dry_run=True)
    assert (sorted(dry.due), dry.erased) == (sorted([closed_old, contacted_old]), [])
    assert (await _state(pool, closed_old))["erased_at"] is None

    run = await run_retention(store, days=90, now=lambda: now, dry_run=False)
    assert (len(run.due), sorted(run.erased)) == (2, sorted([closed_old, contacted_old]))
    for rid in (closed_old, contacted_old):
        erased = await _state(pool, rid)
        assert (erased["submission"], erased["audit"]) == (None, 1)
        channel = await pool.fetchval(
            "SELECT channel || ':' || operator FROM erasure_audit WHERE referral_id = $1", rid
        )
        assert channel == "retention:retention"
    for rid in (open_old, closed_recent):
        assert (await _state(pool, rid))["submission"] is not None

    second = await run_retention(store, days=90, now=lambda: now, dry_run=False)
    assert (second.due, second.erased) == ([], [])


async def test_the_scheduled_retention_step_erases_a_batch_at_a_time_until_none_is_due(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    # Its own world in 1995 (see above): what intake's retention loop runs each interval.
    start = datetime(1995, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=200)
    store = ErasureStore(pool)
    await run_retention(store, days=90, now=lambda: now, dry_run=False)  # earlier runs' leftovers
    closed = [await _stored_at(pool, example_submission, start) for _ in range(3)]
    for rid in closed:
        await IntakeStore(pool).record_status(
            referral_id=rid, state="accepted", at=start, source_event_id=f"t:{rid}"
        )
    step = retention_step(store, days=90, now=lambda: now, batch=2)
    # The loop calls again at once while a step did something, and idles when it did nothing.
    assert [await step(), await step(), await step()] == [2, 1, 0]
    for rid in closed:
        assert (await _state(pool, rid))["submission"] is None


def _cli(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.intake", *args],
        cwd=ROOT,
        env=service_env(stack_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_erase_command_erases_once_and_names_an_unknown_id(
    pool: asyncpg.Pool, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    rid = await _accepted(pool, example_submission)
    first = _cli(stack_env, "erase", str(rid), "--reason", "DPO-1", "--operator", "a.n.other")
    assert (first.returncode, first.stdout.split(":")[0]) == (0, "erased"), first.stderr
    again = _cli(stack_env, "erase", str(rid), "--reason", "DPO-1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already erased"), again.stdout
    unknown = _cli(stack_env, "erase", str(uuid4()), "--reason", "DPO-1")
    assert unknown.returncode == 1
    assert "no referral has the id" in unknown.stderr
    bad = _cli(stack_env, "erase", "not-a-uuid", "--reason", "DPO-1")
    assert bad.returncode == 2
    assert "referral_id must be a UUID" in bad.stderr
    audit = await pool.fetch("SELECT operator FROM erasure_audit WHERE referral_id = $1", rid)
    assert [r["operator"] for r in audit] == ["a.n.other"]


def test_the_retention_command_dry_run_prints_counts_and_ids_only(
    stack_env: dict[str, str],
) -> None:
    done = _cli(stack_env, "retention", "--dry-run")
    assert done.returncode == 0, done.stderr
    head, *ids = done.stdout.splitlines()
    assert head.startswith("dry run: retention 90 days"), head
    assert " erased=0" in head, head
    assert f"due={len(ids)}" in head
    for line in ids:
        UUID(line)
