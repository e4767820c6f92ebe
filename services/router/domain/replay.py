"""Replaying referrals through a candidate rules version and a baseline, counting what would change.

Rules kept here:
- each referral is decided by both versions exactly as `decide` would decide it live, on the date it
  was received, so the counts are what switching versions would have done;
- changes are counted per field (pathway, provider, priority) as (from, to) pairs; a referral
  counts once in `changed` however many of its fields change;
- a referral either version cannot decide (a fault in a rules file) is counted, not dropped;
- the referrals are any iterable (a file of JSON lines), or arrive one at a time (`replay_one`, for
  the referrals stored with past decisions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.router.domain.decide import Policy, Referral, decide, received_on
from services.router.domain.postcodes import PostcodeDirectory
from services.router.domain.rules import RuleOutcomeError
from shared import Decision

FIELDS = ("pathway", "provider", "priority")


@dataclass
class Comparison:
    """What a candidate rules version would change against a baseline."""

    candidate: str
    baseline: str
    referrals: int = 0
    changed: int = 0
    undecided: int = 0
    changes: dict[str, Counter[tuple[str, str]]] = field(
        default_factory=lambda: {name: Counter() for name in FIELDS}
    )


def _value(decision: Decision, name: str) -> str:
    value = getattr(decision, name)
    return "none" if value is None else str(value)


def compare(
    referrals: Iterable[Referral], candidate: Policy, baseline: Policy, postcodes: PostcodeDirectory
) -> Comparison:
    """Decide every referral under both versions and count the differences."""
    result = Comparison(candidate=candidate.version, baseline=baseline.version)
    for referral in referrals:
        replay_one(result, referral, candidate, baseline, postcodes)
    return result


def replay_one(
    result: Comparison,
    referral: Referral,
    candidate: Policy,
    baseline: Policy,
    postcodes: PostcodeDirectory,
) -> None:
    """Decide one referral under both versions and add what differs to `result` (for referrals
    that arrive one at a time, such as rows streamed from the database)."""
    result.referrals += 1
    today = received_on(referral)
    try:
        old = decide(referral, baseline, today, postcodes)
        new = decide(referral, candidate, today, postcodes)
    except RuleOutcomeError:
        result.undecided += 1
        return
    moved = [(n, _value(old, n), _value(new, n)) for n in FIELDS]
    moved = [(n, a, b) for n, a, b in moved if a != b]
    for name, before, after in moved:
        result.changes[name][before, after] += 1
    result.changed += bool(moved)
