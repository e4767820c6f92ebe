"""The gateway's Prometheus metrics, in the default registry that `/metrics` exposes.

Rules kept here:
- labels come from closed sets only (provider, channel, attempt outcome, final result): never
  a referral id, an assignment id or anything personal, so no label can leak a person and the
  number of series stays fixed;
- what is counted is what was recorded: an attempt whose result never reached the database (a
  late duplicate worker, a crash) is not counted;
- the end-to-end latency runs from the referral's `received_at` (intake) to the first channel
  that delivered its assignment, once per assignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from services.provider_gateway.domain import Delivered, GiveUp, Outcome, Step
from services.provider_gateway.ports import Claimed

ATTEMPTS: Final = Counter(
    "gateway_delivery_attempts",
    "Delivery attempts recorded, by provider, channel and outcome.",
    ["provider", "channel", "outcome"],
)
FINISHED: Final = Counter(
    "gateway_deliveries_finished",
    "Deliveries that reached a final result (delivered or given_up), by provider and channel.",
    ["provider", "channel", "result"],
)
RETRY_QUEUE: Final = Gauge(
    "gateway_retry_queue_depth",
    "Pending deliveries that have failed at least once and wait for a retry, by channel.",
    ["channel"],
)
PENDING: Final = Gauge(
    "gateway_deliveries_pending",
    "Pending deliveries, new or retrying, by channel.",
    ["channel"],
)
END_TO_END: Final = Histogram(
    "gateway_received_to_delivered_seconds",
    "From the referral's received_at to its assignment's first delivery, by provider.",
    ["provider"],
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 86400, 2 * 86400, 7 * 86400),
)
ENDPOINT_BREAKER: Final = Gauge(
    "gateway_endpoint_breaker_state",
    "Each provider webhook endpoint's circuit breaker: 0 closed, 1 half-open (probing), 2 open.",
    ["provider"],
)
CHANNELS: Final = ("webhook", "kafka")
_BREAKER_VALUE: Final = {"closed": 0, "half_open": 1, "open": 2}


def observe_attempt(
    claimed: Claimed, outcome: Outcome, step: Step, *, first_delivery: bool, at: datetime
) -> None:
    """Count one recorded attempt; on its assignment's first delivery, observe the latency."""
    provider, channel = claimed.provider.value, claimed.channel
    ATTEMPTS.labels(provider, channel, outcome.value).inc()
    if isinstance(step, Delivered):
        FINISHED.labels(provider, channel, "delivered").inc()
    elif isinstance(step, GiveUp):
        FINISHED.labels(provider, channel, "given_up").inc()
    if first_delivery and claimed.received_at is not None:
        seconds = (at - claimed.received_at).total_seconds()
        END_TO_END.labels(provider).observe(max(seconds, 0.0))


def set_queue(depths: Mapping[str, tuple[int, int]]) -> None:
    """Set the gauges from {channel: (pending, retrying)}; a channel not given is at zero."""
    for channel in CHANNELS:
        pending, retrying = depths.get(channel, (0, 0))
        PENDING.labels(channel).set(pending)
        RETRY_QUEUE.labels(channel).set(retrying)


def set_breaker(provider: str, state: str) -> None:
    """Set one endpoint's breaker gauge (`state`: closed, half_open or open)."""
    ENDPOINT_BREAKER.labels(provider).set(_BREAKER_VALUE[state])
