"""`decide` against domain.md's routing policy, step by step, with a small fake postcode directory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from services.router.domain import decide
from services.router.domain.postcodes import PostcodeDirectory
from services.router.engine import CachedRules
from shared import Decision, ReferralSubmission

RECEIVED = date(2026, 11, 20)
Make = Callable[..., ReferralSubmission]


def outcome(d: Decision) -> tuple[str, str | None, list[str]]:
    return d.pathway.value, d.provider and d.provider.value, [n.value for n in d.notify]


def test_a_female_city_victim_of_a_stranger_gets_stalking_advocacy_from_juno(
    route: Callable[..., Decision],
) -> None:
    assert outcome(route()) == ("stalking_advocacy", "juno", [])


def test_a_county_victim_gets_stalking_advocacy_from_nwa(route: Callable[..., Decision]) -> None:
    assert outcome(route(victim__postcode="NG18 4RF")) == ("stalking_advocacy", "nwa", [])


@pytest.mark.parametrize("postcode", ["NG7 2AH", "NG18 4RF"])
def test_a_male_victim_gets_stalking_advocacy_from_equation_in_city_and_county(
    route: Callable[..., Decision], postcode: str
) -> None:
    assert outcome(route(victim__gender="male", victim__postcode=postcode)) == (
        "stalking_advocacy",
        "equation",
        [],
    )


def test_a_victim_outside_the_area_is_signposted_with_no_provider(
    route: Callable[..., Decision],
) -> None:
    d = route(victim__postcode="NG31 9TA")
    assert outcome(d) == ("out_of_area", None, [])
    assert d.signpost is not None
    assert "National Stalking Helpline 0808 802 0300" in d.signpost
    assert (d.locality.area.value, d.locality.local_authority_code) == ("outside", "E07000141")


def test_locality_comes_before_age_so_an_outside_child_is_out_of_area(
    route: Callable[..., Decision],
) -> None:
    assert (
        route(victim__postcode="NG31 9TA", victim__date_of_birth="2015-01-01").pathway.value
        == "out_of_area"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"victim__postcode": "ZZ9 9ZZ"},
        {"victim__postcode": None},
        {"victim__postcode": "NG4 9AB"},
        {"victim__postcode": None, "victim__local_authority_code": "E06000081"},
    ],
)
def test_an_unknown_or_unresolvable_locality_goes_to_triage_with_nwa(
    route: Callable[..., Decision], changes: dict[str, Any]
) -> None:
    d = route(**changes)
    assert outcome(d) == ("triage", "nwa", [])
    assert d.locality.area.value == "unknown"


def test_a_local_authority_code_without_a_postcode_places_the_victim(
    route: Callable[..., Decision],
) -> None:
    d = route(victim__postcode=None, victim__local_authority_code="E07000174")
    assert outcome(d) == ("stalking_advocacy", "nwa", [])
    assert d.locality.local_authority_code == "E07000174"


def test_an_outside_authority_code_without_a_postcode_is_out_of_area(
    route: Callable[..., Decision],
) -> None:
    assert (
        route(victim__postcode=None, victim__local_authority_code="E06000015").pathway.value
        == "out_of_area"
    )


@pytest.mark.parametrize(
    ("postcode", "social_care"),
    [("NG7 2AH", "city_childrens_social_care"), ("NG18 4RF", "county_childrens_social_care")],
)
def test_an_under_16_goes_to_youth_joint_working_notifying_police_and_the_localitys_social_care(
    route: Callable[..., Decision], postcode: str, social_care: str
) -> None:
    d = route(victim__postcode=postcode, victim__date_of_birth="2012-03-04")
    assert outcome(d) == ("youth_joint_working", "nwa", sorted([social_care, "notts_police"]))


def test_the_youth_notify_list_is_sorted_alphabetically(route: Callable[..., Decision]) -> None:
    assert [n.value for n in route(victim__age=12, victim__date_of_birth=None).notify] == [
        "city_childrens_social_care",
        "notts_police",
    ]


def test_a_victim_whose_16th_birthday_is_the_day_received_is_not_a_youth_case(
    route: Callable[..., Decision],
) -> None:
    assert route(victim__date_of_birth="2010-11-20").pathway.value == "stalking_advocacy"
    assert route(victim__date_of_birth="2010-11-21").pathway.value == "youth_joint_working"


def test_a_15_year_old_stalked_by_an_ex_partner_is_a_youth_case_not_domestic(
    route: Callable[..., Decision],
) -> None:
    d = route(victim__date_of_birth="2011-01-01", perpetrator__relationship="ex_partner")
    assert outcome(d) == (
        "youth_joint_working",
        "nwa",
        ["city_childrens_social_care", "notts_police"],
    )


def test_an_unknown_age_goes_to_triage(
    rules: CachedRules, make_submission: Make, directory: PostcodeDirectory
) -> None:
    referral = make_submission(victim__date_of_birth="2026-11-20")
    assert outcome(decide(referral, rules, date(2026, 11, 19), directory)) == ("triage", "nwa", [])


@pytest.mark.parametrize("relationship", ["current_partner", "ex_partner", "family_member"])
@pytest.mark.parametrize(
    ("gender", "provider"), [("female", "juno"), ("non_binary", "juno"), ("male", "equation")]
)
def test_domestic_stalking_goes_to_domestic_abuse_services_juno_or_equation_for_men(
    route: Callable[..., Decision], relationship: str, gender: str, provider: str
) -> None:
    d = route(perpetrator__relationship=relationship, victim__gender=gender)
    assert outcome(d) == ("domestic_abuse_services", provider, [])


def test_domestic_comes_before_course_of_conduct(route: Callable[..., Decision]) -> None:
    d = route(perpetrator__relationship="family_member", conduct__incident_count=1)
    assert d.pathway.value == "domestic_abuse_services"


def test_an_unknown_relationship_goes_to_triage(route: Callable[..., Decision]) -> None:
    assert outcome(route(perpetrator__relationship="unknown")) == ("triage", "nwa", [])


@pytest.mark.parametrize(
    ("incidents", "pathway"), [(0, "triage"), (1, "triage"), (2, "stalking_advocacy")]
)
def test_a_course_of_conduct_needs_at_least_two_incidents(
    route: Callable[..., Decision], incidents: int, pathway: str
) -> None:
    assert route(conduct__incident_count=incidents).pathway.value == pathway
