"""Rules files that cannot be used are refused at load; results that break the contract are errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from services.router.domain import RuleOutcomeError, Rules, RulesFileError
from services.router.engine import default_rules_path

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
    rules = Rules.from_json(_variant(lambda g: _cell(g, "allocation", rule, column, value)))
    with pytest.raises(RuleOutcomeError, match=problem):
        rules.outcome(engine_input())


def test_out_of_area_without_a_signpost_is_an_error(engine_input: EngineInput) -> None:
    text = _variant(
        lambda g: _cell(g, "precedence", "locality.outside", "out.route.signpost", "null")
    )
    with pytest.raises(RuleOutcomeError, match="signpost"):
        Rules.from_json(text).outcome(engine_input(area="outside"))


def test_a_number_used_beyond_plain_comparisons_enters_the_memo_key_whole() -> None:
    rules = Rules.from_json(
        _variant(
            lambda g: _cell(
                g, "precedence", "age.under_16", "in.age", "< 16 and $ > incident_count"
            )
        )
    )
    assert "incident_count" in rules.projection.paths
    assert "age" in rules.projection.paths
    assert "age" not in rules.projection.bands
