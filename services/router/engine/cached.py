"""`CachedRules`: one rules version that remembers its answers, so that `decide` is fast enough.

Why: a zen evaluation costs 60-400 µs, which alone would cap the router far below the 20,000
decisions/s the offline `decide` must sustain, while a remembered one costs about 1 µs; and
building a trace step or a locality (pydantic validation) costs more than finding one. Every answer
here is the wrapped `Rules`' own answer (the domain's `Policy`), remembered: nothing here is policy.

Rules kept here:
- outcomes are memoised under the key `Projection` derives from the graph, which is exact (see
  there). Where the graph has independent branches, each branch's result fields are memoised
  under that branch's own key too, and an input whose every branch is known is answered from them
  without the engine (the result is the branches' fields put together, as the engine's output node
  does); not when a fact could reach the fields read back by passing through a table unwritten;
- equal outcomes in the memo are one object (those who build on an outcome, such as the `decide`
  command's writer, can then keep their work under it); so are equal localities, and equal trace
  steps: which names a step shows depends only on the tables and rules that fired (worked out once
  per sequence: `domain.trace.layout`), and each fact path always carries one type of value, so
  equal values are equal steps;
- every memo is bounded (cleared when full) and belongs to one `CachedRules`: nothing is shared
  between versions, and nothing is kept at module level;
- `evaluations` counts the engine's evaluations: memo misses, and `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final

from services.router.domain import Facts, Fired, Outcome, Rules
from services.router.domain.facts import FACT_NAMES
from services.router.domain.trace import layout, shown, walk
from services.router.engine.projection import Projection
from shared import Area, Locality, TraceStep

_MEMO_LIMIT: Final = 100_000  # outcomes, and each branch's fields
_STEPS_LIMIT: Final = 20_000  # steps of one layout
_PLANS_LIMIT: Final = 1024  # trace plans, localities: a few dozen in practice
_READ_BACK: Final = frozenset({"route", "priority", "notify", "fired"})  # what `Rules.read` reads
_MISSING: Final = object()

_Fields = tuple[tuple[tuple[str, ...], Any], ...]
_Branch = tuple[tuple[int, ...], tuple[tuple[str, ...], ...], dict[tuple[Any, ...], _Fields]]
_Reader = Callable[[dict[str, Any]], tuple[Any, ...]]
# A trace plan: the nested fact paths its steps show (each with the path split), and per step the
# rule, the names of the facts shown, a function reading their values (a tuple) from the view, and
# the steps made so far with those names.
_Plan = tuple[
    tuple[tuple[str, tuple[str, ...]], ...],
    tuple[tuple[str, tuple[str, ...], _Reader, dict[tuple[Any, ...], TraceStep]], ...],
]


class CachedRules:
    """A rules version that gives `Rules`' answers, remembered (see the module rules)."""

    def __init__(self, rules: Rules):
        self.uncached = rules
        self.version = rules.version
        self.projection = Projection(rules.graph, FACT_NAMES)
        self.evaluations = 0
        self._memo: dict[tuple[Any, ...], Outcome] = {}
        self._equal: dict[Outcome, Outcome] = {}  # so that equal outcomes in the memo are one
        # Per branch (when there are several): its key positions, its fields, its memo of fields.
        self._parts: tuple[_Branch, ...] = tuple(
            (positions, fields, {})
            for positions, fields in self.projection.parts
            if FACT_NAMES.isdisjoint(_READ_BACK)
        )
        self._plans: dict[Fired, _Plan] = {}
        self._steps: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], TraceStep]] = {}
        self._localities: dict[tuple[str | None, Area], Locality] = {}

    def outcome(self, context: Mapping[str, Any]) -> Outcome:
        """The outcome for one engine input (`Facts.context()`), memoised."""
        key = self.projection.key(context)
        found = self._memo.get(key)
        if found is None:
            found = self._from_parts(context, key) if self._parts else self.evaluate(context)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
                self._equal.clear()
            found = self._memo[key] = self._equal.setdefault(found, found)
        return found

    def evaluate(self, context: Mapping[str, Any]) -> Outcome:
        """The outcome straight from the engine, bypassing the memo."""
        return self.uncached.read(self._result(context))

    def trace(self, fired: Fired, facts: Facts, context: dict[str, Any]) -> list[TraceStep]:
        """`Rules.trace`, each step one object per distinct value."""
        nested, plan = self._plans.get(fired) or self._plan(fired)
        view = shown(facts, context)
        for path, parts in nested:
            view[path] = walk(context, parts)
        steps = []
        for rule, names, read, made in plan:
            key = read(view)
            step = made.get(key)
            if step is None:
                if len(made) >= _STEPS_LIMIT:
                    made.clear()
                step = made[key] = TraceStep(rule=rule, facts=dict(zip(names, key, strict=True)))
            steps.append(step)
        return steps

    def locality(self, facts: Facts) -> Locality:
        """`Rules.locality`, one object per distinct value."""
        key = (facts.local_authority_code, facts.area)
        found = self._localities.get(key)
        if found is None:
            if len(self._localities) >= _PLANS_LIMIT:
                self._localities.clear()
            found = self._localities[key] = self.uncached.locality(facts)
        return found

    def _result(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self.evaluations += 1
        return self.uncached.result(context)

    def _from_parts(self, context: Mapping[str, Any], key: tuple[Any, ...]) -> Outcome:
        """The outcome from each branch's memoised fields; the engine is asked (once, for the whole
        input) only when a branch has not been seen under its key, and then its answer is used."""
        found: list[_Fields] = []
        result: dict[str, Any] | None = None
        for positions, fields, memo in self._parts:
            part_key = tuple([key[i] for i in positions])
            part = memo.get(part_key)
            if part is None:
                if result is None:
                    result = self._result(context)
                part = tuple((f, v) for f in fields if (v := _at(result, f)) is not _MISSING)
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[part_key] = part
            found.append(part)
        if result is not None:
            return self.uncached.read(result)
        merged: dict[str, Any] = {}
        for part in found:
            for path, value in part:
                _put(merged, path, value)
        return self.uncached.read(merged)

    def _plan(self, fired: Fired) -> _Plan:
        """The trace plan for one sequence of tables and rules fired, made once and kept."""
        nested: dict[str, tuple[str, ...]] = {}
        steps = []
        for rule, names in layout(fired):
            nested.update((n, tuple(n.split("."))) for n in names if "." in n)
            made = self._steps.setdefault((rule, names), {})  # shared by every plan with this step
            steps.append((rule, names, _reader(names), made))
        if len(self._plans) >= _PLANS_LIMIT:
            self._plans.clear()
        plan = self._plans[fired] = (tuple(nested.items()), tuple(steps))
        return plan


def _reader(names: tuple[str, ...]) -> _Reader:
    """The values under `names`, always as a tuple (`itemgetter` of one name gives the value)."""
    if len(names) == 1:
        (name,) = names
        return lambda view: (view[name],)
    read: _Reader = itemgetter(*names)
    return read


def _at(result: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path` in an engine result, or _MISSING where there is none (not even null)."""
    value: Any = result
    for name in path:
        if type(value) is not dict or name not in value:
            return _MISSING
        value = value[name]
    return value


def _put(result: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        result = result.setdefault(name, {})
    result[path[-1]] = value
