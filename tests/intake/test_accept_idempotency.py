"""Intake's idempotency rules, run through the real handler against an in-memory store: one
submission is one referral on every path; conflicts name the field at fault."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.intake.domain import (
    IdempotencyConflict,
    IdempotencyKeyConflict,
    SubmissionConflict,
)
from services.intake.handlers import accept_submission
from shared import ReferralSubmission
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED
from tests.intake.fakes import NOW, SEAL, FakeStore, accept


async def test_the_same_submission_twice_returns_the_original_referral(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    first = await accept(store, submission)
    again = await accept(store, submission)
    assert (again.referral_id, again.created) == (first.referral_id, False)
    assert [m.topic for m in store.outbox] == [REFERRALS_RECEIVED, OPS_EVENTS]


async def test_a_different_body_under_the_same_key_is_a_conflict(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await accept(store, submission)
    example_submission["conduct"]["incident_count"] = 7
    changed = ReferralSubmission.model_validate(example_submission)
    with pytest.raises(IdempotencyConflict):
        await accept(store, changed)


async def test_the_same_submission_with_any_key_or_none_is_one_referral(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    a = await accept(store, submission, key="k-1")
    b = await accept(store, submission)
    c = await accept(store, submission, key="k-2")
    assert [a.created, b.created, c.created] == [True, False, False]
    assert a.referral_id == b.referral_id == c.referral_id
    assert [m.topic for m in store.outbox] == [REFERRALS_RECEIVED, OPS_EVENTS]


async def test_different_content_under_a_submission_id_conflicts_naming_submission_id(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await accept(store, submission, key="k-1")
    example_submission["conduct"]["incident_count"] = 7
    changed = ReferralSubmission.model_validate(example_submission)
    for key in (None, "k-1", "k-2"):
        with pytest.raises(SubmissionConflict) as caught:
            await accept(store, changed, key=key)
        assert caught.value.field == "submission_id"
    assert len(store.rows) == 1


async def test_a_key_used_for_another_submission_conflicts_naming_the_header(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await accept(store, submission, key="k-1")
    other = ReferralSubmission.model_validate(example_submission | {"submission_id": "OTHER-1"})
    with pytest.raises(IdempotencyKeyConflict) as caught:
        await accept(store, other, key="k-1")
    assert caught.value.field == "Idempotency-Key"
    assert set(store.rows) == {("police", submission.submission_id)}


async def test_a_key_equal_to_another_submissions_id_is_no_conflict(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    first = await accept(store, submission)
    other = ReferralSubmission.model_validate(example_submission | {"submission_id": "OTHER-2"})
    second = await accept(store, other, key=submission.submission_id)
    assert second.created
    assert second.referral_id != first.referral_id


async def test_two_agencies_may_use_the_same_submission_id(submission: ReferralSubmission) -> None:
    store = FakeStore()
    a = await accept(store, submission, agency="police")
    b = await accept(store, submission, agency="social-care")
    assert a.referral_id != b.referral_id


async def test_equivalent_json_spellings_are_the_same_submission(
    example_submission: dict[str, Any],
) -> None:
    store = FakeStore()
    first = await accept(store, ReferralSubmission.model_validate(example_submission))
    respelled = json.loads(json.dumps(example_submission, sort_keys=True))
    respelled["victim"]["postcode"] = "ng7 2ah"
    again = await accept(store, ReferralSubmission.model_validate(respelled))
    assert again.referral_id == first.referral_id


async def test_kafka_and_http_share_one_rule_for_a_submission(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    over_http = await accept(store, submission, key="k-1")
    over_kafka = await accept_submission(
        store,
        submission,
        agency_id="police",
        idempotency_key=None,
        channel="kafka",
        now=lambda: NOW,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=SEAL,
    )
    assert (over_kafka.referral_id, over_kafka.created) == (over_http.referral_id, False)
    assert len(store.outbox) == 2


class CountingStore(FakeStore):
    """The fake store, noting each call the use case makes (each is a database round trip)."""

    calls: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    async def find(self, agency_id: str, submission_id: str) -> Any:
        self.calls.append("find")
        return await super().find(agency_id, submission_id)

    async def insert_with_outbox(self, **kwargs: Any) -> bool:
        self.calls.append("insert")
        return await super().insert_with_outbox(**kwargs)


async def test_a_new_submission_is_one_statement_and_a_repeat_is_found_after_it(
    submission: ReferralSubmission,
) -> None:
    store = CountingStore()
    first = await accept(store, submission)
    assert store.calls == ["insert"], "a new submission is stored without looking first"
    store.calls.clear()
    again = await accept(store, submission)
    assert store.calls == ["insert", "find"], "taken: nothing written, then the original found"
    assert (again.referral_id, again.created) == (first.referral_id, False)
    assert len(store.rows) == 1
    assert len(store.data_keys) == 1, "the repeat's data key was not stored"
