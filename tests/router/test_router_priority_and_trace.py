"""Priority on every pathway, and what a decision records: trace, rules version, ids, time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from services.router.domain import decide, received_on
from services.router.domain.postcodes import PostcodeDirectory
from services.router.engine import CachedRules
from shared import Decision, ReferralReceived, ReferralSubmission

Make = Callable[..., ReferralSubmission]

PATHWAYS: dict[str, dict[str, Any]] = {
    "stalking_advocacy": {},
    "youth_joint_working": {"victim__date_of_birth": "2012-03-04"},
    "domestic_abuse_services": {"perpetrator__relationship": "ex_partner"},
    "out_of_area": {"victim__postcode": "NG31 9TA"},
    "triage": {"conduct__incident_count": 1},
}
URGENT: dict[str, dict[str, Any]] = {
    "high risk": {"risk__level": "high"},
    "violence": {"conduct__behaviours": ["following", "violence"]},
    "threats": {"conduct__behaviours": ["threats_of_violence"]},
}


@pytest.mark.parametrize("pathway", PATHWAYS)
@pytest.mark.parametrize("trigger", URGENT)
def test_high_risk_violence_or_threats_make_any_pathway_urgent(
    route: Callable[..., Decision], pathway: str, trigger: str
) -> None:
    d = route(**PATHWAYS[pathway], **URGENT[trigger])
    assert (d.pathway.value, d.priority.value) == (pathway, "urgent")


@pytest.mark.parametrize("pathway", PATHWAYS)
def test_without_those_any_pathway_is_standard(
    route: Callable[..., Decision], pathway: str
) -> None:
    d = route(**PATHWAYS[pathway], risk__level=None, conduct__behaviours=["online", "gifts"])
    assert (d.pathway.value, d.priority.value) == (pathway, "standard")


def test_the_trace_names_each_rule_and_the_facts_it_used(route: Callable[..., Decision]) -> None:
    d = route(victim__postcode="NG18 4RF")
    assert [s.rule for s in d.trace] == [
        "conduct.course_of_conduct",
        "allocation.county",
        "notify.none",
        "priority.standard",
    ]
    first = d.trace[0].facts
    assert {
        k: first[k] for k in ("area", "age", "relationship_class", "incident_count", "gender")
    } == {
        "area": "nottinghamshire_county",
        "age": 36,
        "relationship_class": "non_domestic",
        "incident_count": 3,
        "gender": "female",
    }
    assert (first["locality_source"], first["local_authority_code"], first["age_source"]) == (
        "postcode",
        "E07000174",
        "date_of_birth",
    )
    assert d.trace[3].facts == {
        "risk_level": "medium",
        "behaviours.violence": False,
        "behaviours.threats_of_violence": False,
    }


def test_a_decision_records_the_rules_version_and_the_submission(
    route: Callable[..., Decision],
) -> None:
    d = route(submission_id="NP-2026-000123")
    assert (d.rules_version, d.submission_id, d.referral_id) == (
        "2026-11-default",
        "NP-2026-000123",
        None,
    )
    assert d.decided_at == datetime.fromisoformat("2026-11-20T10:15:00+00:00")


def test_a_received_referral_keeps_its_id_and_is_decided_as_of_its_receipt(
    make_submission: Make, rules: CachedRules, directory: PostcodeDirectory
) -> None:
    received = ReferralReceived(
        referral_id=uuid4(),
        received_at=datetime.fromisoformat("2026-11-21T09:00:00+00:00"),
        referrer_agency="notts-police",
        submission=make_submission(victim__date_of_birth="2010-11-21"),
    )
    d = decide(received, rules, received_on(received), directory)
    assert (d.referral_id, d.decided_at) == (received.referral_id, received.received_at)
    assert (
        d.pathway.value == "stalking_advocacy"
    )  # 16 on the day received, though 15 when submitted


def test_the_same_referral_always_gets_the_same_decision(route: Callable[..., Decision]) -> None:
    assert route().model_dump_json() == route().model_dump_json()
