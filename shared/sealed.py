"""The sealed form of a referral: personal fields encrypted, and the facts routing needs.

Rules kept here (contract v1 addition, issue 14):
- on `referrals.received.v1` and `assignments.<provider>.v1` (and in intake's tables) the
  victim's, referrer's and perpetrator's identifying fields and free text are `Sealed` values:
  AEAD ciphertext under the referral's own data key. The other fields keep their v1 form;
- a `Sealed` value names what opens it: the algorithm, the data key id (the referral id) and the
  version of the key-encryption key that wraps that data key; its associated data (not carried,
  recomputed by the reader) binds the referral id and the field's dotted path, so a value
  cannot be moved to another field or another referral;
- a field that is null stays null (whether it was given is not secret: the contract's rules
  depend on it);
- a field that holds either form (`EitherSubmission`) is told by `victim.name`: an object is the
  sealed form, anything else the clear one, so a broken submission is reported against the one
  form it meant (its fields by their own paths), never against both;
- `RoutingFacts` is what the router needs that would otherwise come from a sealed field: the
  age on the day received and the local authority of the postcode. No personal field in clear.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, Discriminator, Field, StringConstraints, Tag

from shared._base import ContractModel
from shared.enums import ContactMethod, Gender, ReferrerKind, Relationship
from shared.submission import AgencyCode, Conduct, GssCode, Id, ReferralSubmission, Risk

SEALING_ALGORITHM: Final = "tink/AES256_GCM"

# Every personal field of a ReferralSubmission, as the dotted path that is also its AEAD
# associated data. The organisation and the lawful basis are free text a referrer writes (a
# self-referrer's "organisation", a basis that names a person), so they are sealed too.
SEALED_PATHS: Final[tuple[str, ...]] = (
    "referrer.organisation",
    "referrer.name",
    "referrer.email",
    "referrer.phone",
    "victim.name",
    "victim.date_of_birth",
    "victim.postcode",
    "victim.safe_contact.phone",
    "victim.safe_contact.email",
    "victim.safe_contact.safe_times",
    "consent.lawful_basis_without_consent",
    "perpetrator.name",
    "perpetrator.details",
    "police_crime_reference",
)


class Sealed(ContractModel):
    """One personal field, encrypted under its referral's data key."""

    alg: Literal["tink/AES256_GCM"] = Field(
        description="AEAD of the data key (Google Tink keyset, AES-256-GCM, Tink key-id prefix)"
    )
    kid: UUID = Field(description="data key id: the referral id")
    kek: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,32}$")] = Field(
        description="version of the key-encryption key that wraps the data key"
    )
    ct: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=8192)] = Field(
        description="base64url (no padding) of the Tink ciphertext; associated data is "
        "'nsas-pii/1|<kid>|<dotted field path>'"
    )


class SealedReferrer(ContractModel):
    kind: ReferrerKind
    organisation: Sealed | None = None
    agency_code: AgencyCode | None = None
    name: Sealed | None = None
    email: Sealed | None = None
    phone: Sealed | None = None


class SealedSafeContact(ContractModel):
    method: ContactMethod
    phone: Sealed | None = None
    email: Sealed | None = None
    voicemail_safe: bool = False
    safe_times: Sealed | None = None


class SealedVictim(ContractModel):
    name: Sealed
    date_of_birth: Sealed | None = None
    age: Annotated[int, Field(ge=0, le=120)] | None = None
    gender: Gender
    postcode: Sealed | None = None
    local_authority_code: GssCode | None = None
    safe_contact: SealedSafeContact


class SealedConsent(ContractModel):
    given: bool
    recorded_at: AwareDatetime | None = None
    lawful_basis_without_consent: Sealed | None = None


class SealedPerpetrator(ContractModel):
    relationship: Relationship
    name: Sealed | None = None
    details: Sealed | None = None


class SealedSubmission(ContractModel):
    """A ReferralSubmission with every personal field sealed (see SEALED_PATHS)."""

    submission_id: Id
    submitted_at: AwareDatetime
    referrer: SealedReferrer
    victim: SealedVictim
    consent: SealedConsent
    perpetrator: SealedPerpetrator
    conduct: Conduct
    risk: Risk = Risk()
    police_crime_reference: Sealed | None = None


class RoutingFacts(ContractModel):
    """What routing needs from the sealed fields, derived by intake when it received the referral."""

    age: Annotated[int, Field(ge=0)] | None = Field(
        description="age on the UK date received (from the date of birth when given)"
    )
    age_source: Literal["date_of_birth", "age", "date_of_birth_after_received"]
    postcode_given: bool
    postcode_local_authority_code: GssCode | None = Field(
        description="GSS code of the postcode's local authority in the ONS Postcode Directory, "
        "null when no postcode was given or the directory cannot place it"
    )


def _form(value: Any) -> str:
    if isinstance(value, SealedSubmission):
        return "SealedSubmission"
    if isinstance(value, dict):
        victim = value.get("victim")
        if isinstance(victim, dict) and isinstance(victim.get("name"), dict):
            return "SealedSubmission"
    return "ReferralSubmission"


# The tags are class names, which field_errors leaves out of a field's path.
EitherSubmission = Annotated[
    Annotated[ReferralSubmission, Tag("ReferralSubmission")]
    | Annotated[SealedSubmission, Tag("SealedSubmission")],
    Discriminator(_form),
]
