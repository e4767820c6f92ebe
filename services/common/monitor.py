"""What each service watches about itself: its consumer groups' lag and its outbox backlog.

Every `interval` seconds the monitor measures, sets the Prometheus gauges
`kafka_consumer_lag{group,topic}` and `outbox_backlog{service}`, and raises a
`consumer_lag` alert on `ops.alerts.v1` when a group falls too far behind.

Rules kept here:
- `LagAlarm` (pure) decides when to alert: when a group's lag on a topic rises above the
  threshold; not again while it stays above, unless `repeat_after` has passed (so a stuck
  consumer is re-announced, not announced at every check); and once it has recovered below
  half the threshold, a new rise alerts again (the gap stops a lag hovering at the threshold
  from alerting at every check). Ten times the threshold is critical;
- an alert's id is derived from the rise it announces (`ops_ids.lag_alert_id`: service, group,
  topic, when the rise was first seen, which announcement of it), so an alert whose queuing is
  retried (it failed, or its success was not seen) is one alert to every consumer;
- alerts are queued on the service's outbox (`ops_outbox`, wired in `runtime.start_monitor`);
- a measurement that fails (Kafka or PostgreSQL unreachable) is logged and skipped; the loop
  goes on, and the gauges keep their last values;
- lag is measured over Kafka clients kept from one check to the next (`KafkaLagSource`: a TLS +
  SCRAM login per client, once, not per check), re-made after a failure, closed when the
  monitor stops;
- gauges and alerts carry group names, topic names and counts only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Gauge

from services.common.kafka_security import KafkaSecurity
from services.common.lag import LagReader, lag_by_topic
from services.common.ops_ids import lag_alert_id
from shared import AlertKind, OpsAlert, Service

log = structlog.get_logger(__name__)

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Messages not yet consumed, by this service's consumer group and topic.",
    ["group", "topic"],
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog",
    "Outbox rows committed and not yet acknowledged by Kafka.",
    ["service"],
)


@dataclass
class LagAlarm:
    """When a group's lag on a topic deserves a person's attention (see the module's rules)."""

    threshold: int
    repeat_after: timedelta = timedelta(minutes=30)
    _raised_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # The rise each (group, topic) is in: when it was first seen above the threshold, and how
    # many of its alerts were sent; what a rise's alert ids are derived from.
    _rises: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)

    def due(
        self, lags: Mapping[tuple[str, str], int], now: datetime
    ) -> list[tuple[str, str, int, bool]]:
        """The (group, topic, lag, critical) to alert on now; forgets those recovered."""
        alerts = []
        for key, lag in sorted(lags.items()):
            raised = self._raised_at.get(key)
            if lag > self.threshold:
                self._rises.setdefault(key, (now, 0))
                if raised is None or now - raised >= self.repeat_after:
                    alerts.append((*key, lag, lag >= 10 * self.threshold))
            elif lag < self.threshold / 2:
                self._raised_at.pop(key, None)
                self._rises.pop(key, None)
        return alerts

    def rise(self, group: str, topic: str) -> tuple[datetime, int]:
        """The rise (group, topic) is in: when it was first seen, and its alerts sent so far."""
        return self._rises[(group, topic)]

    def raised(self, group: str, topic: str, at: datetime) -> None:
        """Note that the alert was sent (not before: an alert that failed is due again)."""
        self._raised_at[(group, topic)] = at
        since, sent = self._rises.get((group, topic), (at, 0))
        self._rises[(group, topic)] = (since, sent + 1)


def lag_alert(
    service: Service,
    group: str,
    topic: str,
    lag: int,
    *,
    critical: bool,
    at: datetime,
    alert_id: UUID | None = None,
) -> OpsAlert:
    """The `consumer_lag` alert (`alert_id` derived by the caller; random if not given)."""
    return OpsAlert(
        alert_id=alert_id or uuid4(),
        at=at,
        service=service,
        kind=AlertKind.CONSUMER_LAG,
        severity="critical" if critical else "warning",
        consumer_group=group,
        topic=topic,
        count=lag,
    )


LagSource = Callable[[], Awaitable[Mapping[tuple[str, str], int]]]


def consumer_groups(broker: KafkaBroker) -> dict[str, tuple[str, ...]]:
    """The consumer groups the broker's subscribers join, and the topics each reads."""
    groups: dict[str, set[str]] = {}
    for subscriber in broker.subscribers:
        group = getattr(subscriber, "group_id", None)
        if group:
            groups.setdefault(group, set()).update(getattr(subscriber, "topic_names", []))
    return {group: tuple(sorted(topics)) for group, topics in sorted(groups.items())}


class KafkaLagSource:
    """Measures `groups` (group -> topics it reads) on the cluster at `bootstrap`, over clients
    kept between checks (`lag.LagReader`); `close` closes them (`Monitor.run` does, when it
    stops)."""

    def __init__(
        self,
        bootstrap: str,
        groups: Mapping[str, tuple[str, ...]],
        *,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._groups = dict(groups)
        self._reader = LagReader(bootstrap, security=security)

    async def __call__(self) -> Mapping[tuple[str, str], int]:
        return lag_by_topic(await self._reader.measure(self._groups))

    async def close(self) -> None:
        await self._reader.close()


def kafka_lag_source(
    bootstrap: str,
    groups: Mapping[str, tuple[str, ...]],
    *,
    security: KafkaSecurity | None = None,
) -> KafkaLagSource:
    """Measures `groups` (group -> topics it reads) on the cluster at `bootstrap`."""
    return KafkaLagSource(bootstrap, groups, security=security)


@dataclass
class Monitor:
    """Measures lag (and the outbox backlog, for a service that has one) and alerts."""

    service: Service
    lag: LagSource
    alarm: LagAlarm
    raise_alert: Callable[[OpsAlert], Awaitable[None]]
    backlog: Callable[[], Awaitable[int]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def check(self) -> None:
        """One round of measuring; raises if a measurement or an alert could not be made."""
        if self.backlog is not None:
            OUTBOX_BACKLOG.labels(service=self.service.value).set(await self.backlog())
        lags = await self.lag()
        for (group, topic), lag in lags.items():
            CONSUMER_LAG.labels(group=group, topic=topic).set(lag)
        now = self.clock()
        for group, topic, lag, critical in self.alarm.due(lags, now):
            log.warning("consumer lag above threshold", group=group, topic=topic, lag=lag)
            alert_id = lag_alert_id(self.service, group, topic, *self.alarm.rise(group, topic))
            await self.raise_alert(
                lag_alert(
                    self.service, group, topic, lag, critical=critical, at=now, alert_id=alert_id
                )
            )
            self.alarm.raised(group, topic, now)

    async def run(self, *, interval_seconds: float, ready: Callable[[], bool]) -> None:
        """Check every `interval_seconds` (once `ready`, i.e. the broker is connected); when
        stopped (cancelled), close what the lag source keeps open."""
        try:
            while True:
                if ready():
                    try:
                        await self.check()
                    except Exception as exc:  # noqa: BLE001 - a failed check must not end the watch
                        log.warning("monitor check failed", error=type(exc).__name__)
                await asyncio.sleep(interval_seconds)
        finally:
            close = getattr(self.lag, "close", None)
            if close is not None:
                await close()
