"""Intake's acceptance rules, run through the real handler against an in-memory store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.common.outbox import OutboxMessage
from services.common.sealing import EnvKek, WrappedKey, open_data_key, unseal_submission
from services.intake.adapters.store import StoredReferral
from services.intake.domain import (
    IdempotencyConflict,
    IdempotencyKeyConflict,
    SubmissionConflict,
    SubmissionRefused,
)
from services.intake.handlers import accept_submission
from services.intake.sealing import ReferralSealer
from shared import (
    OpsEvent,
    ReferralReceived,
    ReferralState,
    ReferralSubmission,
    SealedSubmission,
    Service,
)
from shared.topics import OPS_EVENTS, REFERRALS_RECEIVED

NOW = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
KEK = EnvKek.parse("v1:" + "k" * 43, "v1")


class OneCityPostcode:
    def la_code(self, postcode: str) -> str | None:
        return "E06000018" if postcode == "NG7 2AH" else None

    def knows_la_code(self, code: str) -> bool:
        return code == "E06000018"


SEAL = ReferralSealer(KEK, OneCityPostcode())


class FakeStore:
    """In memory, with the real store's uniqueness: (agency, submission_id) and (agency, key)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredReferral] = {}
        self.keys: dict[tuple[str, str], str] = {}
        self.outbox: list[OutboxMessage] = []
        self.data_keys: dict[UUID, WrappedKey] = {}
        self.submissions: dict[UUID, dict[str, Any]] = {}

    async def find(self, agency_id: str, submission_id: str) -> StoredReferral | None:
        return self.rows.get((agency_id, submission_id))

    async def key_owner(self, agency_id: str, idempotency_key: str) -> str | None:
        return self.keys.get((agency_id, idempotency_key))

    async def bind_key(self, agency_id: str, idempotency_key: str, submission_id: str) -> str:
        return self.keys.setdefault((agency_id, idempotency_key), submission_id)

    async def insert_with_outbox(
        self,
        *,
        referral_id: UUID,
        agency_id: str,
        idempotency_key: str | None,
        submission_id: str,
        digest: bytes,
        submission: dict[str, Any],
        channel: str,
        received_at: datetime,
        messages: Sequence[OutboxMessage],
        data_key: WrappedKey | None,
    ) -> bool:
        if (agency_id, submission_id) in self.rows:
            return False
        if idempotency_key is not None:
            if (agency_id, idempotency_key) in self.keys:
                return False
            self.keys[(agency_id, idempotency_key)] = submission_id
        self.rows[(agency_id, submission_id)] = StoredReferral(
            referral_id, digest, received_at, submission_id
        )
        self.outbox.extend(messages)
        if data_key is not None:
            self.data_keys[referral_id] = data_key
        self.submissions[referral_id] = submission
        return True


async def _accept(
    store: FakeStore,
    submission: ReferralSubmission,
    *,
    agency: str = "police",
    key: str | None = None,
) -> Any:
    return await accept_submission(
        store,
        submission,
        agency_id=agency,
        idempotency_key=key,
        channel="http",
        now=lambda: NOW,
        new_id=uuid4,
        clock_skew=timedelta(minutes=5),
        seal=SEAL,
    )


@pytest.fixture
def submission(example_submission: dict[str, Any]) -> ReferralSubmission:
    return ReferralSubmission.model_validate(example_submission)


async def test_a_new_submission_is_stored_with_one_received_event_in_the_outbox(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    accepted = await _accept(store, submission)
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
    accepted = await _accept(store, submission)
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


async def test_the_same_submission_twice_returns_the_original_referral(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    first = await _accept(store, submission)
    again = await _accept(store, submission)
    assert (again.referral_id, again.created) == (first.referral_id, False)
    assert [m.topic for m in store.outbox] == [REFERRALS_RECEIVED, OPS_EVENTS]


async def test_the_received_referral_is_announced_on_ops_events_without_personal_data(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    accepted = await _accept(store, submission)
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


async def test_a_different_body_under_the_same_key_is_a_conflict(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await _accept(store, submission)
    example_submission["conduct"]["incident_count"] = 7
    changed = ReferralSubmission.model_validate(example_submission)
    with pytest.raises(IdempotencyConflict):
        await _accept(store, changed)


async def test_the_same_submission_with_any_key_or_none_is_one_referral(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    a = await _accept(store, submission, key="k-1")
    b = await _accept(store, submission)
    c = await _accept(store, submission, key="k-2")
    assert [a.created, b.created, c.created] == [True, False, False]
    assert a.referral_id == b.referral_id == c.referral_id
    assert [m.topic for m in store.outbox] == [REFERRALS_RECEIVED, OPS_EVENTS]


async def test_different_content_under_a_submission_id_conflicts_naming_submission_id(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await _accept(store, submission, key="k-1")
    example_submission["conduct"]["incident_count"] = 7
    changed = ReferralSubmission.model_validate(example_submission)
    for key in (None, "k-1", "k-2"):
        with pytest.raises(SubmissionConflict) as caught:
            await _accept(store, changed, key=key)
        assert caught.value.field == "submission_id"
    assert len(store.rows) == 1


async def test_a_key_used_for_another_submission_conflicts_naming_the_header(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    await _accept(store, submission, key="k-1")
    other = ReferralSubmission.model_validate(example_submission | {"submission_id": "OTHER-1"})
    with pytest.raises(IdempotencyKeyConflict) as caught:
        await _accept(store, other, key="k-1")
    assert caught.value.field == "Idempotency-Key"
    assert set(store.rows) == {("police", submission.submission_id)}


async def test_a_key_equal_to_another_submissions_id_is_no_conflict(
    submission: ReferralSubmission, example_submission: dict[str, Any]
) -> None:
    store = FakeStore()
    first = await _accept(store, submission)
    other = ReferralSubmission.model_validate(example_submission | {"submission_id": "OTHER-2"})
    second = await _accept(store, other, key=submission.submission_id)
    assert second.created
    assert second.referral_id != first.referral_id


async def test_two_agencies_may_use_the_same_submission_id(submission: ReferralSubmission) -> None:
    store = FakeStore()
    a = await _accept(store, submission, agency="police")
    b = await _accept(store, submission, agency="social-care")
    assert a.referral_id != b.referral_id


async def test_a_submission_from_the_future_is_refused_naming_submitted_at(
    example_submission: dict[str, Any],
) -> None:
    example_submission["submitted_at"] = (NOW + timedelta(hours=1)).isoformat()
    future = ReferralSubmission.model_validate(example_submission)
    store = FakeStore()
    with pytest.raises(SubmissionRefused) as caught:
        await _accept(store, future)
    assert [e.field for e in caught.value.errors] == ["submitted_at"]
    assert store.outbox == []


async def test_equivalent_json_spellings_are_the_same_submission(
    example_submission: dict[str, Any],
) -> None:
    store = FakeStore()
    first = await _accept(store, ReferralSubmission.model_validate(example_submission))
    respelled = json.loads(json.dumps(example_submission, sort_keys=True))
    respelled["victim"]["postcode"] = "ng7 2ah"
    again = await _accept(store, ReferralSubmission.model_validate(respelled))
    assert again.referral_id == first.referral_id


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
        await _accept(store, with_nul)
    assert sorted(e.field for e in caught.value.errors) == [
        "victim.name",
        "victim.safe_contact.safe_times",
    ]
    assert {e.code for e in caught.value.errors} == {"nul_character"}
    assert store.rows == {}
    assert store.outbox == []


async def test_kafka_and_http_share_one_rule_for_a_submission(
    submission: ReferralSubmission,
) -> None:
    store = FakeStore()
    over_http = await _accept(store, submission, key="k-1")
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
