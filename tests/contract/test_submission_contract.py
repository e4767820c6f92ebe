"""Contract v1: the published example validates; malformed submissions name their field."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from shared import ReferralSubmission, field_errors
from tests.support.infra import ROOT

CONTRACT = ROOT.parent / "shared" / "contract.md"


def contract_examples() -> list[dict[str, Any]]:
    text = CONTRACT.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_example_in_the_contract_validates() -> None:
    examples = contract_examples()
    submission = ReferralSubmission.model_validate(examples[0])
    assert submission.submission_id == "NP-2026-000123"
    assert submission.victim.postcode == "NG7 2AH"


def test_the_decision_example_in_the_contract_has_the_contract_fields() -> None:
    from shared import Decision

    decision = contract_examples()[1]
    assert set(decision) <= set(Decision.model_fields)


def test_postcodes_are_accepted_in_any_case_and_spacing(example_submission: dict[str, Any]) -> None:
    example_submission["victim"]["postcode"] = " ng72ah "
    assert ReferralSubmission.model_validate(example_submission).victim.postcode == "NG7 2AH"


def test_consent_not_given_is_accepted_from_a_professional_with_a_lawful_basis(
    example_submission: dict[str, Any],
) -> None:
    example_submission["consent"] = {
        "given": False,
        "recorded_at": None,
        "lawful_basis_without_consent": "safeguarding",
    }
    assert ReferralSubmission.model_validate(example_submission).consent.given is False


def test_via_referrer_needs_no_victim_contact_detail(example_submission: dict[str, Any]) -> None:
    example_submission["victim"]["safe_contact"] = {
        "method": "via_referrer",
        "phone": None,
        "email": None,
        "voicemail_safe": False,
    }
    ReferralSubmission.model_validate(example_submission)


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()

MALFORMED: list[tuple[str, list[Mutation], str]] = [
    ("unknown referrer kind", [_set("referrer.kind", "journalist")], "referrer.kind"),
    (
        "professional without organisation",
        [_set("referrer.organisation", None)],
        "referrer.organisation",
    ),
    (
        "referrer with no email or phone",
        [_set("referrer.email", None), _set("referrer.phone", None)],
        "referrer.email",
    ),
    ("bad referrer email", [_set("referrer.email", "not-an-email")], "referrer.email"),
    (
        "neither date of birth nor age",
        [_set("victim.date_of_birth", None), _set("victim.age", None)],
        "victim.date_of_birth",
    ),
    ("unknown gender", [_set("victim.gender", "unknown")], "victim.gender"),
    ("not a UK postcode", [_set("victim.postcode", "NOT A POSTCODE")], "victim.postcode"),
    (
        "phone channel without phone",
        [_set("victim.safe_contact.phone", None)],
        "victim.safe_contact.phone",
    ),
    (
        "email channel without email",
        [_set("victim.safe_contact.method", "email")],
        "victim.safe_contact.email",
    ),
    (
        "unknown contact method",
        [_set("victim.safe_contact.method", "carrier_pigeon")],
        "victim.safe_contact.method",
    ),
    (
        "public referrer without consent",
        [_set("referrer.kind", "public_third_party"), _set("consent.given", False)],
        "consent.given",
    ),
    (
        "professional without consent or lawful basis",
        [_set("consent.given", False)],
        "consent.lawful_basis_without_consent",
    ),
    (
        "unknown relationship",
        [_set("perpetrator.relationship", "boss")],
        "perpetrator.relationship",
    ),
    (
        "unknown behaviour",
        [_set("conduct.behaviours", ["following", "stalking"])],
        "conduct.behaviours[1]",
    ),
    ("negative incident count", [_set("conduct.incident_count", -1)], "conduct.incident_count"),
    ("unknown risk level", [_set("risk.level", "extreme")], "risk.level"),
    ("S-DASH count over 11", [_set("risk.sdash_yes_count", 12)], "risk.sdash_yes_count"),
    (
        "date of birth after submission",
        [_set("victim.date_of_birth", "2030-01-01")],
        "victim.date_of_birth",
    ),
    (
        "last incident after submission",
        [_set("conduct.last_incident_on", "2027-01-01")],
        "conduct.last_incident_on",
    ),
    (
        "submitted_at without a timezone",
        [_set("submitted_at", "2026-11-20T10:15:00")],
        "submitted_at",
    ),
    ("unknown field", [_set("victim.favourite_colour", "blue")], "victim.favourite_colour"),
    ("missing perpetrator", [_set("perpetrator", _DELETE)], "perpetrator"),
    ("oversized name", [_set("victim.name", "x" * 201)], "victim.name"),
    (
        "bad local authority code",
        [_set("victim.local_authority_code", "Nottingham")],
        "victim.local_authority_code",
    ),
]


@pytest.mark.parametrize(
    ("problem", "mutations", "field"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_submission_is_rejected_naming_the_field(
    example_submission: dict[str, Any], problem: str, mutations: list[Mutation], field: str
) -> None:
    body = copy.deepcopy(example_submission)
    for mutate in mutations:
        mutate(body)
    with pytest.raises(ValidationError) as caught:
        ReferralSubmission.model_validate(body)
    fields = [e.field for e in field_errors(caught.value)]
    assert field in fields, f"{problem}: expected {field!r} among {fields}"


def test_errors_never_echo_the_input(example_submission: dict[str, Any]) -> None:
    example_submission["victim"]["postcode"] = "SECRET-MARKER-123"
    example_submission["referrer"]["email"] = "SECRET-MARKER-456"
    with pytest.raises(ValidationError) as caught:
        ReferralSubmission.model_validate(example_submission)
    rendered = json.dumps([e.model_dump() for e in field_errors(caught.value)])
    assert "SECRET-MARKER" not in rendered
