"""How intake names fields in its errors: every field non-empty, unambiguous, no input echoed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.domain.errors import field_path, validation_errors
from shared import ReferralSubmission


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "victim", "safe_contact", "phone"), "victim.safe_contact.phone"),
        (("body", "conduct", "behaviours", 2), "conduct.behaviours[2]"),
        (("header", "idempotency-key"), "idempotency-key"),
        (("body",), "body"),
        ((), "body"),
        (("body", ""), '[""]'),
        (("body", "victim", "\r"), 'victim["\\r"]'),
        (("body", "a.b"), '["a.b"]'),
        (("body", "x" * 500), f'["{"x" * 64}"]'),
    ],
)
def test_a_field_is_named_by_its_dotted_path_and_odd_keys_are_quoted(
    loc: tuple[str | int, ...], field: str
) -> None:
    assert field_path(loc) == field


def test_a_cross_field_error_names_the_field_it_is_about_and_echoes_no_input(
    example_submission: dict[str, Any],
) -> None:
    victim = dict(example_submission["victim"])
    victim["safe_contact"] = {"method": "phone", "phone": None}
    victim["name"] = "Secret Person"
    with pytest.raises(ValidationError) as caught:
        ReferralSubmission.model_validate(example_submission | {"victim": victim, "": 1})
    errors = validation_errors(caught.value)
    assert {e.field for e in errors} == {"victim.safe_contact.phone", '[""]'}
    assert "Secret Person" not in repr(errors)
