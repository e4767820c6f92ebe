"""`decide`: one referral in, one Decision out, with the rules version and the trace that explain it.

Rules kept here:
- pure: no clock, no I/O, no logging; `today` (the date the referral was received) and the
  postcode directory are passed in;
- the input is a ReferralReceived (from intake) or a bare ReferralSubmission (offline runs): the
  referral id comes from the former, else it is null;
- `decided_at` is the instant the referral was received (or submitted), so the same input always
  gives the same Decision; the router service stamps the real time when it publishes;
- the trace lists, for each table that ran, the rule that fired and the facts its columns read,
  with where a derived fact came from (the postcode or the given code, the date of birth or the
  stated age), so a person can see why and a new rules version can be replayed over old referrals;
- trace values are plain JSON values (str, int, bool, None), never enum members; equal steps are
  made once and shared (per step of `_plan`, bounded): steps are frozen, and each fact path always
  carries one type of value, so equal keys are equal steps.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from functools import cache, lru_cache
from typing import Any

from services.router.domain.facts import PROVENANCE, Facts, derive_facts, uk_date
from services.router.domain.postcodes import PostcodeDirectory
from services.router.domain.projection import walk
from services.router.domain.rules import Rules, Table
from shared import Decision, Locality, ReferralReceived, ReferralSubmission, TraceStep

Referral = ReferralSubmission | ReferralReceived


def received_on(referral: Referral) -> date:
    """The UK date the referral was received (submitted, for a bare submission)."""
    if isinstance(referral, ReferralReceived):
        return uk_date(referral.received_at)
    return uk_date(referral.submitted_at)


def decide(referral: Referral, rules: Rules, today: date, postcodes: PostcodeDirectory) -> Decision:
    """Route one referral under `rules`, as received on `today`."""
    if isinstance(referral, ReferralReceived):
        submission, referral_id, at = (
            referral.submission,
            referral.referral_id,
            referral.received_at,
        )
    else:
        submission, referral_id, at = referral, None, referral.submitted_at
    facts = derive_facts(submission, today, postcodes)
    context = facts.context()
    outcome = rules.outcome(context)
    return Decision(
        referral_id=referral_id,
        submission_id=submission.submission_id,
        decided_at=at,
        rules_version=rules.version,
        pathway=outcome.pathway,
        provider=outcome.provider,
        priority=outcome.priority,
        notify=list(outcome.notify),
        locality=Locality(local_authority_code=facts.local_authority_code, area=facts.area),
        trace=_trace(outcome.fired, facts, context),
        signpost=outcome.signpost,
    )


def _trace(
    fired: tuple[tuple[Table, str], ...], facts: Facts, context: dict[str, Any]
) -> list[TraceStep]:
    """A step per rule fired, with the facts its table read; where a derived fact came from is
    noted once, at the first step that uses it (which step that is depends only on the tables
    that fired, so it is worked out once per sequence of tables and rules: `_plan`)."""
    steps = []
    for rule, names, reads, made in _plan(fired):
        values = []
        for path, parts, note in reads:
            if note:
                value = getattr(facts, path)
                values.append(value._value_ if isinstance(value, Enum) else value)
            else:
                values.append(context.get(path) if parts is None else walk(context, parts))
        key = tuple(values)
        step = made.get(key)
        if step is None:
            if len(made) >= _STEPS_LIMIT:
                made.clear()
            step = made[key] = TraceStep(rule=rule, facts=dict(zip(names, key, strict=True)))
        steps.append(step)
    return steps


_STEPS_LIMIT = 20_000
_MADE: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], TraceStep]] = {}
# Per step: the rule, the names of the facts shown, how to read each (path, path split or None for
# a top-level fact, True for a provenance note read from Facts), and the steps made so far.
_Plan = tuple[
    tuple[
        str,
        tuple[str, ...],
        tuple[tuple[str, tuple[str, ...] | None, bool], ...],
        dict[tuple[Any, ...], TraceStep],
    ],
    ...,
]


@lru_cache(maxsize=1024)
def _plan(fired: tuple[tuple[Table, str], ...]) -> _Plan:
    """What each step of a trace shows, for one sequence of tables and rules fired. Equal steps
    are one (frozen) object, made once: each fact path always carries one type of value, so equal
    values are equal steps."""
    plan, noted = [], set()
    for table, rule in fired:
        names: list[str] = []
        reads: list[tuple[str, tuple[str, ...] | None, bool]] = []
        for path, parts, notes in _columns(table):
            names.append(path)
            reads.append((path, parts, False))
            if notes and path not in noted:
                noted.add(path)
                for note in notes:
                    names.append(note)
                    reads.append((note, None, True))
        made = _MADE.setdefault((rule, tuple(names)), {})  # shared by every plan with this step
        plan.append((rule, tuple(names), tuple(reads), made))
    return tuple(plan)


@cache
def _columns(table: Table) -> tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...]], ...]:
    """Per fact a table reads: its path, the path split (None for a top-level fact, read with one
    `get`), and its provenance notes; worked out once per table."""
    return tuple(
        (path, tuple(path.split(".")) if "." in path else None, PROVENANCE.get(path, ()))
        for path in table.facts
    )
