"""The form's answers become a contract submission, and the contract's errors land on the
form field (and page) that asked the question."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.domain.errors import validation_errors
from services.intake.web.form import CONTACT, DETAILS, build_submission, form_errors
from shared import ReferralSubmission

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DETAILS_OK: dict[str, Any] = {
    "referrer_name": "Ref Erer",
    "referrer_organisation": "GP surgery",
    "referrer_email": "ref@example.org",
    "victim_name": "Vic Tim",
    "victim_dob_day": "1",
    "victim_dob_month": "5",
    "victim_dob_year": "1990",
    "victim_gender": "female",
    "victim_postcode": "ng72ah",
    "relationship": "stranger",
    "behaviours": ["following"],
    "incident_count": "3",
    "consent_given": "yes",
}
CONTACT_OK = {"contact_method": "phone", "contact_phone": "07700900123", "voicemail_safe": "no"}


def _errors(
    kind: str, answers: dict[str, Any], page: str | None, contact: bool = True
) -> list[tuple[str, str]]:
    raw = build_submission(kind, answers, submission_id="WEB-1", now=NOW, contact_answered=contact)
    try:
        ReferralSubmission.model_validate(raw)
    except ValidationError as exc:
        return form_errors(kind, validation_errors(exc), page)
    return []


def test_complete_answers_make_a_valid_contract_submission() -> None:
    raw = build_submission(
        "professional",
        DETAILS_OK | CONTACT_OK,
        submission_id="WEB-1",
        now=NOW,
        contact_answered=True,
    )
    submission = ReferralSubmission.model_validate(raw)
    assert submission.victim.postcode == "NG7 2AH"
    assert str(submission.victim.date_of_birth) == "1990-05-01"
    assert submission.referrer.kind == "professional"


def test_a_professional_without_an_organisation_is_told_on_the_details_page() -> None:
    answers = DETAILS_OK | {"referrer_organisation": ""}
    assert _errors("professional", answers, DETAILS, contact=False) == [
        ("referrer_organisation", "Enter your organisation")
    ]


def test_a_member_of_the_public_must_say_the_person_agrees() -> None:
    answers = DETAILS_OK | {"consent_given": "no"}
    assert [n for n, _ in _errors("public_third_party", answers, DETAILS, False)] == [
        "consent_given"
    ]


def test_a_professional_without_consent_records_the_lawful_basis() -> None:
    answers = DETAILS_OK | {"consent_given": "no"}
    assert _errors("professional", answers, DETAILS, False) == [
        (
            "lawful_basis",
            "Enter the lawful basis for referring without consent, for example safeguarding",
        )
    ]
    assert _errors("professional", answers | {"lawful_basis": "safeguarding"}, DETAILS) == []


def test_a_self_referral_consents_by_sending_and_is_contacted_on_its_safe_channel() -> None:
    raw = build_submission(
        "self", DETAILS_OK | CONTACT_OK, submission_id="WEB-1", now=NOW, contact_answered=True
    )
    submission = ReferralSubmission.model_validate(raw)
    assert submission.consent.given is True
    assert submission.referrer.phone == "07700900123"


def test_errors_of_later_pages_wait_for_their_page() -> None:
    answers = DETAILS_OK | {"contact_method": "email"}
    assert _errors("professional", answers, DETAILS) == []
    assert _errors("professional", answers, CONTACT) == [
        ("contact_email", "Enter a safe email address")
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"victim_postcode": "nowhere"}, "victim_postcode", "Postcode is not a UK postcode"),
        ({"victim_dob_day": "31", "victim_dob_month": "2"}, "victim_dob", "Date of birth"),
        ({"incident_count": "lots"}, "incident_count", "Enter how many times, as a number"),
    ],
)
def test_the_contracts_own_checks_name_the_form_field(
    change: dict[str, str], field: str, message: str
) -> None:
    errors = _errors("professional", DETAILS_OK | change, DETAILS, contact=False)
    assert [n for n, _ in errors] == [field]
    assert errors[0][1].startswith(message)
