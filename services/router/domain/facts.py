"""The facts routing decides on, derived from one referral: age, locality, relationship, conduct, risk.

Rules kept here (../shared/domain.md):
- age is taken on the date received: from the date of birth when given (it wins over a stated age),
  else the stated age; a 16th birthday on the day counts as 16; someone born on 29 February has
  their birthday on 1 March in common years (the English convention); a date of birth after the
  date received gives no age;
- the date received is the UK calendar date of the receipt instant (Europe/London), so a referral
  at 23:30 UTC in summer counts from the next day;
- locality is decided per full postcode, never per district: the postcode's authority wins when
  the directory places it; otherwise a given GSS code the directory knows (or the county
  council's own code) is used; otherwise the locality is unknown. One exception: when the
  postcode places the victim outside but the given code is in the area, they disagree about
  whether this service is the right one, and the locality is unknown (triage by a person) rather
  than out of area, since a wrong `out_of_area` silently turns a victim away;
- Nottingham City is E06000018; the county is its seven districts E07000170-E07000176, or the
  county council E10000024; any other known authority is `outside`;
- domestic means personally connected (Domestic Abuse Act 2021 s.2): current or ex partner, or a
  family member; `unknown` is unknown; everything else, `other` included, is non-domestic (a
  referrer who knew of a partner or relative would say so; triage still catches the unknown).
- a sealed submission (issue 14: personal fields encrypted, the router holds no key) comes with
  intake's `RoutingFacts`: the age as intake took it (same rule, `services.common.routing_facts`)
  and the postcode's authority as the directory answered; the locality rule above is the same;
  a sealed submission without routing facts cannot be routed (ValueError).
Thresholds (16, two incidents) and the priority rule are not here: they are policy, in the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

# The age rule is shared with intake, which applies it before sealing.
from services.common.routing_facts import age_on
from services.router.domain.postcodes import PostcodeDirectory
from shared import (
    Area,
    Behaviour,
    Gender,
    ReferralSubmission,
    Relationship,
    RiskLevel,
    RoutingFacts,
    SealedSubmission,
)

CITY: Final = "E06000018"
COUNTY_DISTRICTS: Final = frozenset(f"E0700017{n}" for n in range(7))
COUNTY_COUNCIL: Final = "E10000024"
DOMESTIC: Final = frozenset(
    {Relationship.CURRENT_PARTNER, Relationship.EX_PARTNER, Relationship.FAMILY_MEMBER}
)
_BEHAVIOURS: Final = tuple(b.value for b in Behaviour)


class RelationshipClass(StrEnum):
    DOMESTIC = "domestic"
    NON_DOMESTIC = "non_domestic"
    UNKNOWN = "unknown"


class LocalitySource(StrEnum):
    POSTCODE = "postcode"
    LA_CODE = "local_authority_code"
    DISAGREE = "postcode_and_code_disagree"
    POSTCODE_NOT_FOUND = "postcode_not_found"
    LA_CODE_NOT_RECOGNISED = "local_authority_code_not_recognised"
    NONE = "none"


class AgeSource(StrEnum):
    DATE_OF_BIRTH = "date_of_birth"
    AGE = "age"
    BORN_AFTER_RECEIPT = "date_of_birth_after_received"


# A named tuple rather than a frozen dataclass: as immutable, and made in a third of the time (one
# is made per referral, and a frozen dataclass sets each of its twelve fields through a call).
class Facts(NamedTuple):
    """What the rules see about one referral, with where the derived facts came from."""

    area: Area
    local_authority_code: str | None
    locality_source: LocalitySource
    age: int | None
    age_source: AgeSource
    relationship: Relationship
    relationship_class: RelationshipClass
    gender: Gender
    incident_count: int
    risk_level: RiskLevel | None
    sdash_yes_count: int | None
    behaviours: frozenset[Behaviour]

    def context(self) -> dict[str, Any]:
        """The engine's input: plain JSON values (each enum as its str value, which the trace
        copies and serialises several times faster than the enum), every behaviour true or false."""
        # `_value_` is the member's value as a plain attribute: `.value` is a property, and this
        # runs once per referral.
        return {
            "area": self.area._value_,
            "age": self.age,
            "relationship": self.relationship._value_,
            "relationship_class": self.relationship_class._value_,
            "gender": self.gender._value_,
            "incident_count": self.incident_count,
            "risk_level": None if self.risk_level is None else self.risk_level._value_,
            "sdash_yes_count": self.sdash_yes_count,
            "behaviours": self._behaviours(),
        }

    def _behaviours(self) -> dict[str, bool]:
        flags = dict.fromkeys(_BEHAVIOURS, False)  # every behaviour, in one order
        for behaviour in self.behaviours:
            flags[behaviour._value_] = True
        return flags

    def provenance(self) -> dict[str, Any]:
        """Where the derived facts came from: each note of PROVENANCE, as a plain JSON value."""
        return {
            "local_authority_code": self.local_authority_code,
            "locality_source": self.locality_source._value_,
            "age_source": self.age_source._value_,
            "relationship": self.relationship._value_,
        }


# The names the engine input offers, and the notes a trace adds next to a fact a rule used.
FACT_NAMES: Final = frozenset(
    {
        "area",
        "age",
        "relationship",
        "relationship_class",
        "gender",
        "incident_count",
        "risk_level",
        "sdash_yes_count",
        "behaviours",
    }
)
PROVENANCE: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "area": ("local_authority_code", "locality_source"),
        "age": ("age_source",),
        "relationship_class": ("relationship",),
    }
)


def area_of(code: str) -> Area:
    if code == CITY:
        return Area.NOTTINGHAM_CITY
    if code in COUNTY_DISTRICTS or code == COUNTY_COUNCIL:
        return Area.NOTTINGHAMSHIRE_COUNTY
    return Area.OUTSIDE


def locate(
    postcode: str | None, given: str | None, directory: PostcodeDirectory
) -> tuple[Area, str | None, LocalitySource]:
    """Area, the authority code it rests on, and how it was found (see the module rules)."""
    found = directory.la_code(postcode) if postcode else None
    return place(found, postcode_given=bool(postcode), given=given, directory=directory)


def place(
    found: str | None, *, postcode_given: bool, given: str | None, directory: PostcodeDirectory
) -> tuple[Area, str | None, LocalitySource]:
    """`locate` once the postcode's authority is known (`found`, None if it cannot be placed)."""
    known = given if given and (given == COUNTY_COUNCIL or directory.knows_la_code(given)) else None
    if found is not None:
        area = area_of(found)
        if area is Area.OUTSIDE and known is not None and area_of(known) is not Area.OUTSIDE:
            return Area.UNKNOWN, None, LocalitySource.DISAGREE
        return area, found, LocalitySource.POSTCODE
    if known is not None:
        return area_of(known), known, LocalitySource.LA_CODE
    if postcode_given:
        return Area.UNKNOWN, None, LocalitySource.POSTCODE_NOT_FOUND
    if given:
        return Area.UNKNOWN, None, LocalitySource.LA_CODE_NOT_RECOGNISED
    return Area.UNKNOWN, None, LocalitySource.NONE


def relationship_class(relationship: Relationship) -> RelationshipClass:
    if relationship in DOMESTIC:
        return RelationshipClass.DOMESTIC
    if relationship is Relationship.UNKNOWN:
        return RelationshipClass.UNKNOWN
    return RelationshipClass.NON_DOMESTIC


_CLASS_OF: Final = MappingProxyType({r: relationship_class(r) for r in Relationship})


def derive_facts(
    submission: ReferralSubmission | SealedSubmission,
    received_on: date,
    postcodes: PostcodeDirectory,
    routing: RoutingFacts | None = None,
) -> Facts:
    """The facts of `submission` as received on `received_on` (see the module rules)."""
    victim = submission.victim
    if isinstance(submission, SealedSubmission):
        if routing is None:
            raise ValueError("a sealed submission needs its routing facts (routing)")
        age, age_source = routing.age, AgeSource(routing.age_source)
        area, code, source = place(
            routing.postcode_local_authority_code,
            postcode_given=routing.postcode_given,
            given=victim.local_authority_code,
            directory=postcodes,
        )
    else:
        age, age_source = victim.age, AgeSource.AGE
        if submission.victim.date_of_birth is not None:
            born = submission.victim.date_of_birth
            age, age_source = age_on(born, received_on), AgeSource.DATE_OF_BIRTH
            if age < 0:
                age, age_source = None, AgeSource.BORN_AFTER_RECEIPT
        area, code, source = locate(
            submission.victim.postcode, victim.local_authority_code, postcodes
        )
    relationship = submission.perpetrator.relationship
    return Facts(
        area=area,
        local_authority_code=code,
        locality_source=source,
        age=age,
        age_source=age_source,
        relationship=relationship,
        relationship_class=_CLASS_OF[relationship],
        gender=victim.gender,
        incident_count=submission.conduct.incident_count,
        risk_level=submission.risk.level,
        sdash_yes_count=submission.risk.sdash_yes_count,
        behaviours=frozenset(submission.conduct.behaviours),
    )
