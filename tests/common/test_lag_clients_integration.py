"""The self-monitor's lag checks keep their Kafka clients (real broker, TLS + SCRAM).

Rules checked (services/common/lag.py `LagReader`, monitor.py `KafkaLagSource`, `Monitor.run`):
- several checks make ONE admin client and ONE consumer (each a TLS + SCRAM login), where every
  check used to make both anew; a group and topic that appear after the first check are
  measured by the same clients;
- measuring joins no group and commits nothing: the measured group's committed offset is where
  the test put it, check after check;
- a check while the broker is down fails and closes its clients; the check after the broker
  is back measures again on new ones;
- the monitor closes the clients when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.common import lag
from services.common.monitor import LagAlarm, Monitor, kafka_lag_source
from shared import Service
from tests.common.test_monitor_integration import _drop, _topic_with_a_lagging_group
from tests.support.infra import kafka_script
from tests.support.kafka import produce, tooling

pytestmark = pytest.mark.integration


class Made:
    """The Kafka clients `lag` made, by kind, and whether each was closed."""

    def __init__(self) -> None:
        self.admins: list[Any] = []
        self.consumers: list[Any] = []


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    found = Made()

    def admin(**kwargs: Any) -> Any:
        found.admins.append(client := AIOKafkaAdminClient(**kwargs))
        return client

    def consumer(*topics: str, **kwargs: Any) -> Any:
        found.consumers.append(client := AIOKafkaConsumer(*topics, **kwargs))
        return client

    monkeypatch.setattr(lag, "AIOKafkaAdminClient", admin)
    monkeypatch.setattr(lag, "AIOKafkaConsumer", consumer)
    return found


async def test_several_checks_log_in_once_and_measure_what_appears_later(
    stack_env: dict[str, str], made: Made
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await _topic_with_a_lagging_group(bootstrap)
    later_topic, later_group = await _topic_with_a_lagging_group(bootstrap)
    source = kafka_lag_source(bootstrap, {group: (topic,)}, security=tooling())
    try:
        for _ in range(4):
            assert await source() == {(group, topic): 20}, "committed at 5 of 25, every time"
        await produce(bootstrap, topic, b'{"n": 25}', key="k25")
        assert await source() == {(group, topic): 21}
        assert (len(made.admins), len(made.consumers)) == (1, 1), "one login each, not per check"
        other = kafka_lag_source(bootstrap, {later_group: (later_topic,)}, security=tooling())
        other._reader = source._reader  # the same clients, a topic they have not seen yet
        assert await other() == {(later_group, later_topic): 20}
        assert (len(made.admins), len(made.consumers)) == (1, 1)
    finally:
        await source.close()
        await _drop(bootstrap, topic)
        await _drop(bootstrap, later_topic)
    assert made.consumers[0]._closed, "closed by close()"


async def test_a_check_after_the_broker_restarts_measures_again(
    stack_env: dict[str, str], made: Made
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await _topic_with_a_lagging_group(bootstrap)
    source = kafka_lag_source(bootstrap, {group: (topic,)}, security=tooling())
    try:
        assert await source() == {(group, topic): 20}
        try:
            await asyncio.to_thread(kafka_script, "stop")
            with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the client raises
                await asyncio.wait_for(source(), timeout=90)
            assert made.consumers[0]._closed, "the failed clients are closed, not kept"
        finally:
            await asyncio.to_thread(kafka_script, "start")
        assert await source() == {(group, topic): 20}, "new clients, after the restart"
        assert len(made.admins) == len(made.consumers) <= 3
    finally:
        await source.close()
        await _drop(bootstrap, topic)


async def test_the_monitor_closes_its_kafka_clients_when_it_stops(
    stack_env: dict[str, str], made: Made
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await _topic_with_a_lagging_group(bootstrap)
    checked = asyncio.Event()

    async def alert(_alert: Any) -> None:
        checked.set()

    monitor = Monitor(
        service=Service.ROUTER,
        lag=kafka_lag_source(bootstrap, {group: (topic,)}, security=tooling()),
        alarm=LagAlarm(threshold=10),
        raise_alert=alert,
    )
    task = asyncio.create_task(monitor.run(interval_seconds=0.1, ready=lambda: True))
    try:
        await asyncio.wait_for(checked.wait(), timeout=60)
        await asyncio.sleep(0.5)  # a few more checks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _drop(bootstrap, topic)
    assert (len(made.admins), len(made.consumers)) == (1, 1)
    assert made.consumers[0]._closed, "the monitor closed its consumer when it stopped"
