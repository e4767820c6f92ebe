"""The delivery worker: claims due deliveries (and endpoint probes) and attempts them.

Rules kept here:
- a batch is claimed (leased, see adapters.delivery_store) and its attempts run concurrently,
  each through `handlers.delivery.attempt`; while an endpoint's breaker is open the worker
  claims one probe for it instead of its deliveries (see domain.health);
- each attempt is a span of the referral's trace, resumed from the assignment's stored
  `traceparent` (the webhook carries it on to the provider; see adapters.channels);
- an attempt whose recording failed leaves its delivery leased (tried again when the lease
  ends) and the step raises, so the loop backs off; a delivery given up is logged by ids only.
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
from services.provider_gateway.domain import GiveUp, RetryPolicy, Step
from services.provider_gateway.domain.health import BreakerPolicy
from services.provider_gateway.handlers.delivery import attempt
from services.provider_gateway.ports import Claimed, DeliveryQueue, Sender

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)


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
