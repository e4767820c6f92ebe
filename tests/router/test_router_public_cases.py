"""Every public routing case (../shared/cases) decided as expected, with the real postcode data."""

from __future__ import annotations

from typing import Any

from services.router.domain import PostcodeIndex, decide, received_on
from services.router.engine import CachedRules
from shared import ReferralSubmission


def test_every_public_case_is_decided_as_expected(
    public_routing_cases: list[dict[str, Any]], rules: CachedRules, onspd: PostcodeIndex
) -> None:
    assert len(public_routing_cases) >= 8
    for case in public_routing_cases:
        referral = ReferralSubmission.model_validate(case["submission"])
        d = decide(referral, rules, received_on(referral), onspd)
        got = {
            "area": d.locality.area.value,
            "notify": [n.value for n in d.notify],
            "pathway": d.pathway.value,
            "priority": d.priority.value,
            "provider": d.provider and d.provider.value,
        }
        assert got == case["expect"], referral.submission_id
