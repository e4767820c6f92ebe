"""The self-monitoring every service runs: when lag alerts, what it says, what the gauges show."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.common.monitor import LagAlarm, Monitor, consumer_groups
from services.ops.asyncapi import brokers
from services.ops.domain import CONSUMER_GROUPS
from shared import AlertKind, OpsAlert, Service

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KEY = ("router", "referrals.received.v1")


def _alert_all(alarm: LagAlarm, lag: int, at: datetime) -> list[tuple[str, str, int, bool]]:
    due = alarm.due({KEY: lag}, at)
    for group, topic, _, _ in due:
        alarm.raised(group, topic, at)
    return due


def test_lag_above_the_threshold_alerts_once_while_it_stays_up() -> None:
    alarm = LagAlarm(threshold=100, repeat_after=timedelta(minutes=30))
    assert _alert_all(alarm, 100, T0) == []  # at the threshold is not above it
    assert _alert_all(alarm, 101, T0) == [(*KEY, 101, False)]
    assert _alert_all(alarm, 500, T0 + timedelta(minutes=1)) == []
    assert _alert_all(alarm, 500, T0 + timedelta(minutes=29)) == []


def test_a_lag_that_stays_up_is_announced_again_after_the_repeat_period() -> None:
    alarm = LagAlarm(threshold=100, repeat_after=timedelta(minutes=30))
    _alert_all(alarm, 150, T0)
    assert _alert_all(alarm, 150, T0 + timedelta(minutes=30)) == [(*KEY, 150, False)]


def test_after_recovering_below_half_the_threshold_a_new_rise_alerts_again() -> None:
    alarm = LagAlarm(threshold=100)
    _alert_all(alarm, 150, T0)
    assert _alert_all(alarm, 60, T0 + timedelta(minutes=1)) == []  # down, not far enough
    assert _alert_all(alarm, 150, T0 + timedelta(minutes=2)) == []  # so this is the same rise
    assert _alert_all(alarm, 49, T0 + timedelta(minutes=3)) == []  # recovered
    assert _alert_all(alarm, 101, T0 + timedelta(minutes=4)) == [(*KEY, 101, False)]


def test_ten_times_the_threshold_is_critical() -> None:
    assert LagAlarm(threshold=100).due({KEY: 1000}, T0) == [(*KEY, 1000, True)]
    assert LagAlarm(threshold=100).due({KEY: 999}, T0) == [(*KEY, 999, False)]


def test_each_group_and_topic_is_judged_on_its_own() -> None:
    alarm = LagAlarm(threshold=10)
    other = ("provider-gateway-received", "referrals.received.v1")
    assert alarm.due({KEY: 11, other: 3}, T0) == [(*KEY, 11, False)]


class _Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.alerts: list[OpsAlert] = []
        self.fail_first = fail_first

    async def __call__(self, alert: OpsAlert) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("kafka down")
        self.alerts.append(alert)


def _monitor(lags: dict[tuple[str, str], int], sink: _Sink, backlog: int = 0) -> Monitor:
    async def lag() -> Mapping[tuple[str, str], int]:
        return lags

    async def outbox() -> int:
        return backlog

    return Monitor(
        service=Service.ROUTER,
        lag=lag,
        alarm=LagAlarm(threshold=10),
        raise_alert=sink,
        backlog=outbox,
        clock=lambda: T0,
    )


def _gauge(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_a_check_sets_the_gauges_and_raises_a_pii_free_lag_alert() -> None:
    sink = _Sink()
    await _monitor({KEY: 42}, sink, backlog=7).check()
    assert _gauge("kafka_consumer_lag", {"group": KEY[0], "topic": KEY[1]}) == 42
    assert _gauge("outbox_backlog", {"service": "router"}) == 7
    (alert,) = sink.alerts
    assert alert.kind is AlertKind.CONSUMER_LAG
    assert (alert.consumer_group, alert.topic, alert.count) == (*KEY, 42)
    assert alert.service is Service.ROUTER
    assert alert.referral_id is None
    assert alert.severity == "warning"  # critical from ten times the threshold
    OpsAlert.model_validate_json(alert.model_dump_json())


async def test_an_alert_that_could_not_be_sent_is_due_again_at_the_next_check() -> None:
    sink = _Sink(fail_first=1)
    monitor = _monitor({KEY: 42}, sink)
    with pytest.raises(ConnectionError):
        await monitor.check()
    await monitor.check()
    assert len(sink.alerts) == 1


def test_each_service_watches_exactly_its_own_consumer_groups() -> None:
    watched: dict[str, tuple[str, ...]] = {}
    for broker in brokers():
        watched |= consumer_groups(broker)
    assert watched == {g: tuple(sorted(t)) for g, t in CONSUMER_GROUPS.items()}
