"""What one delivery attempt causes, as data: its step and facts in, the effects out.

Rules kept here (the handler in `handlers.delivery` only applies them, in one transaction):
- every recorded attempt reports `delivery_attempted` (`<channel>:<error code or ok>`);
- a delivered step marks the assignment delivered, and the first channel to do so reports
  `delivered` (with its latency);
- a referral whose data key was destroyed (`erased`) ends with `delivery_failed` only: no dead
  letter and no alert (nothing is wrong) and no breaker move (nothing was sent);
- any other give-up is dead-lettered with one alert (`delivery_exhausted` when the retries ran
  out, `dead_lettered` otherwise; critical for an urgent referral), reports `delivery_failed`
  unless another channel already delivered the assignment, and, for a gone endpoint (410),
  disables the provider's endpoint with one critical `endpoint_disabled` alert if it was enabled;
- a webhook attempt that sent a request moves its endpoint's breaker, as answered unless it
  failed in a way worth retrying; attempts that ended before any request (`NOT_SENT`) never do.

Standard library and `shared` contracts only: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from services.provider_gateway.domain.retry import Delivered, GiveUp, Outcome, Step
from shared import AlertKind, Priority, ReferralState

ERASED: Final = "erased"  # the referral's data key was destroyed: terminal, nothing to deliver
# Attempts that ended before any request went out, because the clear body could not be built:
# they say nothing about the provider's endpoint, so its circuit breaker does not count them.
NOT_SENT: Final = frozenset({ERASED, "no_data_key", "unseal_failed", "key_unavailable"})


@dataclass(frozen=True)
class AttemptFacts:
    """How one attempt went, as far as its consequences care."""

    channel: str  # "webhook" or "kafka"
    priority: Priority
    attempt: int
    outcome: Outcome
    status_code: int | None
    latency_ms: float
    error_code: str | None = None


@dataclass(frozen=True)
class Event:
    """A state change of the delivery's referral, for `ops.events.v1`."""

    state: ReferralState
    attempt: int
    reason_code: str
    status_code: int | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Alert:
    """An alert for a person; `per_referral` False: it is about the provider's endpoint."""

    kind: AlertKind
    reason_code: str
    critical: bool
    per_referral: bool = True


@dataclass(frozen=True)
class Effects:
    """Everything one recorded attempt causes; the guarded parts depend on the store's answer."""

    events: tuple[Event, ...]
    moves_breaker: bool = False
    answered: bool = False
    mark_delivered: bool = False
    if_first_delivery: tuple[Event, ...] = ()  # when marking found it not yet delivered
    dead_letter: str | None = None  # the reason code of the delivery's dead letter
    alerts: tuple[Alert, ...] = ()
    disable_endpoint: Alert | None = None  # disable it; alert when it was enabled until now
    unless_delivered: tuple[Event, ...] = ()  # when no channel has delivered the assignment


def consequences(facts: AttemptFacts, step: Step) -> Effects:
    """The effects of an attempt whose retry policy chose `step` (see the module's rules)."""
    attempted = Event(
        ReferralState.DELIVERY_ATTEMPTED,
        facts.attempt,
        f"{facts.channel}:{facts.error_code or 'ok'}",
        status_code=facts.status_code,
        latency_ms=facts.latency_ms,
    )
    sent = facts.error_code not in NOT_SENT
    moves_breaker = facts.channel == "webhook" and sent
    answered = facts.outcome is not Outcome.RETRYABLE
    base = Effects((attempted,), moves_breaker=moves_breaker, answered=answered)
    if isinstance(step, Delivered):
        delivered = Event(
            ReferralState.DELIVERED,
            facts.attempt,
            facts.channel,
            status_code=facts.status_code,
            latency_ms=facts.latency_ms,
        )
        return replace(base, mark_delivered=True, if_first_delivery=(delivered,))
    if not isinstance(step, GiveUp):
        return base
    reason = f"{facts.channel}:{step.reason_code}"
    if step.reason_code == ERASED:
        erased = Event(ReferralState.DELIVERY_FAILED, facts.attempt, reason)
        return replace(base, events=(attempted, erased))
    kind = (
        AlertKind.DELIVERY_EXHAUSTED if step.reason_code == "exhausted" else AlertKind.DEAD_LETTERED
    )
    failed = Event(
        ReferralState.DELIVERY_FAILED, facts.attempt, reason, status_code=facts.status_code
    )
    disable = (
        Alert(AlertKind.ENDPOINT_DISABLED, step.reason_code, critical=True, per_referral=False)
        if step.disable_endpoint
        else None
    )
    return replace(
        base,
        dead_letter=step.reason_code,
        alerts=(Alert(kind, step.reason_code, critical=facts.priority is Priority.URGENT),),
        disable_endpoint=disable,
        unless_delivered=(failed,),
    )
