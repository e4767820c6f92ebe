"""The router decides a sealed referral (no personal field in clear, no key) exactly as the
clear one: every public case, with intake's routing facts, gives the same Decision."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.common.routing_facts import routing_facts
from services.common.sealing import EnvKek, new_data_key, seal_submission
from services.router.domain import PostcodeIndex, decide, received_on
from services.router.engine import CachedRules
from shared import ReferralReceived, ReferralSubmission, field_errors


@pytest.fixture(scope="module")
def kek() -> EnvKek:
    return EnvKek.parse("v1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(), "v1")


def _pair(
    submission: ReferralSubmission, kek: EnvKek, onspd: PostcodeIndex, days_later: int = 0
) -> tuple[ReferralReceived, ReferralReceived]:
    referral_id = uuid4()
    at = submission.submitted_at + timedelta(days=days_later)
    clear = ReferralReceived(
        referral_id=referral_id, received_at=at, referrer_agency="a", submission=submission
    )
    sealed = clear.model_copy(
        update={
            "submission": seal_submission(submission, new_data_key(referral_id, kek)[0]),
            "routing": routing_facts(submission, at, onspd),
        }
    )
    return clear, sealed


def test_every_public_case_sealed_is_decided_as_the_clear_case(
    public_routing_cases: list[dict[str, Any]],
    rules: CachedRules,
    onspd: PostcodeIndex,
    kek: EnvKek,
) -> None:
    for case in public_routing_cases:
        submission = ReferralSubmission.model_validate(case["submission"])
        for days in (0, 400):  # a birthday may fall between submission and receipt
            clear, sealed = _pair(submission, kek, onspd, days)
            expected = decide(clear, rules, received_on(clear), onspd)
            assert decide(sealed, rules, received_on(sealed), onspd) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"victim__postcode": "ZZ9 9ZZ"},  # not in the directory
        {"victim__postcode": None, "victim__local_authority_code": "E07000174"},
        {"victim__postcode": None, "victim__local_authority_code": "E99999999"},
        {"victim__postcode": "DE1 1AA", "victim__local_authority_code": "E06000018"},  # disagree
        {"victim__date_of_birth": "2010-11-21"},  # 16 tomorrow
        {"victim__date_of_birth": None, "victim__age": 15},
        {"victim__postcode": None},
    ],
)
def test_sealed_edges_of_age_and_locality_are_decided_as_clear(
    changes: dict[str, Any],
    make_submission: Any,
    rules: CachedRules,
    onspd: PostcodeIndex,
    kek: EnvKek,
) -> None:
    clear, sealed = _pair(make_submission(**changes), kek, onspd)
    decided = decide(sealed, rules, received_on(sealed), onspd)
    assert decided == decide(clear, rules, received_on(clear), onspd)
    assert "Sam Example" not in decided.model_dump_json()


def test_a_sealed_referral_without_routing_facts_is_refused(
    example_submission: dict[str, Any], rules: CachedRules, onspd: PostcodeIndex, kek: EnvKek
) -> None:
    _, sealed = _pair(ReferralSubmission.model_validate(example_submission), kek, onspd)
    with pytest.raises(ValidationError) as refused:  # the event itself: dead-lettered on Kafka
        ReferralReceived.model_validate({**sealed.model_dump(mode="json"), "routing": None})
    assert [e.field for e in field_errors(refused.value)] == ["routing"]
    bare = sealed.model_copy(update={"routing": None})  # past validation: the domain refuses too
    with pytest.raises(ValueError, match="routing"):
        decide(bare, rules, received_on(bare), onspd)
