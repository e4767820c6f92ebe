"""Retention and the erasure command line on the real PostgreSQL.

Rules checked here:
- retention: the dry run lists the closed referrals past the period (and only those), the run
  erases exactly those, and a second run finds nothing more; the scheduled step erases a batch
  at a time until none is due;
- the command line says the same (`erase`, again, unknown id; `retention --dry-run`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.intake.adapters.erasure_store import ErasureStore
from services.intake.adapters.store import IntakeStore
from services.intake.handlers import retention_step, run_retention
from services.intake.ports import StatusChange
from tests.intake.stored import accepted, cli, state_of, stored_at

pytestmark = pytest.mark.integration


async def test_retention_dry_run_lists_then_the_run_erases_the_closed_and_old_only_once(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    # A world of its own in 2001, so referrals of other tests are never inside its window.
    start = datetime(2001, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=200)
    store = ErasureStore(pool)
    await run_retention(store, days=90, now=lambda: now, dry_run=False)  # earlier runs' leftovers
    closed_old, contacted_old, open_old, closed_recent = [
        await stored_at(pool, example_submission, start) for _ in range(4)
    ]
    intake = IntakeStore(pool)
    for rid, state, days in (
        (closed_old, "accepted", 3),
        (contacted_old, "contacted", 5),
        (open_old, "delivered", 3),  # delivered, never taken on: still open
        (closed_recent, "accepted", 150),  # closed 50 days before `now`: inside the period
    ):
        await intake.record_status(
            StatusChange(
                referral_id=rid,
                state=state,
                at=start + timedelta(days=days),
                source_event_id=f"t:{rid}",
            )
        )

    dry = await run_retention(store, days=90, now=lambda: now, dry_run=True)
    assert (sorted(dry.due), dry.erased) == (sorted([closed_old, contacted_old]), [])
    assert (await state_of(pool, closed_old))["erased_at"] is None

    run = await run_retention(store, days=90, now=lambda: now, dry_run=False)
    assert (len(run.due), sorted(run.erased)) == (2, sorted([closed_old, contacted_old]))
    for rid in (closed_old, contacted_old):
        erased = await state_of(pool, rid)
        assert (erased["submission"], erased["audit"]) == (None, 1)
        channel = await pool.fetchval(
            "SELECT channel || ':' || operator FROM erasure_audit WHERE referral_id = $1", rid
        )
        assert channel == "retention:retention"
    for rid in (open_old, closed_recent):
        assert (await state_of(pool, rid))["submission"] is not None

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
    closed = [await stored_at(pool, example_submission, start) for _ in range(3)]
    for rid in closed:
        await IntakeStore(pool).record_status(
            StatusChange(referral_id=rid, state="accepted", at=start, source_event_id=f"t:{rid}")
        )
    step = retention_step(store, days=90, now=lambda: now, batch=2)
    # The loop calls again at once while a step did something, and idles when it did nothing.
    assert [await step(), await step(), await step()] == [2, 1, 0]
    for rid in closed:
        assert (await state_of(pool, rid))["submission"] is None


async def test_the_erase_command_erases_once_and_names_an_unknown_id(
    pool: asyncpg.Pool, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    rid = await accepted(pool, example_submission)
    first = cli(stack_env, "erase", str(rid), "--reason", "DPO-1", "--operator", "a.n.other")
    assert (first.returncode, first.stdout.split(":")[0]) == (0, "erased"), first.stderr
    again = cli(stack_env, "erase", str(rid), "--reason", "DPO-1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already erased"), again.stdout
    unknown = cli(stack_env, "erase", str(uuid4()), "--reason", "DPO-1")
    assert unknown.returncode == 1
    assert "no referral has the id" in unknown.stderr
    bad = cli(stack_env, "erase", "not-a-uuid", "--reason", "DPO-1")
    assert bad.returncode == 2
    assert "referral_id must be a UUID" in bad.stderr
    audit = await pool.fetch("SELECT operator FROM erasure_audit WHERE referral_id = $1", rid)
    assert [r["operator"] for r in audit] == ["a.n.other"]


def test_the_retention_command_dry_run_prints_counts_and_ids_only(
    stack_env: dict[str, str],
) -> None:
    done = cli(stack_env, "retention", "--dry-run")
    assert done.returncode == 0, done.stderr
    head, *ids = done.stdout.splitlines()
    assert head.startswith("dry run: retention 90 days"), head
    assert " erased=0" in head, head
    assert f"due={len(ids)}" in head
    for line in ids:
        UUID(line)
