"""Replaying referrals through a candidate rules version: what would change, counted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.router.adapters.rules_files import default_rules_path
from services.router.domain import Rules, compare
from services.router.domain.postcodes import PostcodeDirectory
from services.router.engine import CachedRules
from shared import ReferralSubmission

Make = Callable[..., ReferralSubmission]


def test_moving_county_allocation_to_juno_moves_only_county_stalking_advocacy_for_women(
    make_submission: Make,
    rules: CachedRules,
    county_juno: CachedRules,
    directory: PostcodeDirectory,
) -> None:
    referrals = [
        make_submission(victim__postcode="NG18 4RF"),  # county, female: nwa -> juno
        make_submission(victim__postcode="NG18 4RF", victim__gender="non_binary"),  # nwa -> juno
        make_submission(victim__postcode="NG18 4RF", victim__gender="male"),  # equation either way
        make_submission(victim__postcode="NG18 4RF", conduct__incident_count=1),  # triage: nwa
        make_submission(victim__postcode="NG18 4RF", victim__age=12, victim__date_of_birth=None),
        make_submission(victim__postcode="NG7 2AH"),  # city: juno either way
        make_submission(victim__postcode="NG31 9TA", risk__level="high"),  # out of area
    ]
    result = compare(referrals, county_juno, rules, directory)
    assert (result.candidate, result.baseline) == ("2026-11-county-juno", "2026-11-default")
    assert (result.referrals, result.changed, result.undecided) == (7, 2, 0)
    assert dict(result.changes["provider"]) == {("nwa", "juno"): 2}
    assert not result.changes["pathway"]
    assert not result.changes["priority"]


def test_the_same_version_against_itself_changes_nothing(
    make_submission: Make, rules: CachedRules, directory: PostcodeDirectory
) -> None:
    result = compare(
        [make_submission(), make_submission(victim__postcode="NG18 4RF")], rules, rules, directory
    )
    assert (result.referrals, result.changed) == (2, 0)


def test_a_referral_a_version_cannot_decide_is_counted_not_dropped(
    make_submission: Make, rules: CachedRules, directory: PostcodeDirectory
) -> None:
    graph: dict[str, Any] = json.loads(default_rules_path().read_text())
    allocation = next(n for n in graph["nodes"] if n["name"] == "allocation")
    for row in allocation["content"]["rules"]:
        row["allocation.out.route.provider"] = "null"  # breaks the contract: no provider
    broken = Rules.from_json(json.dumps(graph))
    result = compare(
        [make_submission(), make_submission(conduct__incident_count=1)], broken, rules, directory
    )
    assert (result.referrals, result.undecided, result.changed) == (2, 1, 0)
