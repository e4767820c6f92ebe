"""Delivering assignments: one attempt at a claimed delivery, and the worker that claims them.

Rules kept here:
- the network call happens outside any transaction (the delivery is leased, see
  adapters.delivery_store); its result, the next step the retry policy chose, the ledger row
  and the ops events it causes are then written in one transaction;
- every attempt emits `delivery_attempted`; the first channel to deliver an assignment emits
  `delivered` (with its latency); a delivery given up is dead-lettered (by reference) with an
  alert, and emits `delivery_failed` unless another channel already delivered the assignment;
- a referral whose data key was destroyed (erased, issue 14) cannot be delivered: its delivery
  ends `failed` with the code `erased` and a `delivery_failed` event, without a dead letter or
  an alert (nothing is wrong), and without touching the endpoint's breaker (nothing was sent);
- a 410 Gone disables the provider's endpoint (one alert) until ops enable it again;
- every webhook attempt moves its endpoint's circuit breaker (domain.health) in the same
  transaction; the breaker opening and closing are each one alert (`endpoint_unhealthy`,
  `endpoint_recovered`, provider and codes only); while it is open the worker claims one
  probe per endpoint instead of its deliveries;
- each recorded attempt is counted in the Prometheus metrics once its transaction commits;
- each attempt is a span of the referral's trace, resumed from the assignment's stored
  `traceparent` (the webhook carries it on to the provider; see adapters.channels).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from services.common.telemetry import trace_context
from services.provider_gateway import metrics, ops
from services.provider_gateway.adapters.delivery_store import DeliveryStore
from services.provider_gateway.domain import Delivered, GiveUp, Outcome, RetryPolicy, Step
from services.provider_gateway.domain.health import Breaker, BreakerPolicy
from services.provider_gateway.ports import ERASED, NOT_SENT, Claimed, DeliveryUnits, Sender
from shared import AlertKind, Priority, ReferralState
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
    first_delivery = False
    health: tuple[Breaker, Breaker, int] | None = None
    async with store.transaction() as tx:
        sent = result.error_code not in NOT_SENT
        if breaker is not None and claimed.channel == "webhook" and sent:
            answered = result.outcome is not Outcome.RETRYABLE
            health = await tx.record_health(claimed, answered=answered, at=at, policy=breaker)
            await ops.breaker_moved(
                tx, claimed.provider, health, at, reason_code=result.error_code or "failing"
            )
        if not await tx.finish(claimed, result, step, at=at, first_attempt_at=first):
            return step
        await ops.event(
            tx,
            ReferralState.DELIVERY_ATTEMPTED,
            claimed,
            at,
            attempt=claimed.attempt,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            reason_code=f"{claimed.channel}:{result.error_code or 'ok'}",
        )
        if isinstance(step, Delivered) and await tx.mark_delivered(claimed.assignment_id, at):
            first_delivery = True
            await ops.event(
                tx,
                ReferralState.DELIVERED,
                claimed,
                at,
                attempt=claimed.attempt,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                reason_code=claimed.channel,
            )
        elif isinstance(step, GiveUp) and step.reason_code == ERASED:
            await ops.event(
                tx,
                ReferralState.DELIVERY_FAILED,
                claimed,
                at,
                attempt=claimed.attempt,
                reason_code=f"{claimed.channel}:{ERASED}",
            )
        elif isinstance(step, GiveUp):
            critical = claimed.priority is Priority.URGENT
            await ops.dead_letter(
                tx,
                at,
                referral_id=claimed.referral_id,
                source=_source(claimed),
                reason_code=step.reason_code,
            )
            kind = (
                AlertKind.DELIVERY_EXHAUSTED
                if step.reason_code == "exhausted"
                else AlertKind.DEAD_LETTERED
            )
            await ops.alert(
                tx,
                kind,
                at,
                referral_id=claimed.referral_id,
                provider=claimed.provider,
                reason_code=step.reason_code,
                critical=critical,
            )
            if step.disable_endpoint and await tx.disable_endpoint(
                claimed.provider, at, step.reason_code
            ):
                await ops.alert(
                    tx,
                    AlertKind.ENDPOINT_DISABLED,
                    at,
                    provider=claimed.provider,
                    reason_code=step.reason_code,
                    critical=True,
                )
            if not await tx.is_delivered(claimed.assignment_id):
                await ops.event(
                    tx,
                    ReferralState.DELIVERY_FAILED,
                    claimed,
                    at,
                    attempt=claimed.attempt,
                    status_code=result.status_code,
                    reason_code=f"{claimed.channel}:{step.reason_code}",
                )
    # Counted once committed: an attempt whose recording failed is tried again, not counted.
    metrics.observe_attempt(claimed, result.outcome, step, first_delivery=first_delivery, at=at)
    if health is not None and health[0].state is not health[1].state:
        metrics.set_breaker(claimed.provider.value, health[1].state)
    return step


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
        store: DeliveryStore,
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
