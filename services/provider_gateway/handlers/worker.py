"""The delivery worker: claims due deliveries (and endpoint probes) and attempts them.

Rules kept here:
- a batch is claimed (leased, see adapters.delivery_store), its attempts are sent
  concurrently (`handlers.delivery`), then recorded together in one transaction
  (`handlers.recording`); while an endpoint's breaker is open the worker
  claims one probe for it instead of its deliveries (see domain.health);
- each attempt is a span of the referral's trace, resumed from the assignment's stored
  `traceparent` (the webhook carries it on to the provider; see adapters.channels), open
  from its send until its recording ends (its events carry it);
- an attempt whose recording failed leaves its delivery leased (tried again when the lease
  ends) and the step raises, so the loop backs off; a delivery given up is logged by ids only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from services.common.telemetry import trace_context
from services.provider_gateway.domain import GiveUp, RetryPolicy
from services.provider_gateway.domain.health import BreakerPolicy
from services.provider_gateway.handlers.delivery import Attempted, judge, send
from services.provider_gateway.handlers.recording import record_all
from services.provider_gateway.ports import Claimed, DeliveryQueue, Sender

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)


def _attempt_span(claimed: Claimed) -> Span:
    """The attempt as a span of the trace its assignment was made in (the referral's trace);
    it stays open until the attempt is recorded."""
    with trace_context({"traceparent": claimed.traceparent or ""}):
        return _tracer.start_span(
            f"deliver {claimed.channel} {claimed.provider.value}",
            kind=SpanKind.PRODUCER if claimed.channel == "kafka" else SpanKind.CLIENT,
            attributes={
                "nottssas.referral_id": str(claimed.referral_id),
                "nottssas.assignment_id": claimed.assignment_id,
                "nottssas.provider": claimed.provider.value,
                "nottssas.channel": claimed.channel,
                "nottssas.attempt": claimed.attempt,
            },
        )


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

    async def _send(self, claimed: Claimed, span: Span) -> Attempted:
        with trace.use_span(span, end_on_exit=False):
            result = await send(claimed, self._senders[claimed.channel])
        done = judge(claimed, result, self._policy, now=self._now, rng=self._rng)
        span.set_attribute("nottssas.step", type(done.step).__name__)
        return done

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
        spans = {id(c): _attempt_span(c) for c in claimed}
        sent = await asyncio.gather(
            *(self._send(c, spans[id(c)]) for c in claimed), return_exceptions=True
        )
        attempted = [a for a in sent if isinstance(a, Attempted)]
        failures: list[BaseException] = [a for a in sent if isinstance(a, BaseException)]
        try:
            recorded = await record_all(
                self._store,
                attempted,
                breaker=self._breaker,
                within=lambda a: trace.use_span(spans[id(a.claimed)], end_on_exit=False),
            )
        finally:
            for span in spans.values():
                span.end()
        for done, error in zip(attempted, recorded, strict=True):
            if error is not None:
                failures.append(error)
            elif isinstance(done.step, GiveUp):
                log.warning(
                    "delivery given up",
                    referral_id=str(done.claimed.referral_id),
                    assignment_id=done.claimed.assignment_id,
                    channel=done.claimed.channel,
                    reason_code=done.step.reason_code,
                    attempt=done.claimed.attempt,
                )
        # A failed attempt or recording leaves its delivery leased; it is tried again when the
        # lease ends.
        if failures:
            raise failures[0]
        return len(claimed)
