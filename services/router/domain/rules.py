"""The routing policy as data: a GoRules JDM graph of first-hit tables, evaluated by zen-engine.

Rules kept here:
- the engine is the only source of policy; code derives facts and reads back the result, which must
  carry `route.pathway`, `route.provider`, `priority`, `notify` and `fired.<table>` for each table
  that ran (README.md in services/router/rules describes the format);
- a result that breaks contract v1 is an error, never a decision: an unknown pathway, provider,
  priority or party; a provider on `out_of_area` or none elsewhere; `out_of_area` without signpost;
- `notify` comes back sorted and without repeats, so equal decisions serialise equally;
- results are memoised under the key `Projection` derives from the graph, which is exact (see
  there): zen costs 60-400 µs an evaluation, which alone would cap the router far below the
  20,000 decisions/s it must sustain, while the memo makes a repeat about 1 µs. Where the graph
  has independent branches, each branch's result fields are memoised under that branch's own key
  too, and an input whose every branch is known is answered from them without the engine (the
  result is the branches' fields put together, as the engine's output node does). Equal outcomes
  in the memo are one object (those who build on an outcome can then keep their work under it).
  The memos are bounded; evaluation is synchronous (`ZenDecision.evaluate`): the tables are tiny
  and the async variant would only add a hop through the engine's runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import zen

from services.router.domain.facts import FACT_NAMES
from services.router.domain.projection import Projection
from services.router.domain.rules_check import RulesFileError, check_graph
from shared import NotifyParty, Pathway, Priority, Provider

_MEMO_LIMIT: Final = 100_000

__all__ = ["Outcome", "RuleOutcomeError", "Rules", "RulesFileError", "Table"]


class RuleOutcomeError(ValueError):
    """The rules gave a result that is not a valid decision (a fault in the rules file)."""


# eq=False: one object per table of a loaded version, equal only to itself, so it hashes in C (a
# trace looks its layout up by the tables that fired, once per referral).
@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A decision table: its name, and the fact paths its columns read (shown in the trace)."""

    name: str
    facts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules decided, and which rule of which table fired, in table order."""

    pathway: Pathway
    provider: Provider | None
    priority: Priority
    notify: tuple[NotifyParty, ...]
    signpost: str | None
    fired: tuple[tuple[Table, str], ...]


class Rules:
    """One version of the routing policy, compiled and ready to evaluate."""

    def __init__(self, graph: dict[str, Any], text: str, *, file_stem: str | None = None):
        names = check_graph(graph, FACT_NAMES, file_stem)
        meta = graph["metadata"]
        self.version: str = meta["version"]
        self.description: str = str(meta.get("description", ""))
        self.project_defaults: tuple[str, ...] = tuple(meta["project_defaults"]["tables"])
        tables = {n["name"]: n for n in graph["nodes"] if n.get("type") == "decisionTableNode"}
        self.tables = tuple(Table(name, _fact_columns(tables[name])) for name in names)
        self.projection = Projection(graph, FACT_NAMES)
        try:
            self._decision = zen.ZenEngine().create_decision(text)
        except RuntimeError as exc:
            raise RulesFileError(f"{self.version}: {str(exc).splitlines()[0]}") from None
        self._memo: dict[tuple[Any, ...], Outcome] = {}
        self._equal: dict[Outcome, Outcome] = {}  # so that equal outcomes in the memo are one
        # Per branch (when there are several): its key positions, its fields, its memo of fields.
        # (Not if a fact could reach the fields read back by passing through a table unwritten.)
        self._parts: tuple[_Branch, ...] = tuple(
            (positions, fields, {})
            for positions, fields in self.projection.parts
            if FACT_NAMES.isdisjoint(_READ_BACK)
        )
        self.evaluations = 0

    @classmethod
    def from_json(cls, text: str, *, file_stem: str | None = None) -> Rules:
        """Rules from the text of a rules file; `file_stem` (its name) must equal its version."""
        try:
            graph = json.loads(text)
        except ValueError as exc:
            raise RulesFileError(f"rules file {file_stem or ''} is not JSON: {exc}") from None
        return cls(graph, text, file_stem=file_stem)

    def outcome(self, context: Mapping[str, Any]) -> Outcome:
        """The outcome for one engine input (`Facts.context()`), memoised (see module docstring)."""
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
        return self._read(self._result(context))

    def _result(self, context: Mapping[str, Any]) -> dict[str, Any]:
        self.evaluations += 1
        try:
            result: dict[str, Any] = self._decision.evaluate(dict(context))["result"]
        except RuntimeError as exc:
            raise RuleOutcomeError(f"rules {self.version}: {str(exc).splitlines()[0]}") from None
        return result

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
            return self._read(result)
        merged: dict[str, Any] = {}
        for part in found:
            for path, value in part:
                _put(merged, path, value)
        return self._read(merged)

    def _read(self, result: Mapping[str, Any]) -> Outcome:
        fired_names = result.get("fired") or {}
        fired = tuple((t, fired_names[t.name]) for t in self.tables if t.name in fired_names)
        rules = ", ".join(rule for _, rule in fired) or "no rule"
        route = result.get("route") or {}
        signpost = route.get("signpost")
        if not isinstance(signpost, str | None):
            raise RuleOutcomeError(f"rules {self.version} ({rules}): the signpost is not text")
        try:
            outcome = Outcome(
                pathway=Pathway(route.get("pathway", "")),
                provider=None if route.get("provider") is None else Provider(route["provider"]),
                priority=Priority(result.get("priority", "")),
                notify=tuple(sorted({NotifyParty(p) for p in result.get("notify") or ()})),
                signpost=signpost or None,
                fired=fired,
            )
        except (ValueError, TypeError) as exc:
            raise RuleOutcomeError(
                f"rules {self.version} ({rules}) gave no valid decision: {exc}"
            ) from None
        out_of_area = outcome.pathway is Pathway.OUT_OF_AREA
        if out_of_area != (outcome.provider is None):
            raise RuleOutcomeError(
                f"rules {self.version} ({rules}): a provider is null exactly when out_of_area"
            )
        if out_of_area and not outcome.signpost:
            raise RuleOutcomeError(f"rules {self.version} ({rules}): out_of_area needs a signpost")
        return outcome


_READ_BACK: Final = frozenset({"route", "priority", "notify", "fired"})  # what `_read` looks at
_MISSING: Final = object()
_Fields = tuple[tuple[tuple[str, ...], Any], ...]
_Branch = tuple[tuple[int, ...], tuple[tuple[str, ...], ...], dict[tuple[Any, ...], _Fields]]


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


def _fact_columns(node: Mapping[str, Any]) -> tuple[str, ...]:
    fields = (str(c.get("field") or "") for c in node.get("content", {}).get("inputs", []))
    return tuple(f for f in fields if f.split(".")[0] in FACT_NAMES)
