"""The shipped rules files: the policy of domain.md exactly, as data, memoised exactly."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.adapters.rules_files import RULES_DIR, default_rules_path
from services.router.domain import Rules
from services.router.engine import CachedRules
from shared import Behaviour, Gender, Relationship

AREAS = ["nottingham_city", "nottinghamshire_county", "outside", "unknown"]
CLASSES = ["domestic", "non_domestic", "unknown"]
GENDERS = [g.value for g in Gender]
RISKS = [None, "standard", "medium", "high"]
EngineInput = Callable[..., dict[str, Any]]


def policy(
    c: dict[str, Any], county_provider: str = "nwa"
) -> tuple[str, str | None, list[str], str]:
    """domain.md's routing policy, written out independently of the rules file."""
    area, age, male = c["area"], c["age"], c["gender"] == "male"
    b = c["behaviours"]
    urgent = c["risk_level"] == "high" or b["violence"] or b["threats_of_violence"]
    priority = "urgent" if urgent else "standard"
    if area == "outside":
        return "out_of_area", None, [], priority
    if area == "unknown" or age is None:
        return "triage", "nwa", [], priority
    if age < 16:
        social_care = "city" if area == "nottingham_city" else "county"
        return (
            "youth_joint_working",
            "nwa",
            [f"{social_care}_childrens_social_care", "notts_police"],
            priority,
        )
    if c["relationship_class"] == "domestic":
        return "domestic_abuse_services", "equation" if male else "juno", [], priority
    if c["relationship_class"] == "unknown" or c["incident_count"] < 2:
        return "triage", "nwa", [], priority
    provider = "equation" if male else "juno" if area == "nottingham_city" else county_provider
    return "stalking_advocacy", provider, [], priority


def grid(engine_input: EngineInput) -> list[dict[str, Any]]:
    combos = itertools.product(
        AREAS,
        [None, 0, 15, 16, 17, 70],
        CLASSES,
        GENDERS,
        [0, 1, 2, 9],
        RISKS,
        [False, True],
        [False, True],
    )
    return [
        engine_input(
            area=a,
            age=age,
            relationship_class=rc,
            gender=g,
            incident_count=n,
            risk_level=r,
            behaviours={**engine_input()["behaviours"], "violence": v, "threats_of_violence": t},
        )
        for a, age, rc, g, n, r, v, t in combos
    ]


@pytest.mark.parametrize(
    ("name", "county"), [("2026-11-default", "nwa"), ("2026-11-county-juno", "juno")]
)
def test_each_shipped_rules_file_routes_every_combination_of_facts_as_the_policy_says(
    name: str, county: str, engine_input: EngineInput
) -> None:
    rules = Rules.from_json((RULES_DIR / f"{name}.json").read_text(), file_stem=name)
    for c in grid(engine_input):
        o = rules.outcome(c)
        got = (
            o.pathway.value,
            o.provider and o.provider.value,
            [p.value for p in o.notify],
            o.priority.value,
        )
        assert got == policy(c, county), c


def test_the_rules_in_force_are_the_default_version() -> None:
    assert default_rules_path().name == "2026-11-default.json"


def test_moving_county_allocation_to_juno_changes_only_the_allocation_table_data() -> None:
    old, new = (
        json.loads((RULES_DIR / f"{n}.json").read_text())
        for n in ("2026-11-default", "2026-11-county-juno")
    )
    assert old["edges"] == new["edges"]
    changed = [a["name"] for a, b in zip(old["nodes"], new["nodes"], strict=True) if a != b]
    assert changed == ["allocation"]


def test_the_files_label_allocation_and_priority_as_project_defaults(rules: CachedRules) -> None:
    assert set(rules.uncached.project_defaults) == {"allocation", "priority"}


def test_the_memo_key_holds_only_what_the_tables_read_with_ages_and_counts_by_interval(
    rules: CachedRules, engine_input: EngineInput
) -> None:
    assert rules.projection.bands == {"age": (16,), "incident_count": (2,)}
    assert "behaviours.violence" in rules.projection.paths
    assert "behaviours.following" not in rules.projection.paths
    assert rules.projection.key(engine_input(age=17)) == rules.projection.key(engine_input(age=90))
    assert rules.projection.key(engine_input(age=15)) != rules.projection.key(engine_input(age=16))


facts = st.fixed_dictionaries(
    {
        "area": st.sampled_from(AREAS),
        "age": st.none() | st.integers(0, 120),
        "relationship": st.sampled_from([r.value for r in Relationship]),
        "relationship_class": st.sampled_from(CLASSES),
        "gender": st.sampled_from(GENDERS),
        "incident_count": st.integers(0, 200),
        "risk_level": st.sampled_from(RISKS),
        "sdash_yes_count": st.none() | st.integers(0, 11),
        "behaviours": st.fixed_dictionaries({b.value: st.booleans() for b in Behaviour}),
    }
)


MEMO_UNDER_TEST = CachedRules(Rules.from_json(default_rules_path().read_text()))


@settings(max_examples=200, deadline=None)
@given(contexts=st.lists(facts, min_size=1, max_size=25))
def test_a_memoised_outcome_is_always_the_engines_own(contexts: list[dict[str, Any]]) -> None:
    # One memo across all examples: many inputs share a key, and each must get the engine's answer.
    for c in contexts:
        assert MEMO_UNDER_TEST.outcome(c) == MEMO_UNDER_TEST.evaluate(c)
