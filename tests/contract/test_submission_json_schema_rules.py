"""The submission's JSON Schema says what the validators accept: phone and postcode patterns,
non-blank text, and the cross-field rules JSON Schema can express (dates relative to
`submitted_at` are the exception, and stay in the validators)."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import ReferralSubmission
from shared.submission import Referrer, _phone, normalise_postcode

SCHEMA = ReferralSubmission.model_json_schema()
DEFS = SCHEMA["$defs"]


def _pattern(model: str, field: str) -> str:
    [branch] = [b for b in DEFS[model]["properties"][field]["anyOf"] if b.get("type") == "string"]
    pattern: str = branch["pattern"]
    return pattern


def _accepted(check: Any, value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


PHONE = _pattern("SafeContact", "phone")
POSTCODE = _pattern("Victim", "postcode")
FAST = settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)


@FAST
# Drawn from the alphabet, not from the pattern: hypothesis generates lookaheads by filtering,
# which is slow; this alphabet hits both sides of the rule often enough.
@given(st.text(alphabet="0123456789 ()-+x", max_size=28))
def test_a_phone_matches_the_pattern_exactly_when_the_validator_accepts_it(value: str) -> None:
    assert bool(re.search(PHONE, value)) == _accepted(_phone, value)


@FAST
@given(st.from_regex(POSTCODE) | st.text(alphabet="NGng72AHah 0IiRr\t", max_size=12))
def test_a_postcode_matches_the_pattern_exactly_when_the_validator_accepts_it(value: str) -> None:
    assert bool(re.search(POSTCODE, value)) == _accepted(normalise_postcode, value)


def _break(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = broken
    for part in parents:
        node = node[part]
    node[last] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("referrer.organisation", None),  # a professional names their organisation
        ("referrer.email", None),  # the example's referrer has no phone either
        ("victim.safe_contact.phone", None),  # the chosen channel has its detail
        ("victim.date_of_birth", None),  # neither a date of birth nor an age
        ("victim.name", "   "),  # text is not blank
        ("referrer.organisation", "\x1d"),  # nor a control character alone (schemathesis sent it)
        ("victim.name", "\u3000\ufeff"),  # nor other Unicode spaces alone
        ("consent.given", False),  # no consent, and no lawful basis recorded
    ],
)
def test_what_the_validators_refuse_the_schema_refuses_too(
    example_submission: dict[str, Any], path: str, value: Any
) -> None:
    assert jsonschema_rs.is_valid(SCHEMA, example_submission)
    broken = _break(example_submission, path, value)
    with pytest.raises(ValidationError):
        ReferralSubmission.model_validate(broken)
    assert not jsonschema_rs.is_valid(SCHEMA, broken)


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x3100), max_size=6))
def test_text_is_accepted_exactly_when_the_schema_and_pythons_re_say_it_holds_a_visible_character(
    value: str,
) -> None:
    """The model (pydantic's engine), jsonschema's (Python `re`) and an ECMA engine's reading of
    the pattern agree: a Name is text with one visible character, whatever its spaces."""
    body = {"kind": "self", "name": value, "email": "a@b.test"}
    try:
        Referrer.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    pattern = _pattern("Referrer", "name")
    stripped = value.strip()
    assert accepted == (0 < len(stripped) <= 200 and bool(re.search(pattern, stripped)))
    assert bool(re.search(pattern, value)) == bool(re.search(pattern, stripped))
