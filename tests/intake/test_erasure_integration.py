"""Erasure on the real PostgreSQL: what is removed, what stays, and only once.

Rules checked here:
- `erase` nulls the submission and its digest, deletes the `referrals.received.v1` copies in
  the outbox, appends one audit row and one `erased` timeline entry, and queues one `erased`
  ops event (stable id); ids, agency, times and the earlier timeline stay;
- erasing again says "already erased" and writes nothing; an unknown id is "unknown";
- another referral is untouched; the audit refuses to be changed.
Retention and the command line are in test_retention_integration.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.common import sealing
from services.intake.adapters.erasure_store import ErasureStore
from services.intake.domain.erasure import ErasureOutcome
from services.intake.handlers import erase_referral
from shared import ReferralSubmission
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED
from tests.intake.stored import NOW, accepted, request, state_of

pytestmark = pytest.mark.integration


async def test_erase_removes_the_personal_copies_and_keeps_ids_states_and_times(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid, other = (
        await accepted(pool, example_submission),
        await accepted(pool, example_submission),
    )
    before = await state_of(pool, rid)
    assert before["submission"] is not None
    assert (REFERRALS_RECEIVED, f"received:{rid}") in before["outbox"]
    at = NOW + timedelta(days=1)

    done = await erase_referral(ErasureStore(pool), request(rid), now=lambda: at)

    assert (done.outcome, done.erased_at) == (ErasureOutcome.ERASED, at)
    after = await state_of(pool, rid)
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
    untouched = await state_of(pool, other)
    assert untouched["submission"] is not None
    assert untouched["erased_at"] is None
    assert (REFERRALS_RECEIVED, f"received:{other}") in untouched["outbox"]


async def test_erase_destroys_the_data_key_so_no_sealed_copy_opens_and_others_still_do(
    pool: asyncpg.Pool, stack_env: dict[str, str], example_submission: dict[str, Any]
) -> None:
    kek = sealing.EnvKek.parse(stack_env["PII_KEK_KEYS"], stack_env["PII_KEK_PRIMARY"])
    submission = ReferralSubmission.model_validate(example_submission)
    rid, other = (
        await accepted(pool, example_submission),
        await accepted(pool, example_submission),
    )
    sealed = {}
    for referral_id in (rid, other):
        # A sealed copy under the referral's own data key (made here if intake made none).
        try:
            key = await sealing.load_data_key(pool, referral_id, kek)
            sealed[referral_id] = sealing.seal_submission(submission, key)
        except sealing.DataKeyNotFound:
            sealed[referral_id] = await sealing.seal(pool, kek, referral_id, submission, NOW)
    await erase_referral(ErasureStore(pool), request(rid), now=lambda: NOW)
    with pytest.raises(sealing.DataKeyDestroyed):
        await sealing.unseal(pool, kek, rid, sealed[rid])
    row = await pool.fetchrow("SELECT * FROM keyvault.data_keys WHERE referral_id = $1", rid)
    assert (row["wrapped_key"], row["destroyed_at"]) == (None, NOW)
    assert await sealing.unseal(pool, kek, other, sealed[other]) == submission


async def test_erasing_twice_says_already_erased_and_changes_nothing(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid = await accepted(pool, example_submission)
    first = await erase_referral(ErasureStore(pool), request(rid), now=lambda: NOW)
    once = await state_of(pool, rid)
    later = NOW + timedelta(hours=3)
    again = await erase_referral(ErasureStore(pool), request(rid), now=lambda: later)
    assert (again.outcome, again.erased_at) == (ErasureOutcome.ALREADY_ERASED, first.erased_at)
    assert await state_of(pool, rid) == once


async def test_an_unknown_referral_is_unknown_and_nothing_is_written(pool: asyncpg.Pool) -> None:
    audits = await pool.fetchval("SELECT count(*) FROM erasure_audit")
    done = await erase_referral(ErasureStore(pool), request(uuid4()), now=lambda: NOW)
    assert done.outcome is ErasureOutcome.UNKNOWN
    assert await pool.fetchval("SELECT count(*) FROM erasure_audit") == audits


async def test_the_erasure_audit_is_append_only(
    pool: asyncpg.Pool, example_submission: dict[str, Any]
) -> None:
    rid = await accepted(pool, example_submission)
    await erase_referral(ErasureStore(pool), request(rid), now=lambda: NOW)
    for statement in (
        "UPDATE erasure_audit SET operator = 'someone' WHERE referral_id = $1",
        "DELETE FROM erasure_audit WHERE referral_id = $1",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement, rid)
