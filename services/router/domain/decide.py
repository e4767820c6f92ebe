"""`decide`: one referral in, one Decision out, with the rules version and the trace that explain it.

Rules kept here:
- pure: no clock, no I/O, no logging; `today` (the date the referral was received) and the
  postcode directory are passed in;
- the input is a ReferralReceived (from intake) or a bare ReferralSubmission (offline runs): the
  referral id comes from the former, else it is null;
- `decided_at` is the instant the referral was received (or submitted), so the same input always
  gives the same Decision; the router service stamps the real time when it publishes;
- the trace lists, for each table that ran, the rule that fired and the facts its columns read,
  with where a derived fact came from (`domain.trace`);
- the rules come as a `Policy`: `Rules` itself, or anything that gives the same answers to the
  same questions (the engine's `CachedRules` remembers them, so that equal outcomes, localities
  and trace steps are one object each: none of that is policy, so none of it is here);
- `route` gives the Decision's parts (`Routing`) and `decide` the Decision made of them: a caller
  that only writes the Decision out (the `decide` command) can skip building it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from services.common.routing_facts import uk_date
from services.router.domain.facts import Facts, derive_facts
from services.router.domain.postcodes import PostcodeDirectory
from services.router.domain.rules import Fired, Outcome
from shared import Decision, Locality, ReferralReceived, ReferralSubmission, TraceStep

Referral = ReferralSubmission | ReferralReceived


def received_on(referral: Referral) -> date:
    """The UK date the referral was received (submitted, for a bare submission)."""
    if isinstance(referral, ReferralReceived):
        return uk_date(referral.received_at)
    return uk_date(referral.submitted_at)


class Policy(Protocol):
    """What `route` asks of a rules version (`Rules` answers it; see the module rules)."""

    version: str

    def outcome(self, context: Mapping[str, Any]) -> Outcome: ...

    def trace(self, fired: Fired, facts: Facts, context: dict[str, Any]) -> list[TraceStep]: ...

    def locality(self, facts: Facts) -> Locality: ...


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


def decide(
    referral: Referral, rules: Policy, today: date, postcodes: PostcodeDirectory
) -> Decision:
    """Route one referral under `rules`, as received on `today`."""
    return route(referral, rules, today, postcodes).decision()


def route(referral: Referral, rules: Policy, today: date, postcodes: PostcodeDirectory) -> Routing:
    """What `decide` decides, in parts (see `Routing`)."""
    if isinstance(referral, ReferralReceived):
        submission, referral_id, at, routing = (
            referral.submission,
            referral.referral_id,
            referral.received_at,
            referral.routing,
        )
    else:
        submission, referral_id, at, routing = referral, None, referral.submitted_at, None
    facts = derive_facts(submission, today, postcodes, routing)
    context = facts.context()
    outcome = rules.outcome(context)
    return Routing(
        referral_id,
        submission.submission_id,
        at,
        rules.version,
        outcome,
        rules.locality(facts),
        rules.trace(outcome.fired, facts, context),
    )
