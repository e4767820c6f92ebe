"""Rules files that cannot be used are refused at load; results that break the contract are errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from services.router.adapters.rules_files import default_rules_path
from services.router.domain import RuleOutcomeError, Rules, RulesFileError
from services.router.engine import CachedRules

EngineInput = Callable[..., dict[str, Any]]


def _variant(change: Callable[[dict[str, Any]], object]) -> str:
    graph = json.loads(default_rules_path().read_text())
    change(graph)
    return json.dumps(graph)


def _table(graph: dict[str, Any], name: str) -> dict[str, Any]:
    node: dict[str, Any] = next(n for n in graph["nodes"] if n.get("name") == name)
    return node


def _cell(graph: dict[str, Any], table: str, rule: str, column: str, value: str) -> None:
    row = next(r for r in _table(graph, table)["content"]["rules"] if r["_id"] == rule)
    row[f"{table}.{column}"] = value


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda g: g["metadata"].update(version="2026-12-other"), "rename"),
        (lambda g: _table(g, "priority")["content"].update(hitPolicy="collect"), "first-hit"),
        (lambda g: _table(g, "notify")["content"]["rules"].pop(), "catch-all"),
        (
            lambda g: _cell(g, "precedence", "locality.outside", "in.area", "outside"),
            "needs quotes",
        ),
        (lambda g: _cell(g, "precedence", "age.under_16", "in.age", "< < 16"), "does not compile"),
        (lambda g: _cell(g, "priority", "priority.standard", "out.fired.priority", '"x"'), "_id"),
        (lambda g: g["metadata"].update(project_defaults={"tables": ["nope"]}), "project_defaults"),
        (
            lambda g: g["nodes"].append({"id": "f", "name": "js", "type": "functionNode"}),
            "not allowed",
        ),
    ],
)
def test_a_broken_rules_file_is_refused_at_load_with_the_reason(
    change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    with pytest.raises(RulesFileError, match=problem):
        Rules.from_json(_variant(change), file_stem="2026-11-default")


@pytest.mark.parametrize(
    ("rule", "column", "value", "problem"),
    [
        (
            "allocation.city",
            "out.route.provider",
            "null",
            "provider is null exactly when out_of_area",
        ),
        ("allocation.city", "out.route.provider", '"nobody"', "nobody"),
        ("allocation.city", "out.route.pathway", '"elsewhere"', "elsewhere"),
    ],
)
def test_a_result_that_breaks_the_contract_is_an_error_not_a_decision(
    rule: str, column: str, value: str, problem: str, engine_input: EngineInput
) -> None:
    rules = CachedRules(
        Rules.from_json(_variant(lambda g: _cell(g, "allocation", rule, column, value)))
    )
    with pytest.raises(RuleOutcomeError, match=problem):
        rules.outcome(engine_input())


def test_out_of_area_without_a_signpost_is_an_error(engine_input: EngineInput) -> None:
    text = _variant(
        lambda g: _cell(g, "precedence", "locality.outside", "out.route.signpost", "null")
    )
    with pytest.raises(RuleOutcomeError, match="signpost"):
        CachedRules(Rules.from_json(text)).outcome(engine_input(area="outside"))


def test_a_number_used_beyond_plain_comparisons_enters_the_memo_key_whole() -> None:
    rules = CachedRules(
        Rules.from_json(
            _variant(
                lambda g: _cell(
                    g, "precedence", "age.under_16", "in.age", "< 16 and $ > incident_count"
                )
            )
        )
    )
    assert "incident_count" in rules.projection.paths
    assert "age" in rules.projection.paths
    assert "age" not in rules.projection.bands


def test_independent_branches_are_memoised_apart_and_answered_without_the_engine(
    engine_input: EngineInput,
) -> None:
    rules = CachedRules(Rules.from_json(default_rules_path().read_text()))
    branches = {
        frozenset(rules.projection.paths[i] for i in positions): {".".join(f) for f in fields}
        for positions, fields in rules.projection.parts
    }
    assert branches[
        frozenset({"risk_level", "behaviours.violence", "behaviours.threats_of_violence"})
    ] == {
        "fired.priority",
        "priority",
    }
    rules.outcome(engine_input(age=30, risk_level="high"))
    rules.outcome(engine_input(age=15, risk_level="medium"))
    assert rules.evaluations == 2
    # Both branches of this input have been seen, under other inputs: no engine call, same answer.
    crossed = engine_input(age=15, risk_level="high")
    assert rules.outcome(crossed) == rules.evaluate(crossed)
    assert rules.evaluations == 3  # the one `evaluate` above


def test_branches_writing_the_same_field_are_one_branch() -> None:
    def clash(graph: dict[str, Any]) -> None:
        out = _table(graph, "priority")["content"]["outputs"]
        out.append({"id": "priority.out.route.next", "name": "Next", "field": "route.next"})

    assert CachedRules(Rules.from_json(_variant(clash))).projection.parts == ()


def test_a_field_inside_another_makes_the_graph_one_branch() -> None:
    def nested(graph: dict[str, Any]) -> None:
        out = _table(graph, "priority")["content"]["outputs"]
        out.append({"id": "priority.out.route", "name": "Route", "field": "route"})

    assert CachedRules(Rules.from_json(_variant(nested))).projection.parts == ()
