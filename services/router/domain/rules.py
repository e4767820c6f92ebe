"""The routing policy as data: a GoRules JDM graph of first-hit tables, evaluated by zen-engine.

Rules kept here:
- the engine is the only source of policy; code derives facts and reads back the result, which must
  carry `route.pathway`, `route.provider`, `priority`, `notify` and `fired.<table>` for each table
  that ran (README.md in services/router/rules describes the format);
- a result that breaks contract v1 is an error, never a decision: an unknown pathway, provider,
  priority or party; a provider on `out_of_area` or none elsewhere; `out_of_area` without signpost;
- `notify` comes back sorted and without repeats, so equal decisions serialise equally;
- evaluation is synchronous (`ZenDecision.evaluate`): the tables are tiny and the async variant
  would only add a hop through the engine's runtime;
- `Rules` answers every question afresh: remembering answers is the engine's (`CachedRules` in
  services.router.engine, which asks the same questions of `result` and `read`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zen

from services.router.domain.facts import FACT_NAMES, Facts
from services.router.domain.rules_check import RulesFileError, check_graph
from services.router.domain.trace import trace_of
from shared import Locality, NotifyParty, Pathway, Priority, Provider, TraceStep

__all__ = ["Fired", "Outcome", "RuleOutcomeError", "Rules", "RulesFileError", "Table"]


class RuleOutcomeError(ValueError):
    """The rules gave a result that is not a valid decision (a fault in the rules file)."""


# eq=False: one object per table of a loaded version, equal only to itself, so it hashes in C (a
# trace looks its layout up by the tables that fired, once per referral).
@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A decision table: its name, and the fact paths its columns read (shown in the trace)."""

    name: str
    facts: tuple[str, ...]


Fired = tuple[tuple[Table, str], ...]  # which rule of which table fired, in table order


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules decided, and which rule of which table fired, in table order."""

    pathway: Pathway
    provider: Provider | None
    priority: Priority
    notify: tuple[NotifyParty, ...]
    signpost: str | None
    fired: Fired


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
        self.graph: Mapping[str, Any] = graph  # kept for what the engine derives from it
        try:
            self._decision = zen.ZenEngine().create_decision(text)
        except RuntimeError as exc:
            raise RulesFileError(f"{self.version}: {str(exc).splitlines()[0]}") from None

    @classmethod
    def from_json(cls, text: str, *, file_stem: str | None = None) -> Rules:
        """Rules from the text of a rules file; `file_stem` (its name) must equal its version."""
        try:
            graph = json.loads(text)
        except ValueError as exc:
            raise RulesFileError(f"rules file {file_stem or ''} is not JSON: {exc}") from None
        return cls(graph, text, file_stem=file_stem)

    def outcome(self, context: Mapping[str, Any]) -> Outcome:
        """The outcome for one engine input (`Facts.context()`)."""
        return self.read(self.result(context))

    evaluate = outcome  # the engine's own answer: for `Rules`, always

    def trace(self, fired: Fired, facts: Facts, context: dict[str, Any]) -> list[TraceStep]:
        """The trace explaining `fired` for a referral with these facts (`domain.trace`)."""
        return trace_of(fired, facts, context)

    def locality(self, facts: Facts) -> Locality:
        """Where the referral was placed, as the Decision states it."""
        return Locality(local_authority_code=facts.local_authority_code, area=facts.area)

    def result(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The engine's raw result for one input (RuleOutcomeError if it fails)."""
        try:
            result: dict[str, Any] = self._decision.evaluate(dict(context))["result"]
        except RuntimeError as exc:
            raise RuleOutcomeError(f"rules {self.version}: {str(exc).splitlines()[0]}") from None
        return result

    def read(self, result: Mapping[str, Any]) -> Outcome:
        """The outcome a raw result states (RuleOutcomeError if it breaks contract v1)."""
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
