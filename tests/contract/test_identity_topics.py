"""Identity topics (contract additions): the name is the writer, read back exactly.

Rules checked:
- `referrals.submitted.<agency>.v1` and `assignments.responses.<provider>.v1` name one
  identity, and the subscription patterns match exactly those topics, never the shared v1
  topics nor a name with extra segments;
- an identity is a lower-case slug: anything that could add a segment or a wildcard is refused;
- lag is measured on every existing topic a group's pattern matches.
"""

from __future__ import annotations

import re

import pytest

from services.common.lag import expand_patterns
from shared.topics import (
    ALL_TOPICS,
    RESPONSES_TOPIC_PATTERN,
    SUBMISSIONS_TOPIC_PATTERN,
    agency_of_topic,
    provider_of_topic,
    responses_topic,
    submissions_topic,
)


def test_an_agencys_topic_names_that_agency_and_only_it() -> None:
    assert submissions_topic("notts-police") == "referrals.submitted.notts-police.v1"
    assert agency_of_topic("referrals.submitted.notts-police.v1") == "notts-police"


def test_a_providers_responses_topic_names_that_provider() -> None:
    assert responses_topic("juno") == "assignments.responses.juno.v1"
    assert provider_of_topic("assignments.responses.juno.v1") == "juno"
    with pytest.raises(ValueError, match="unknown provider"):
        responses_topic("acme")


@pytest.mark.parametrize(
    "topic",
    [
        "referrals.submitted.v1",
        "referrals.submitted.a.b.v1",
        "referrals.submitted.notts-police.v1.extra",
        "xreferrals.submitted.notts-police.v1",
        "referrals.submitted.Notts.v1",
        "referrals.submitted.-police.v1",
        "referralsXsubmittedXnotts.v1",
    ],
)
def test_no_other_topic_is_taken_for_an_agencys(topic: str) -> None:
    assert agency_of_topic(topic) is None
    assert re.match(SUBMISSIONS_TOPIC_PATTERN, topic) is None


def test_the_shared_topics_match_neither_pattern() -> None:
    for topic in ALL_TOPICS:
        assert re.match(SUBMISSIONS_TOPIC_PATTERN, topic) is None
        assert re.match(RESPONSES_TOPIC_PATTERN, topic) is None


@pytest.mark.parametrize("agency", ["", "a.b", "UPPER", "a*", "-x", "x-", "a" * 64, "a b"])
def test_an_agency_id_that_is_not_a_slug_makes_no_topic(agency: str) -> None:
    with pytest.raises(ValueError, match="slug"):
        submissions_topic(agency)


def test_a_pattern_group_is_measured_on_every_topic_it_matches_now() -> None:
    groups: dict[str, tuple[str, ...]] = {
        "intake-agency-submissions": (SUBMISSIONS_TOPIC_PATTERN,),
        "intake-submissions": ("referrals.submitted.v1",),
        "provider-gateway-provider-responses": (RESPONSES_TOPIC_PATTERN,),
    }
    existing = ["referrals.submitted.v1", "referrals.submitted.b.v1", "referrals.submitted.a.v1"]
    assert expand_patterns(groups, existing) == {
        "intake-agency-submissions": ("referrals.submitted.a.v1", "referrals.submitted.b.v1"),
        "intake-submissions": ("referrals.submitted.v1",),
    }
