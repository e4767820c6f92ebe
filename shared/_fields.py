"""The field types of a submission, and its cross-field rules as JSON Schema.

Rules kept here (contract v1, ../shared/contract.md):
- a postcode is a UK postcode in any case and spacing, normalised to `NG7 2AH`;
- a phone is 7-24 of digits, spaces, brackets and dashes after an optional +, with 7 digits or
  more; an email has one @, no spaces and a dot inside the domain;
- text holds at least one visible character; ids and agency codes have a fixed alphabet;
- each pattern the JSON Schema states is exactly what the validator accepts.
Re-exported by `shared.submission`, whose models use these (import them from there).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, JsonValue, StringConstraints
from pydantic.config import JsonDict

_POSTCODE = re.compile(r"^(?:GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2})$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{7,24}$")


def normalise_postcode(raw: str) -> str:
    """`ng72ah`, ` NG7  2AH ` -> `NG7 2AH`; raises ValueError if it is not a UK postcode."""
    compact = "".join(raw.split()).upper()  # every kind of whitespace, as \s would
    if not _POSTCODE.match(compact):
        raise ValueError("is not a UK postcode (for example NG7 2AH)")
    return f"{compact[:-3]} {compact[-3:]}"


def _phone(raw: str) -> str:
    if not _PHONE.match(raw) or sum(map(str.isdigit, raw)) < 7:
        raise ValueError("is not a phone number (digits, spaces, +, brackets or dashes)")
    return raw


Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-/]+$")]
# Text must hold at least one visible character: not only whitespace or control characters
# (a name of U+001D alone was accepted once). The class is spelt out, because `\s` means
# different characters to pydantic's regex engine, Python's `re` (jsonschema) and ECMA-262
# (schemathesis); this one means the same to all three, and the same pattern is both what the
# model enforces and what the JSON Schema says (unanchored: "contains one").
VISIBLE_PATTERN = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=VISIBLE_PATTERN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=VISIBLE_PATTERN)]
# The JSON Schema patterns say exactly what the validators above accept, so that a client (or a
# test generator) working from the schema alone sends phones and postcodes that are accepted:
# a phone is 7-24 of digits, spaces, brackets and dashes after an optional +, with 7 digits or
# more; a postcode is a UK postcode in any case, with whitespace anywhere.
PHONE_PATTERN = r"^(?=\+?[0-9 ()\-]{7,24}$)\+?(?:[ ()\-]*[0-9]){7}[0-9 ()\-]*$"
_LETTER = "[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]"
POSTCODE_PATTERN = (
    r"^\s*(?:[Gg]\s*[Ii]\s*[Rr]\s*0\s*[Aa]\s*[Aa]"
    r"|[A-Za-z](?:\s*[A-Za-z])?\s*[0-9](?:\s*[A-Za-z0-9])?\s*[0-9]"
    rf"\s*{_LETTER}\s*{_LETTER})\s*$"
)
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(_phone),
    Field(json_schema_extra={"pattern": PHONE_PATTERN}),
]
Postcode = Annotated[
    str,
    StringConstraints(max_length=16),
    AfterValidator(normalise_postcode),
    Field(json_schema_extra={"pattern": POSTCODE_PATTERN}),
]
GssCode = Annotated[str, StringConstraints(pattern=r"^[EWSN][0-9]{8}$")]
# An email address as far as routing needs one: one @, no spaces, a dot inside the domain, at most
# 254 characters (RFC 5321). Checked by pydantic-core's own regex engine: email-validator's full
# check (IDNA, deliverability rules) was half the cost of reading a submission, and whether an
# address really reaches someone is only known by writing to it.
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"),
    Field(json_schema_extra={"format": "email"}),
]
AgencyCode = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9\-]*$")
]


def _given(field: str, type_: str) -> JsonDict:
    """JSON Schema: `field` is present and not null."""
    return {"required": [field], "properties": {field: {"type": type_}}}


def _when(field: str, values: list[str], then: JsonDict) -> JsonDict:
    values_: list[JsonValue] = list(values)
    return {"if": {"required": [field], "properties": {field: {"enum": values_}}}, "then": then}


# The cross-field rules of the validators below, as JSON Schema (OpenAPI 3.1), so that the
# schema alone says which submissions are accepted. Dates relative to `submitted_at` cannot be
# said in JSON Schema; those stay in the validators only.
_REFERRER_RULES: JsonDict = {
    "allOf": [
        _when("kind", ["professional"], _given("organisation", "string")),
        {"anyOf": [_given("email", "string"), _given("phone", "string")]},
    ]
}
_SAFE_CONTACT_RULES: JsonDict = {
    "allOf": [
        _when("method", ["phone", "text"], _given("phone", "string")),
        _when("method", ["email"], _given("email", "string")),
    ]
}
_VICTIM_RULES: JsonDict = {"anyOf": [_given("date_of_birth", "string"), _given("age", "integer")]}
_SUBMISSION_RULES: JsonDict = {
    "if": {
        "required": ["consent"],
        "properties": {
            "consent": {"required": ["given"], "properties": {"given": {"const": False}}}
        },
    },
    "then": {
        "properties": {
            "referrer": {"properties": {"kind": {"const": "professional"}}},
            "consent": _given("lawful_basis_without_consent", "string"),
        }
    },
}
