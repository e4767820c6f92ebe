"""Intake's acceptance rules, run through the real handler against an in-memory store: what is
stored and announced (sealed, on both topics), and what is refused (NUL text, a future stamp).

The idempotency rules are in test_accept_idempotency.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.common.sealing import open_data_key, unseal_submission
from services.intake.domain import (
    SubmissionRefused,
)
from shared import (
    OpsEvent,
    ReferralReceived,
    ReferralState,
    ReferralSubmission,
    SealedSubmission,
    Service,
)
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED
from tests.intake.fakes import KEK, NOW, FakeStore, accept


async def test_a_new_submission_is_stored_with_one_received_event_in_the_outbox(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    accepted = await accept(store, submission)
    assert accepted.created
    [message] = [m for m in store.outbox if m.topic == REFERRALS_RECEIVED]
    assert message.topic == REFERRALS_RECEIVED
    assert message.key == str(accepted.referral_id)
    assert message.headers["ce_subject"] == str(accepted.referral_id)
    event = ReferralReceived.model_validate_json(message.payload)
    assert event.referral_id == accepted.referral_id
    assert event.referrer_agency == "police"
    assert isinstance(event.submission, SealedSubmission)
    key = open_data_key(store.data_keys[accepted.referral_id], KEK)
    assert unseal_submission(event.submission, key) == submission


async def test_what_intake_stores_and_announces_holds_no_personal_field_in_clear(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    accepted = await accept(store, submission)
    stored = json.dumps(store.submissions[accepted.referral_id])
    published = b"".join(m.payload for m in store.outbox).decode()
    victim, referrer = submission.victim, submission.referrer
    for clear in (victim.name, victim.postcode, str(victim.date_of_birth), referrer.name):
        assert clear
        assert clear not in stored
        assert clear not in published
    event = ReferralReceived.model_validate_json(store.outbox[0].payload)
    assert event.routing is not None
    assert event.routing.postcode_local_authority_code == "E06000018"
    assert event.routing.age == 36


async def test_the_received_referral_is_announced_on_ops_events_without_personal_data(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    accepted = await accept(store, submission)
    [ops] = [m for m in store.outbox if m.topic == OPS_EVENTS]
    event = OpsEvent.model_validate_json(ops.payload)
    assert (event.state, event.service, event.referral_id) == (
        ReferralState.RECEIVED,
        Service.INTAKE,
        accepted.referral_id,
    )
    assert ops.key == str(accepted.referral_id)
    assert ops.headers["ce_id"] == f"ops:received:{accepted.referral_id}"
    for personal in (
        submission.victim.name,
        str(submission.victim.postcode),
        submission.referrer.name,
    ):
        assert str(personal) not in ops.payload.decode()


async def test_a_submission_from_the_future_is_refused_naming_submitted_at(
    example_submission: dict[str, Any],
) -> None:
    example_submission["submitted_at"] = (NOW + timedelta(hours=1)).isoformat()
    future = ReferralSubmission.model_validate(example_submission)
    store = FakeStore()
    with pytest.raises(SubmissionRefused) as caught:
        await accept(store, future)
    assert [e.field for e in caught.value.errors] == ["submitted_at"]
    assert store.outbox == []


async def test_text_with_a_nul_character_is_refused_naming_each_field(
    example_submission: dict[str, Any],
) -> None:
    example_submission["victim"]["name"] = "Sam\x00Example"
    example_submission["conduct"]["behaviours"] = ["following"]
    example_submission["victim"]["safe_contact"]["safe_times"] = (
        "after 6pm\x00"  # text holding a NUL (a NUL alone is no visible text)
    )
    with_nul = ReferralSubmission.model_validate(example_submission)
    store = FakeStore()
    with pytest.raises(SubmissionRefused) as caught:
        await accept(store, with_nul)
    assert sorted(e.field for e in caught.value.errors) == [
        "victim.name",
        "victim.safe_contact.safe_times",
    ]
    assert {e.code for e in caught.value.errors} == {"nul_character"}
    assert store.rows == {}
    assert store.outbox == []
