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
  20,000 decisions/s it must sustain, while the memo makes a repeat about 1 µs. The memo is
  bounded; evaluation is synchronous (`ZenDecision.evaluate`): the tables are tiny and the async
  variant would only add a hop through the engine's runtime.
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


@dataclass(frozen=True, slots=True)
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
            found = self.evaluate(context)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        return found

    def evaluate(self, context: Mapping[str, Any]) -> Outcome:
        """The outcome straight from the engine, bypassing the memo."""
        self.evaluations += 1
        try:
            result = self._decision.evaluate(dict(context))["result"]
        except RuntimeError as exc:
            raise RuleOutcomeError(f"rules {self.version}: {str(exc).splitlines()[0]}") from None
        return self._read(result)

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


def _fact_columns(node: Mapping[str, Any]) -> tuple[str, ...]:
    fields = (str(c.get("field") or "") for c in node.get("content", {}).get("inputs", []))
    return tuple(f for f in fields if f.split(".")[0] in FACT_NAMES)
