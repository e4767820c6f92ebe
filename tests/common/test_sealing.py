"""Sealing personal fields: every personal field sealed, nothing else; values bound to their
field and referral; a KEK ring rotates without losing old keys."""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from uuid import uuid4

import pytest

from services.common.sealing import (
    DataKeyInvalid,
    EnvKek,
    KekConfigError,
    KekVersionUnknown,
    SealedValueInvalid,
    new_data_key,
    open_data_key,
    seal_submission,
    unseal_submission,
)
from shared import ReferralReceived, ReferralSubmission, SealedSubmission
from shared.sealed import SEALED_PATHS


def kek_value() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@pytest.fixture
def kek() -> EnvKek:
    return EnvKek.parse(f"v1:{kek_value()}", "v1")


def marked(example: dict[str, Any]) -> ReferralSubmission:
    """The example with a marker in every personal field the contract allows text in."""
    doc = json.loads(json.dumps(example))
    doc["referrer"].update(
        organisation="ORG-MARK", name="REFNAME-MARK", email="ref@mark.example", phone="07700 900111"
    )
    doc["victim"].update(name="VICNAME-MARK", postcode="NG7 2AH", date_of_birth="1990-05-01")
    doc["victim"]["safe_contact"].update(
        phone="07700 900222", email="vic@mark.example", safe_times="SAFETIMES-MARK"
    )
    doc["consent"].update(given=False, lawful_basis_without_consent="BASIS-MARK")
    doc["referrer"]["kind"] = "professional"
    doc["perpetrator"].update(name="PERPNAME-MARK", details="PERPDETAILS-MARK")
    doc["police_crime_reference"] = "CRIME-MARK"
    return ReferralSubmission.model_validate(doc)


def test_every_personal_field_is_sealed_and_opens_to_the_same_submission(
    kek: EnvKek, example_submission: dict[str, Any]
) -> None:
    submission = marked(example_submission)
    key, _ = new_data_key(uuid4(), kek)
    sealed = seal_submission(submission, key)
    text = sealed.model_dump_json()
    for clear in ("MARK", "mark.example", "07700", "NG7", "1990-05-01"):
        assert clear not in text
    assert unseal_submission(sealed, key) == submission
    dumped = sealed.model_dump(mode="json")
    for path in SEALED_PATHS:
        node: Any = dumped
        for part in path.split("."):
            node = node[part]
        assert (node["kid"], node["kek"]) == (str(key.referral_id), "v1"), path


def test_non_personal_fields_stay_as_they_were(
    kek: EnvKek, example_submission: dict[str, Any]
) -> None:
    submission = ReferralSubmission.model_validate(example_submission)
    sealed = seal_submission(submission, new_data_key(uuid4(), kek)[0])
    assert sealed.conduct == submission.conduct
    assert sealed.victim.gender == submission.victim.gender
    assert sealed.perpetrator.relationship == submission.perpetrator.relationship
    assert sealed.submission_id == submission.submission_id


def test_a_value_moved_to_another_field_does_not_open(
    kek: EnvKek, example_submission: dict[str, Any]
) -> None:
    key, _ = new_data_key(uuid4(), kek)
    doc = seal_submission(marked(example_submission), key).model_dump(mode="json")
    doc["perpetrator"]["name"] = doc["victim"]["name"]
    with pytest.raises(SealedValueInvalid, match=r"perpetrator\.name"):
        unseal_submission(SealedSubmission.model_validate(doc), key)


def test_a_value_from_another_referral_does_not_open(
    kek: EnvKek, example_submission: dict[str, Any]
) -> None:
    key, _ = new_data_key(uuid4(), kek)
    other, _ = new_data_key(uuid4(), kek)
    sealed = seal_submission(marked(example_submission), key)
    with pytest.raises(SealedValueInvalid):
        unseal_submission(sealed, other)


def test_a_rotated_kek_still_opens_keys_wrapped_before(
    example_submission: dict[str, Any],
) -> None:
    v1 = kek_value()
    old_ring = EnvKek.parse(f"v1:{v1}", "v1")
    old_key, old_wrapped = new_data_key(uuid4(), old_ring)
    rotated = EnvKek.parse(f"v1:{v1},v2:{kek_value()}", "v2")
    _new_key, new_wrapped = new_data_key(uuid4(), rotated)
    assert (old_wrapped.kek_version, new_wrapped.kek_version) == ("v1", "v2")
    submission = marked(example_submission)
    sealed_old = seal_submission(submission, old_key)
    assert unseal_submission(sealed_old, open_data_key(old_wrapped, rotated)) == submission
    with pytest.raises(KekVersionUnknown):
        open_data_key(new_wrapped, old_ring)


def test_a_key_wrapped_under_another_kek_of_that_version_is_invalid_not_a_crash() -> None:
    _, wrapped = new_data_key(uuid4(), EnvKek.parse(f"v1:{kek_value()}", "v1"))
    with pytest.raises(DataKeyInvalid, match="v1"):
        open_data_key(wrapped, EnvKek.parse(f"v1:{kek_value()}", "v1"))


@pytest.mark.parametrize(
    ("keys", "primary", "names"),
    [
        (None, "v1", "PII_KEK_KEYS"),
        ("v1:abc", "v1", "PII_KEK_KEYS"),
        ("v1:" + "A" * 43, None, "PII_KEK_PRIMARY"),
        ("v1:" + "A" * 43, "v2", "PII_KEK_PRIMARY"),
    ],
)
def test_a_bad_kek_configuration_names_the_variable(
    keys: str | None, primary: str | None, names: str
) -> None:
    with pytest.raises(KekConfigError, match=names):
        EnvKek.parse(keys, primary)


def test_received_events_read_both_the_clear_and_the_sealed_form(
    kek: EnvKek, example_submission: dict[str, Any]
) -> None:
    clear = ReferralSubmission.model_validate(example_submission)
    sealed = seal_submission(clear, new_data_key(uuid4(), kek)[0])
    for submission in (clear, sealed):
        event = {
            "referral_id": str(uuid4()),
            "received_at": "2026-11-20T10:15:00+00:00",
            "referrer_agency": "notts-police",
            "submission": submission.model_dump(mode="json"),
            "routing": {
                "age": 36,
                "age_source": "date_of_birth",
                "postcode_given": True,
                "postcode_local_authority_code": "E06000018",
            },
        }
        assert type(ReferralReceived.model_validate(event).submission) is type(submission)
