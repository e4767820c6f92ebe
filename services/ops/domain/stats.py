"""Counts over a period: decisions by pathway, provider and priority; referrals by state.

Rules kept here:
- a decision counts once per referral (the router makes one per referral);
- a state counts the distinct referrals that reached it in the period, so a redelivered or
  retried event does not inflate it; `events` counts every event, retries included;
- counts are listed largest first, then by name; an absent provider is `none`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.ops.domain.table import render_table


@dataclass(frozen=True)
class DecisionFacts:
    """What one decision says, as far as counting goes."""

    referral_id: UUID
    pathway: str
    provider: str | None
    priority: str


@dataclass(frozen=True)
class StateFact:
    """One referral reaching one state (from a table or an ops event)."""

    referral_id: UUID | None
    state: str


def ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def count_decisions(decisions: Iterable[DecisionFacts]) -> dict[str, list[tuple[str, int]]]:
    """Decision counts by pathway, provider and priority (one per referral)."""
    unique = {d.referral_id: d for d in decisions}.values()
    return {
        "pathway": ranked(Counter(d.pathway for d in unique)),
        "provider": ranked(Counter(d.provider or "none" for d in unique)),
        "priority": ranked(Counter(d.priority for d in unique)),
    }


def count_states(facts: Iterable[StateFact]) -> list[tuple[str, int, int]]:
    """(state, distinct referrals, events) for each state seen."""
    events: Counter[str] = Counter()
    referrals: dict[str, set[UUID | None]] = {}
    for fact in facts:
        events[fact.state] += 1
        referrals.setdefault(fact.state, set()).add(fact.referral_id)
    distinct = Counter({state: len(ids) for state, ids in referrals.items()})
    return [(state, n, events[state]) for state, n in ranked(distinct)]


def render_stats(
    decisions: Iterable[DecisionFacts],
    states: Iterable[StateFact],
    *,
    since: datetime | None,
    until: datetime | None,
) -> str:
    """The report: the period, then one table per breakdown."""
    by = count_decisions(decisions)
    period = f"from {since.isoformat() if since else 'the start'}"
    period += f" until {until.isoformat() if until else 'now'}"
    parts = [f"period: {period}"]
    for name in ("pathway", "provider", "priority"):
        parts.append(f"\ndecisions by {name}\n" + render_table((name, "count"), by[name]))
    parts.append(
        "\nreferrals by state\n"
        + render_table(("state", "referrals", "events"), count_states(states))
    )
    return "\n".join(parts)
