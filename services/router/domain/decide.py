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
  made once and shared (`_step`, bounded): steps are frozen, and each fact path always carries one
  type of value, so equal keys are equal steps.
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
    noted once, at the first step that uses it."""
    steps, noted = [], set()
    for table, rule in fired:
        names: list[str] = []
        values: list[Any] = []
        for path, parts, notes in _columns(table):
            names.append(path)
            values.append(context.get(path) if parts is None else walk(context, parts))
            if notes and path not in noted:
                noted.add(path)
                for note in notes:
                    value = getattr(facts, note)
                    names.append(note)
                    values.append(value.value if isinstance(value, Enum) else value)
        steps.append(_step(rule, tuple(names), tuple(values)))
    return steps


@lru_cache(maxsize=100_000)
def _step(rule: str, names: tuple[str, ...], values: tuple[Any, ...]) -> TraceStep:
    """One trace step; equal steps are one (frozen) object, made once."""
    return TraceStep(rule=rule, facts=dict(zip(names, values, strict=True)))


@cache
def _columns(table: Table) -> tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...]], ...]:
    """Per fact a table reads: its path, the path split (None for a top-level fact, read with one
    `get`), and its provenance notes; worked out once per table."""
    return tuple(
        (path, tuple(path.split(".")) if "." in path else None, PROVENANCE.get(path, ()))
        for path in table.facts
    )
