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

from datetime import date
from typing import Annotated, Self

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints, model_validator

from shared import _fields
from shared._base import ContractModel, field_problem
from shared._fields import (
    _REFERRER_RULES,
    _SAFE_CONTACT_RULES,
    _SUBMISSION_RULES,
    _VICTIM_RULES,
    PHONE_PATTERN,
    POSTCODE_PATTERN,
    VISIBLE_PATTERN,
    AgencyCode,
    Email,
    GssCode,
    Id,
    Name,
    Phone,
    Postcode,
    ShortText,
    normalise_postcode,
)
from shared.enums import Behaviour, ContactMethod, Gender, ReferrerKind, Relationship, RiskLevel

# The field types live in `_fields` (this module stays the contract's one address for them).
__all__ = [
    "PHONE_PATTERN",
    "POSTCODE_PATTERN",
    "VISIBLE_PATTERN",
    "AgencyCode",
    "Conduct",
    "Consent",
    "Email",
    "GssCode",
    "Id",
    "Name",
    "Perpetrator",
    "Phone",
    "Postcode",
    "ReferralSubmission",
    "Referrer",
    "Risk",
    "SafeContact",
    "ShortText",
    "Victim",
    "normalise_postcode",
]

# The phone validator, where the contract tests hold it to PHONE_PATTERN.
_phone = _fields._phone


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
