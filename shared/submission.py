"""ReferralSubmission: what an agency sends, over HTTP or on `referrals.submitted.v1`.

Rules kept here (contract v1, ../shared/contract.md):
- `referrer.organisation` is required for a professional; the referrer gives an email or a phone;
- the victim has a date of birth or an age (the date of birth wins when both are given);
- the chosen safe contact channel carries its detail (phone or text -> phone, email -> email);
- consent not given is accepted only from a professional who records a lawful basis;
- postcodes are UK postcodes in any case and spacing, normalised to `NG7 2AH`;
- no date lies after the submission itself; free text has sane sizes.
Checks against the wall clock (a submission from the future) belong to intake, not here.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict

from shared._base import ContractModel, field_problem
from shared.enums import Behaviour, ContactMethod, Gender, ReferrerKind, Relationship, RiskLevel

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


class Referrer(ContractModel):
    """Who refers: a professional, the victim, or a member of the public."""

    model_config = ConfigDict(json_schema_extra=_REFERRER_RULES)

    kind: ReferrerKind
    organisation: Name | None = None
    agency_code: AgencyCode | None = None
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _contactable(self) -> Self:
        if self.kind is ReferrerKind.PROFESSIONAL and not self.organisation:
            raise field_problem("organisation", "missing", "is required when kind is professional")
        if not self.email and not self.phone:
            raise field_problem("email", "missing", "give at least one of email or phone")
        return self


class SafeContact(ContractModel):
    """How the victim can be reached safely, and whether voicemail is safe."""

    model_config = ConfigDict(json_schema_extra=_SAFE_CONTACT_RULES)

    method: ContactMethod
    phone: Phone | None = None
    email: Email | None = None
    voicemail_safe: bool = False
    safe_times: ShortText | None = None

    @model_validator(mode="after")
    def _channel_has_detail(self) -> Self:
        if self.method in (ContactMethod.PHONE, ContactMethod.TEXT) and not self.phone:
            raise field_problem("phone", "missing", f"is required when method is {self.method}")
        if self.method is ContactMethod.EMAIL and not self.email:
            raise field_problem("email", "missing", "is required when method is email")
        return self


class Victim(ContractModel):
    """The person being stalked."""

    model_config = ConfigDict(json_schema_extra=_VICTIM_RULES)

    name: Name
    date_of_birth: date | None = None
    age: Annotated[int, Field(ge=0, le=120)] | None = None
    gender: Gender
    postcode: Postcode | None = None
    local_authority_code: GssCode | None = None
    safe_contact: SafeContact

    @model_validator(mode="after")
    def _age_known(self) -> Self:
        if self.date_of_birth is None and self.age is None:
            raise field_problem("date_of_birth", "missing", "give a date_of_birth or an age")
        return self


class Consent(ContractModel):
    """The victim's consent, or the recorded lawful basis for referring without it."""

    given: bool
    recorded_at: AwareDatetime | None = None
    lawful_basis_without_consent: ShortText | None = None


class Perpetrator(ContractModel):
    """Who stalks: the relationship decides the pathway; the rest is for the advocate only."""

    relationship: Relationship
    name: Name | None = None
    details: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Conduct(ContractModel):
    """The course of conduct: how many incidents, when, and what kind."""

    incident_count: Annotated[int, Field(ge=0, le=100_000)]
    first_incident_on: date | None = None
    last_incident_on: date | None = None
    behaviours: Annotated[
        list[Behaviour], Field(max_length=len(Behaviour), json_schema_extra={"uniqueItems": True})
    ] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        first, last = self.first_incident_on, self.last_incident_on
        if first and last and first > last:
            raise field_problem("first_incident_on", "date_order", "is after last_incident_on")
        if len(set(self.behaviours)) != len(self.behaviours):
            raise field_problem("behaviours", "duplicate", "lists a behaviour more than once")
        return self


class Risk(ContractModel):
    """The referrer's risk assessment (S-DASH yes answers where completed)."""

    level: RiskLevel | None = None
    sdash_yes_count: Annotated[int, Field(ge=0, le=11)] | None = None


class ReferralSubmission(ContractModel):
    """A referral as an agency hands it over."""

    model_config = ConfigDict(json_schema_extra=_SUBMISSION_RULES)

    submission_id: Id
    submitted_at: AwareDatetime
    referrer: Referrer
    victim: Victim
    consent: Consent
    perpetrator: Perpetrator
    conduct: Conduct
    risk: Risk = Risk()
    police_crime_reference: Annotated[str, StringConstraints(max_length=64)] | None = None

    @model_validator(mode="after")
    def _lawful_and_consistent(self) -> Self:
        if not self.consent.given:
            if self.referrer.kind is not ReferrerKind.PROFESSIONAL:
                raise field_problem(
                    "consent.given",
                    "consent_required",
                    "must be true unless a professional records lawful_basis_without_consent",
                )
            if not self.consent.lawful_basis_without_consent:
                raise field_problem(
                    "consent.lawful_basis_without_consent",
                    "missing",
                    "is required when consent.given is false (for example safeguarding)",
                )
        day = self.submitted_at.date()
        for field, value in (
            ("victim.date_of_birth", self.victim.date_of_birth),
            ("conduct.first_incident_on", self.conduct.first_incident_on),
            ("conduct.last_incident_on", self.conduct.last_incident_on),
        ):
            if value is not None and value > day:
                raise field_problem(field, "date_in_future", "is after submitted_at")
        recorded = self.consent.recorded_at
        if recorded is not None and recorded > self.submitted_at:
            raise field_problem("consent.recorded_at", "date_in_future", "is after submitted_at")
        return self
