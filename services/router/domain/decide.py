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
  carries one type of value, so equal keys are equal steps; so are equal localities;
- `route` gives the Decision's parts (`Routing`) and `decide` the Decision made of them: a caller
  that only writes the Decision out (the `decide` command) can skip building it, and one made of
  shared parts is written from pieces it has already written (`services.router.decision_json`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, NamedTuple
from uuid import UUID

from services.router.domain.facts import PROVENANCE, Facts, derive_facts, uk_date
from services.router.domain.postcodes import PostcodeDirectory
from services.router.domain.projection import walk
from services.router.domain.rules import Outcome, Rules, Table
from shared import Area, Decision, Locality, ReferralReceived, ReferralSubmission, TraceStep

Referral = ReferralSubmission | ReferralReceived


def received_on(referral: Referral) -> date:
    """The UK date the referral was received (submitted, for a bare submission)."""
    if isinstance(referral, ReferralReceived):
        return uk_date(referral.received_at)
    return uk_date(referral.submitted_at)


class Routing(NamedTuple):
    """A Decision in parts: what is the referral's own, and what it shares with others like it."""

    referral_id: UUID | None
    submission_id: str
    decided_at: datetime
    rules_version: str
    outcome: Outcome
    locality: Locality
    trace: list[TraceStep]

    def decision(self) -> Decision:
        """The Decision these parts make."""
        outcome = self.outcome
        return Decision(
            referral_id=self.referral_id,
            submission_id=self.submission_id,
            decided_at=self.decided_at,
            rules_version=self.rules_version,
            pathway=outcome.pathway,
            provider=outcome.provider,
            priority=outcome.priority,
            notify=list(outcome.notify),
            locality=self.locality,
            trace=self.trace,
            signpost=outcome.signpost,
        )


def decide(referral: Referral, rules: Rules, today: date, postcodes: PostcodeDirectory) -> Decision:
    """Route one referral under `rules`, as received on `today`."""
    return route(referral, rules, today, postcodes).decision()


def route(referral: Referral, rules: Rules, today: date, postcodes: PostcodeDirectory) -> Routing:
    """What `decide` decides, in parts (see `Routing`)."""
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
    return Routing(
        referral_id,
        submission.submission_id,
        at,
        rules.version,
        outcome,
        _locality(facts.local_authority_code, facts.area),
        _trace(outcome.fired, facts, context),
    )


@lru_cache(maxsize=1024)
def _locality(code: str | None, area: Area) -> Locality:
    return Locality(local_authority_code=code, area=area)


def _trace(
    fired: tuple[tuple[Table, str], ...], facts: Facts, context: dict[str, Any]
) -> list[TraceStep]:
    """A step per rule fired, with the facts its table read; where a derived fact came from is
    noted once, at the first step that uses it (which step that is depends only on the tables
    that fired, so it is worked out once per sequence of tables and rules: `_plan`)."""
    nested, plan = _plan(fired)
    view = context | facts.provenance()  # every value a step shows, under its name
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


_STEPS_LIMIT = 20_000
_MADE: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], TraceStep]] = {}
# A plan: the nested fact paths its steps show (each with the path split), and per step the rule,
# the names of the facts shown, a function reading their values (a tuple) from the view `_trace`
# makes, and the steps made so far.
_Plan = tuple[
    tuple[tuple[str, tuple[str, ...]], ...],
    tuple[
        tuple[
            str,
            tuple[str, ...],
            Callable[[dict[str, Any]], tuple[Any, ...]],
            dict[tuple[Any, ...], TraceStep],
        ],
        ...,
    ],
]


@lru_cache(maxsize=1024)
def _plan(fired: tuple[tuple[Table, str], ...]) -> _Plan:
    """What each step of a trace shows, for one sequence of tables and rules fired. Equal steps
    are one (frozen) object, made once: each fact path always carries one type of value, so equal
    values are equal steps."""
    nested: dict[str, tuple[str, ...]] = {}
    steps, noted = [], set()
    for table, rule in fired:
        names: list[str] = []
        for path, parts, notes in _columns(table):
            names.append(path)
            if parts is not None:
                nested[path] = parts
            if notes and path not in noted:
                noted.add(path)
                names.extend(notes)
        made = _MADE.setdefault((rule, tuple(names)), {})  # shared by every plan with this step
        steps.append((rule, tuple(names), _reader(tuple(names)), made))
    return tuple(nested.items()), tuple(steps)


def _reader(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values under `names`, always as a tuple (`itemgetter` of one name gives the value)."""
    if len(names) == 1:
        (name,) = names
        return lambda view: (view[name],)
    read: Callable[[dict[str, Any]], tuple[Any, ...]] = itemgetter(*names)
    return read


@cache
def _columns(table: Table) -> tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...]], ...]:
    """Per fact a table reads: its path, the path split (None for a top-level fact, read with one
    `get`), and its provenance notes; worked out once per table."""
    return tuple(
        (path, tuple(path.split(".")) if "." in path else None, PROVENANCE.get(path, ()))
        for path in table.facts
    )
