"""The ids of dead letters and alerts: derived from what they report, so a retry is one event.

Rules checked:
- a dead letter's id is fixed by (service, source topic, partition, offset, reason) and changes
  with any of them; a record with no partition or offset gets a fresh random id;
- the dead-letter edge gives the same poison record, dead-lettered twice, the same
  `dead_letter_id` and `ce_id` (on the sink it is handed: the outbox, in a service);
- a `dead_lettered` alert's id is fixed by its window: the window's first alert and its flush
  differ, a new window differs, and the same window rebuilt (a retried queue) is the same;
- a `consumer_lag` alert whose queuing failed and is retried keeps its id; the repeat of a rise
  after `repeat_after`, and a new rise after a recovery, get new ids.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

from services.common.dead_letter_alerts import DeadLetterAlerts
from services.common.kafka import dead_letterer, make_broker
from services.common.monitor import LagAlarm, Monitor
from services.common.ops_ids import dead_letter_alert_id, dead_letter_id
from shared import OpsAlert, Service
from shared.topics import OPS_ALERTS, OPS_DEADLETTER, REFERRALS_RECEIVED

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
ROUTER = Service.ROUTER


def test_a_dead_letter_id_is_fixed_by_service_topic_partition_offset_and_reason() -> None:
    one = dead_letter_id(ROUTER, REFERRALS_RECEIVED, 1, 42, "unparseable_json")
    assert one == dead_letter_id(ROUTER, REFERRALS_RECEIVED, 1, 42, "unparseable_json")
    assert one.version == 5
    others = {
        dead_letter_id(Service.INTAKE, REFERRALS_RECEIVED, 1, 42, "unparseable_json"),
        dead_letter_id(ROUTER, "referrals.decided.v1", 1, 42, "unparseable_json"),
        dead_letter_id(ROUTER, REFERRALS_RECEIVED, 2, 42, "unparseable_json"),
        dead_letter_id(ROUTER, REFERRALS_RECEIVED, 1, 43, "unparseable_json"),
        dead_letter_id(ROUTER, REFERRALS_RECEIVED, 1, 42, "validation_failed"),
    }
    assert one not in others
    assert len(others) == 5


def test_a_record_with_no_partition_or_offset_gets_a_random_id() -> None:
    assert dead_letter_id(ROUTER, "t", None, 1, "r") != dead_letter_id(ROUTER, "t", None, 1, "r")
    assert dead_letter_id(ROUTER, "t", 0, None, "r").version == 4


class _Sink:
    """An `OpsSink` that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, event: BaseModel, *, topic: str, event_id: str, **_: Any) -> None:
        self.sent.append((topic, event_id, json.loads(event.model_dump_json())))


async def test_the_same_poison_record_dead_lettered_twice_has_one_id() -> None:
    sink = _Sink()
    broker = make_broker("127.0.0.1:1", client_id="ids")
    letter = dead_letterer(ROUTER, lambda: broker, ops=sink)
    record = SimpleNamespace(topic=REFERRALS_RECEIVED, partition=1, offset=42, key=b"k")
    for _ in range(2):  # redelivered: the group was rewound, or the commit was lost
        await letter(record, json.JSONDecodeError("bad", "", 0))
    letters = [(ce_id, body) for topic, ce_id, body in sink.sent if topic == OPS_DEADLETTER]
    assert len(letters) == 2
    assert {ce_id for ce_id, _ in letters} == {body["dead_letter_id"] for _, body in letters}
    assert len({ce_id for ce_id, _ in letters}) == 1
    alerts = [ce_id for topic, ce_id, _ in sink.sent if topic == OPS_ALERTS]
    assert len(alerts) == 1  # the second is counted into the window's flush


async def test_a_dead_letter_alert_id_is_fixed_by_its_window_and_which_alert_it_is() -> None:
    sent: list[OpsAlert] = []

    async def publish(alert: OpsAlert) -> None:
        sent.append(alert)

    alerts = DeadLetterAlerts(ROUTER, publish, window_seconds=0.1, now=lambda: T0)
    await alerts.dead_lettered(REFERRALS_RECEIVED, "unparseable_json")
    await alerts.dead_lettered(REFERRALS_RECEIVED, "unparseable_json")
    await asyncio.sleep(0.25)
    first, flush = (a.alert_id for a in sent)
    assert first == dead_letter_alert_id(ROUTER, REFERRALS_RECEIVED, T0, "first")
    assert flush == dead_letter_alert_id(ROUTER, REFERRALS_RECEIVED, T0, "flush")
    assert first != flush
    later = dead_letter_alert_id(ROUTER, REFERRALS_RECEIVED, T0 + timedelta(minutes=1), "first")
    assert later != first
    assert dead_letter_alert_id(Service.INTAKE, REFERRALS_RECEIVED, T0, "first") != first


KEY = ("router", REFERRALS_RECEIVED)


class _Lags:
    """A lag source whose value the test sets, and an alert sink that can fail once."""

    def __init__(self) -> None:
        self.lag = 0
        self.fail_next = False
        self.alerts: list[OpsAlert] = []

    async def measure(self) -> dict[tuple[str, str], int]:
        return {KEY: self.lag}

    async def raise_alert(self, alert: OpsAlert) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("postgres down")
        self.alerts.append(alert)


def _monitor(lags: _Lags, clock: list[datetime]) -> Monitor:
    alarm = LagAlarm(threshold=10, repeat_after=timedelta(minutes=30))
    return Monitor(ROUTER, lags.measure, alarm, lags.raise_alert, clock=lambda: clock[0])


async def test_a_lag_alert_retried_after_a_failed_queue_keeps_its_id() -> None:
    lags, clock = _Lags(), [T0]
    monitor = _monitor(lags, clock)
    lags.lag, lags.fail_next = 50, True
    attempted: list[UUID] = []
    real = lags.raise_alert

    async def watching(alert: OpsAlert) -> None:
        attempted.append(alert.alert_id)
        await real(alert)

    monitor.raise_alert = watching
    with pytest.raises(ConnectionError):
        await monitor.check()
    clock[0] = T0 + timedelta(seconds=30)
    lags.lag = 70
    await monitor.check()
    assert len(attempted) == 2
    assert attempted[0] == attempted[1] == lags.alerts[0].alert_id


async def test_a_repeat_and_a_new_rise_get_new_lag_alert_ids() -> None:
    lags, clock = _Lags(), [T0]
    monitor = _monitor(lags, clock)
    lags.lag = 50
    await monitor.check()
    clock[0] = T0 + timedelta(minutes=30)  # still up: announced again
    await monitor.check()
    lags.lag = 2  # recovered
    clock[0] = T0 + timedelta(minutes=31)
    await monitor.check()
    lags.lag = 50  # a new rise
    clock[0] = T0 + timedelta(minutes=32)
    await monitor.check()
    assert len(lags.alerts) == 3
    assert len({a.alert_id for a in lags.alerts}) == 3
