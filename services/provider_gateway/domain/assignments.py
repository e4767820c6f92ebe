"""Assignments: which provider holds a referral, in which round, and what it may answer.

Rules kept here:
- an assignment is made only from both halves of a referral, the ReferralReceived (the
  personal details) and the Decision (who and how urgently); a decision with no provider
  (`out_of_area`) makes none;
- an assignment id is `asg_<referral_id>_<round>`: stable for one (referral, round), hence the
  same `webhook-id` on every attempt; a re-route opens the next round with a new id;
- a provider's answers move its assignment along `TRANSITIONS`; the same answer twice is a
  duplicate (accepted and ignored by the caller); any other move is refused;
- a decline, or a missed acceptance deadline, hands the referral to the lead provider (`nwa`)
  in a new round; when the lead provider itself declines or misses the deadline, nothing is
  re-routed and a person must decide (an alert). Since every re-route goes to the lead provider
  and the lead provider is never re-routed, a referral is escalated at most once per path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from uuid import UUID

from services.provider_gateway.domain.errors import InvalidTransition
from shared import Assignment, Decision, Provider, ReferralReceived, ResponseStatus

LEAD_PROVIDER: Final = Provider.NWA


class Reason(StrEnum):
    """Why an assignment round exists (the `reason` field of the Assignment)."""

    DECISION = "decision"
    DECLINED = "reroute_declined"
    OVERDUE = "sla_escalation"


class State(StrEnum):
    """Where a provider's handling of an assignment stands."""

    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    CONTACTED = "contacted"
    DECLINED = "declined"


# The answers a provider may give from each state (contact implies acceptance).
TRANSITIONS: Final[Mapping[State, frozenset[ResponseStatus]]] = MappingProxyType(
    {
        State.ASSIGNED: frozenset(ResponseStatus),
        State.ACCEPTED: frozenset({ResponseStatus.CONTACTED, ResponseStatus.DECLINED}),
        State.CONTACTED: frozenset(),
        State.DECLINED: frozenset(),
    }
)


def assignment_id(referral_id: UUID, round_no: int) -> str:
    return f"asg_{referral_id}_{round_no}"


def first_assignment(
    received: ReferralReceived, decision: Decision, at: datetime
) -> Assignment | None:
    """Round 1 for the decided provider, or None when the decision names no provider."""
    if decision.provider is None:
        return None
    return Assignment(
        assignment_id=assignment_id(received.referral_id, 1),
        referral_id=received.referral_id,
        provider=decision.provider,
        assigned_at=at,
        reason=Reason.DECISION.value,
        decision=decision,
        referral=received.submission,
    )


def next_round(previous: Assignment, round_no: int, reason: Reason, at: datetime) -> Assignment:
    """The lead provider's round after `previous` (same decision and referral details)."""
    return previous.model_copy(
        update={
            "assignment_id": assignment_id(previous.referral_id, round_no),
            "provider": LEAD_PROVIDER,
            "assigned_at": at,
            "reason": reason.value,
        }
    )


def reroute_target(provider: Provider) -> Provider | None:
    """Who takes over from `provider` after a decline or a missed deadline; None: a person."""
    return None if provider is LEAD_PROVIDER else LEAD_PROVIDER


def after_response(state: State, status: ResponseStatus) -> State:
    """The state an answer moves to; raises InvalidTransition if it may not be given now."""
    if status not in TRANSITIONS[state]:
        raise InvalidTransition(f"cannot go from {state} to {status}")
    return State(status.value)
