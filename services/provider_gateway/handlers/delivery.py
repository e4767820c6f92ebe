"""Delivering assignments: one attempt at a claimed delivery (the worker is `handlers.worker`).

Rules kept here:
- the network call happens outside any transaction (the delivery is leased, see
  adapters.delivery_store); its result, the next step the retry policy chose, the ledger row
  and the ops events it causes are then written in one transaction: this attempt's own
  (`attempt`), or its batch's (`handlers.recording`, with `judge`, `record_health`, `record`
  and `counted` from here);
- what an attempt causes (events, dead letter, alerts, a disabled endpoint, the breaker's
  move) is computed as data by `domain.consequences` and only applied here: compute the
  effects, then apply them; the breaker opening and closing are each one alert
  (`endpoint_unhealthy`, `endpoint_recovered`, provider and codes only, see `ops`);
- a late duplicate worker (its claim superseded) records nothing and causes nothing;
- each recorded attempt is counted in the Prometheus metrics once its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import trace

from services.provider_gateway.adapters import metrics
from services.provider_gateway.domain import RetryPolicy, Step
from services.provider_gateway.domain.consequences import (
    Alert,
    AttemptFacts,
    Effects,
    Event,
    consequences,
)
from services.provider_gateway.domain.health import Breaker, BreakerPolicy
from services.provider_gateway.handlers import ops
from services.provider_gateway.ports import (
    AttemptResult,
    Claimed,
    DeliveryUnit,
    DeliveryUnits,
    Sender,
)
from shared.topics import assignments_topic


def _source(claimed: Claimed) -> str:
    if claimed.channel == "kafka":
        return assignments_topic(claimed.provider.value)
    return f"webhook:{claimed.provider.value}"


@dataclass(frozen=True)
class Attempted:
    """One sent attempt, judged: its result, the step the retry policy chose and what it causes
    (computed, not yet applied), at `at`."""

    claimed: Claimed
    result: AttemptResult
    step: Step
    effects: Effects
    at: datetime
    first_attempt_at: datetime


@dataclass(frozen=True)
class Recorded:
    """What recording an attempt wrote: whether it first delivered, and the breaker's move."""

    first_delivery: bool
    health: tuple[Breaker, Breaker, int] | None


def judge(
    claimed: Claimed,
    result: AttemptResult,
    policy: RetryPolicy,
    *,
    now: Callable[[], datetime],
    rng: Callable[[], float],
) -> Attempted:
    """The step the retry policy takes after `result`, and its consequences (data only)."""
    at = now()
    first = claimed.first_attempt_at or at
    step = policy.next_step(
        result.outcome,
        error_code=result.error_code,
        attempt=claimed.cycle_attempt,
        first_attempt_at=first,
        now=at,
        retry_after=result.retry_after,
        rng=rng,
    )
    return Attempted(claimed, result, step, consequences(_facts(claimed, result), step), at, first)


async def attempt(
    claimed: Claimed,
    sender: Sender,
    store: DeliveryUnits,
    policy: RetryPolicy,
    *,
    now: Callable[[], datetime],
    rng: Callable[[], float],
    breaker: BreakerPolicy | None = None,
) -> Step:
    """Send one claimed delivery and record what happened in its own transaction; returns the
    step taken (the worker records a whole batch at once: `handlers.recording`).

    The attempt's ledger row was committed `in_flight` with the claim; this completes it.
    """
    result = await send(claimed, sender)
    done = judge(claimed, result, policy, now=now, rng=rng)
    async with store.transaction() as tx:
        health = await record_health(tx, done, breaker)
        recorded = await record(tx, done, health)
    counted(done, recorded)
    return done.step


async def send(claimed: Claimed, sender: Sender) -> AttemptResult:
    """The network call (outside any transaction), its status on the current span."""
    result = await sender.send(claimed)
    if result.status_code is not None:
        trace.get_current_span().set_attribute("http.response.status_code", result.status_code)
    return result


async def record_health(
    tx: DeliveryUnit, done: Attempted, breaker: BreakerPolicy | None
) -> tuple[Breaker, Breaker, int] | None:
    """Move the endpoint's breaker after the attempt (first in its transaction: the endpoint
    row is locked before any delivery row), and alert if it opened or closed."""
    if breaker is None or not done.effects.moves_breaker:
        return None
    claimed, code = done.claimed, done.result.error_code or "failing"
    health = await tx.record_health(
        claimed, answered=done.effects.answered, at=done.at, policy=breaker
    )
    await ops.breaker_moved(tx, claimed.provider, health, done.at, reason_code=code)
    return health


async def record(
    tx: DeliveryUnit, done: Attempted, health: tuple[Breaker, Breaker, int] | None
) -> Recorded | None:
    """Complete the attempt's ledger row and delivery, and apply its effects; None (nothing
    caused) when the delivery is no longer this worker's."""
    c = done.claimed
    if not await tx.finish(
        c, done.result, done.step, at=done.at, first_attempt_at=done.first_attempt_at
    ):
        return None
    return Recorded(await _apply(tx, c, done.effects, done.at), health)


def counted(done: Attempted, recorded: Recorded | None) -> None:
    """Count a recorded attempt, once its transaction committed (an attempt whose recording
    failed is tried again, not counted; a late duplicate's is not counted either)."""
    if recorded is None:
        return
    c, health = done.claimed, recorded.health
    metrics.observe_attempt(
        c, done.result.outcome, done.step, first_delivery=recorded.first_delivery, at=done.at
    )
    if health is not None and health[0].state is not health[1].state:
        metrics.set_breaker(c.provider.value, health[1].state)


def _facts(claimed: Claimed, result: AttemptResult) -> AttemptFacts:
    return AttemptFacts(
        channel=claimed.channel,
        priority=claimed.priority,
        attempt=claimed.attempt,
        outcome=result.outcome,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error_code=result.error_code,
    )


async def _apply(tx: DeliveryUnit, claimed: Claimed, effects: Effects, at: datetime) -> bool:
    """Write `effects` in the attempt's transaction; True if this attempt first delivered."""
    await _report(tx, claimed, at, effects.events)
    first_delivery = effects.mark_delivered and await tx.mark_delivered(claimed.assignment_id, at)
    if first_delivery:
        await _report(tx, claimed, at, effects.if_first_delivery)
    if effects.dead_letter is not None:
        await ops.dead_letter(
            tx,
            at,
            referral_id=claimed.referral_id,
            source=_source(claimed),
            reason_code=effects.dead_letter,
        )
    for alert in effects.alerts:
        await _raise(tx, claimed, at, alert)
    disable = effects.disable_endpoint
    if disable is not None and await tx.disable_endpoint(claimed.provider, at, disable.reason_code):
        await _raise(tx, claimed, at, disable)
    if effects.unless_delivered and not await tx.is_delivered(claimed.assignment_id):
        await _report(tx, claimed, at, effects.unless_delivered)
    return first_delivery


async def _report(
    tx: DeliveryUnit, claimed: Claimed, at: datetime, events: Iterable[Event]
) -> None:
    for e in events:
        await ops.event(
            tx,
            e.state,
            claimed,
            at,
            attempt=e.attempt,
            status_code=e.status_code,
            latency_ms=e.latency_ms,
            reason_code=e.reason_code,
        )


async def _raise(tx: DeliveryUnit, claimed: Claimed, at: datetime, alert: Alert) -> None:
    await ops.alert(
        tx,
        alert.kind,
        at,
        referral_id=claimed.referral_id if alert.per_referral else None,
        provider=claimed.provider,
        reason_code=alert.reason_code,
        critical=alert.critical,
    )
