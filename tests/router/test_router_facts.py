"""Fact derivation: age on the date received, locality, relationship class."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from services.common.routing_facts import age_on, uk_date
from services.router.domain.facts import (
    FACT_NAMES,
    PROVENANCE,
    AgeSource,
    LocalitySource,
    RelationshipClass,
    derive_facts,
    locate,
    relationship_class,
)
from services.router.domain.postcodes import PostcodeDirectory
from shared import Area, ReferralSubmission, Relationship

RECEIVED = date(2026, 11, 20)
Make = Callable[..., ReferralSubmission]


def test_sixteenth_birthday_on_the_day_counts_as_sixteen() -> None:
    assert age_on(date(2010, 11, 20), date(2026, 11, 20)) == 16


def test_the_day_before_the_sixteenth_birthday_is_fifteen() -> None:
    assert age_on(date(2010, 11, 21), date(2026, 11, 20)) == 15


def test_a_29_february_birthday_is_reached_on_1_march_in_a_common_year() -> None:
    born = date(2008, 2, 29)
    assert age_on(born, date(2025, 2, 28)) == 16
    assert age_on(born, date(2025, 3, 1)) == 17


def test_a_29_february_birthday_is_reached_on_29_february_in_a_leap_year() -> None:
    born = date(2012, 2, 29)
    assert age_on(born, date(2028, 2, 28)) == 15
    assert age_on(born, date(2028, 2, 29)) == 16


def test_the_date_received_is_the_uk_date_so_late_evening_utc_in_summer_is_the_next_day() -> None:
    assert uk_date(datetime(2026, 6, 1, 23, 30, tzinfo=UTC)) == date(2026, 6, 2)
    assert uk_date(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)


def test_date_of_birth_wins_over_a_stated_age(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    referral = make_submission(victim__date_of_birth="2012-03-04", victim__age=40)
    facts = derive_facts(referral, RECEIVED, directory)
    assert (facts.age, facts.age_source) == (14, AgeSource.DATE_OF_BIRTH)


def test_a_stated_age_is_used_when_there_is_no_date_of_birth(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    facts = derive_facts(
        make_submission(victim__date_of_birth=None, victim__age=15), RECEIVED, directory
    )
    assert (facts.age, facts.age_source) == (15, AgeSource.AGE)


def test_a_date_of_birth_after_the_date_received_gives_no_age(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    referral = make_submission(victim__date_of_birth="2026-11-20")
    facts = derive_facts(referral, date(2026, 11, 19), directory)
    assert (facts.age, facts.age_source) == (None, AgeSource.BORN_AFTER_RECEIPT)


@pytest.mark.parametrize(
    ("relationship", "expected"),
    [
        (Relationship.CURRENT_PARTNER, RelationshipClass.DOMESTIC),
        (Relationship.EX_PARTNER, RelationshipClass.DOMESTIC),
        (Relationship.FAMILY_MEMBER, RelationshipClass.DOMESTIC),
        (Relationship.UNKNOWN, RelationshipClass.UNKNOWN),
        (Relationship.STRANGER, RelationshipClass.NON_DOMESTIC),
        (Relationship.ACQUAINTANCE, RelationshipClass.NON_DOMESTIC),
        (Relationship.COLLEAGUE, RelationshipClass.NON_DOMESTIC),
        (Relationship.NEIGHBOUR, RelationshipClass.NON_DOMESTIC),
        (Relationship.ONLINE_CONTACT, RelationshipClass.NON_DOMESTIC),
        (Relationship.OTHER, RelationshipClass.NON_DOMESTIC),
    ],
)
def test_partners_ex_partners_and_family_are_domestic_unknown_is_unknown_the_rest_not(
    relationship: Relationship, expected: RelationshipClass
) -> None:
    assert relationship_class(relationship) is expected


def test_the_postcode_wins_over_a_given_code_when_both_place_the_victim(
    directory: PostcodeDirectory,
) -> None:
    assert locate("NG7 2AH", "E07000174", directory) == (
        Area.NOTTINGHAM_CITY,
        "E06000018",
        LocalitySource.POSTCODE,
    )


def test_a_postcode_placing_the_victim_outside_against_an_in_area_code_is_unknown(
    directory: PostcodeDirectory,
) -> None:
    assert locate("NG31 9TA", "E07000174", directory) == (
        Area.UNKNOWN,
        None,
        LocalitySource.DISAGREE,
    )


def test_a_postcode_placing_the_victim_inside_against_an_outside_code_wins(
    directory: PostcodeDirectory,
) -> None:
    assert locate("NG18 4RF", "E06000015", directory)[0] is Area.NOTTINGHAMSHIRE_COUNTY


def test_a_given_code_is_used_when_the_postcode_is_not_found(directory: PostcodeDirectory) -> None:
    assert locate("ZZ9 9ZZ", "E07000174", directory) == (
        Area.NOTTINGHAMSHIRE_COUNTY,
        "E07000174",
        LocalitySource.LA_CODE,
    )


def test_a_postcode_without_an_authority_falls_back_to_the_code_or_is_unknown(
    directory: PostcodeDirectory,
) -> None:
    assert locate("NG4 9AB", "E06000018", directory)[0] is Area.NOTTINGHAM_CITY
    assert locate("NG4 9AB", None, directory) == (
        Area.UNKNOWN,
        None,
        LocalitySource.POSTCODE_NOT_FOUND,
    )


def test_the_county_councils_own_code_places_the_victim_in_the_county(
    directory: PostcodeDirectory,
) -> None:
    assert locate(None, "E10000024", directory)[0] is Area.NOTTINGHAMSHIRE_COUNTY


def test_an_unrecognised_code_is_unknown_not_outside(directory: PostcodeDirectory) -> None:
    assert locate(None, "E06000081", directory) == (
        Area.UNKNOWN,
        None,
        LocalitySource.LA_CODE_NOT_RECOGNISED,
    )


def test_no_postcode_and_no_code_is_unknown(directory: PostcodeDirectory) -> None:
    assert locate(None, None, directory) == (Area.UNKNOWN, None, LocalitySource.NONE)


def test_any_other_known_authority_is_outside(directory: PostcodeDirectory) -> None:
    assert locate(None, "E06000015", directory) == (
        Area.OUTSIDE,
        "E06000015",
        LocalitySource.LA_CODE,
    )


def test_every_behaviour_reaches_the_engine_as_true_or_false(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    facts = derive_facts(make_submission(conduct__behaviours=["violence"]), RECEIVED, directory)
    behaviours = facts.context()["behaviours"]
    assert behaviours["violence"] is True
    assert behaviours["threats_of_violence"] is False
    assert len(behaviours) == 11


def test_the_engine_input_offers_exactly_the_documented_fact_names(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    assert set(derive_facts(make_submission(), RECEIVED, directory).context()) == FACT_NAMES


def test_every_provenance_note_a_trace_may_show_is_given_as_a_plain_value(
    make_submission: Make, directory: PostcodeDirectory
) -> None:
    notes = derive_facts(make_submission(), RECEIVED, directory).provenance()
    assert set(notes) == {note for names in PROVENANCE.values() for note in names}
    assert all(type(v) in (str, type(None)) for v in notes.values())
