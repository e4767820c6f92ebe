"""The trace of a decision: for each table that ran, the rule that fired and the facts it read.

Rules kept here:
- a step shows the facts its table's columns read, in column order, under their paths
  (`behaviours.violence` for one flag of a nested fact);
- a derived fact is followed, at the first step that shows it and only there, by where it came
  from (`PROVENANCE`: the postcode or the given code, the date of birth or the stated age), so a
  person can see why and a new rules version can be replayed over old referrals;
- values are plain JSON values (str, int, bool, None), never enum members;
- which names a step shows depends only on the tables and rules that fired (`layout`), never on
  the values, so equal layouts and equal values are equal steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from services.router.domain.facts import PROVENANCE, Facts
from shared import TraceStep

if TYPE_CHECKING:  # rules.py builds its traces here
    from services.router.domain.rules import Fired

Layout = tuple[tuple[str, tuple[str, ...]], ...]


def layout(fired: Fired) -> Layout:
    """Per rule fired, in order: the rule and the names of the facts its step shows."""
    steps, noted = [], set()
    for table, rule in fired:
        names: list[str] = []
        for path in table.facts:
            names.append(path)
            notes = PROVENANCE.get(path, ())
            if notes and path not in noted:
                noted.add(path)
                names.extend(notes)
        steps.append((rule, tuple(names)))
    return tuple(steps)


def shown(facts: Facts, context: dict[str, Any]) -> dict[str, Any]:
    """Every top-level value a step can show, under its name (nested ones are `walk`ed)."""
    return context | facts.provenance()


def walk(context: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    """The value at a dotted path (split into `parts`), None where it is missing, as zen reads it."""
    value: Any = context
    for part in parts:
        value = value.get(part) if type(value) is dict else None
    return value


def trace_of(fired: Fired, facts: Facts, context: dict[str, Any]) -> list[TraceStep]:
    """The trace explaining `fired` for a referral with these facts (engine input `context`)."""
    view = shown(facts, context)
    return [
        TraceStep(
            rule=rule,
            facts={n: walk(view, tuple(n.split("."))) if "." in n else view[n] for n in names},
        )
        for rule, names in layout(fired)
    ]
