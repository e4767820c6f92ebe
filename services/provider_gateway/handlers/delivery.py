"""Delivering assignments: one attempt at a claimed delivery, and the worker that claims them.

Rules kept here:
- the network call happens outside any transaction (the delivery is leased, see
  adapters.delivery_store); its result, the next step the retry policy chose, the ledger row
  and the ops events it causes are then written in one transaction;
- what an attempt causes (events, dead letter, alerts, a disabled endpoint, the breaker's
  move) is computed as data by `domain.consequences` and only applied here: compute the
  effects, then apply them; the breaker opening and closing are each one alert
  (`endpoint_unhealthy`, `endpoint_recovered`, provider and codes only, see `ops`); while it is
  open the worker claims one probe per endpoint instead of its deliveries;
- each recorded attempt is counted in the Prometheus metrics once its transaction commits;
- each attempt is a span of the referral's trace, resumed from the assignment's stored
  `traceparent` (the webhook carries it on to the provider; see adapters.channels).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from services.common.telemetry import trace_context
from services.provider_gateway.adapters import metrics
from services.provider_gateway.domain import GiveUp, RetryPolicy, Step
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
    DeliveryQueue,
    DeliveryUnit,
    DeliveryUnits,
    Sender,
)
from shared.topics import assignments_topic

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)


def _source(claimed: Claimed) -> str:
    if claimed.channel == "kafka":
        return assignments_topic(claimed.provider.value)
    return f"webhook:{claimed.provider.value}"


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
    """Send one claimed delivery and record what happened; returns the step taken.

    The attempt's ledger row was committed `in_flight` with the claim; this completes it.
    """
    result = await sender.send(claimed)
    if result.status_code is not None:
        trace.get_current_span().set_attribute("http.response.status_code", result.status_code)
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
    effects = consequences(_facts(claimed, result), step)
    first_delivery = False
    health: tuple[Breaker, Breaker, int] | None = None
    async with store.transaction() as tx:
        if breaker is not None and effects.moves_breaker:
            health = await tx.record_health(
                claimed, answered=effects.answered, at=at, policy=breaker
            )
            await ops.breaker_moved(
                tx, claimed.provider, health, at, reason_code=result.error_code or "failing"
            )
        if not await tx.finish(claimed, result, step, at=at, first_attempt_at=first):
            return step
        first_delivery = await _apply(tx, claimed, effects, at)
    # Counted once committed: an attempt whose recording failed is tried again, not counted.
    metrics.observe_attempt(claimed, result.outcome, step, first_delivery=first_delivery, at=at)
    if health is not None and health[0].state is not health[1].state:
        metrics.set_breaker(claimed.provider.value, health[1].state)
    return step


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


@contextmanager
def _attempt_span(claimed: Claimed) -> Iterator[Span]:
    """The attempt as a span of the trace its assignment was made in (the referral's trace)."""
    with (
        trace_context({"traceparent": claimed.traceparent or ""}),
        _tracer.start_as_current_span(
            f"deliver {claimed.channel} {claimed.provider.value}",
            kind=SpanKind.PRODUCER if claimed.channel == "kafka" else SpanKind.CLIENT,
            attributes={
                "nottssas.referral_id": str(claimed.referral_id),
                "nottssas.assignment_id": claimed.assignment_id,
                "nottssas.provider": claimed.provider.value,
                "nottssas.channel": claimed.channel,
                "nottssas.attempt": claimed.attempt,
            },
        ) as span,
    ):
        yield span


class DeliveryWorker:
    """Claims due deliveries and attempts them concurrently, a batch at a time."""

    def __init__(
        self,
        store: DeliveryQueue,
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        *,
        now: Callable[[], datetime],
        rng: Callable[[], float],
        webhook_providers: Sequence[str],
        kafka_ready: Callable[[], bool],
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self._store = store
        self._senders = senders
        self._policy = policy
        self._now = now
        self._rng = rng
        self._webhook_providers = list(webhook_providers)
        self._kafka_ready = kafka_ready
        self._batch_size = batch_size
        self._lease = lease
        self._breaker = breaker

    async def _attempt(self, claimed: Claimed) -> Step:
        with _attempt_span(claimed) as span:
            step = await attempt(
                claimed,
                self._senders[claimed.channel],
                self._store,
                self._policy,
                now=self._now,
                rng=self._rng,
                breaker=self._breaker,
            )
            span.set_attribute("nottssas.step", type(step).__name__)
            return step

    async def step(self) -> int:
        """Attempt one batch of due deliveries (and probes); returns how many were claimed."""
        webhook = self._webhook_providers if "webhook" in self._senders else []
        claimed: list[Claimed] = []
        if self._breaker is not None and webhook:
            claimed = await self._store.claim_probes(
                now=self._now(), lease=self._lease, webhook_providers=webhook, policy=self._breaker
            )
        claimed += await self._store.claim(
            now=self._now(),
            limit=self._batch_size,
            lease=self._lease,
            kafka="kafka" in self._senders and self._kafka_ready(),
            webhook_providers=webhook,
            give_up_after=self._policy.give_up_after,
        )
        results = await asyncio.gather(*(self._attempt(c) for c in claimed), return_exceptions=True)
        for delivery, result in zip(claimed, results, strict=True):
            if isinstance(result, GiveUp):
                log.warning(
                    "delivery given up",
                    referral_id=str(delivery.referral_id),
                    assignment_id=delivery.assignment_id,
                    channel=delivery.channel,
                    reason_code=result.reason_code,
                    attempt=delivery.attempt,
                )
        # A failed recording leaves its delivery leased; it is tried again when the lease ends.
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return len(claimed)
