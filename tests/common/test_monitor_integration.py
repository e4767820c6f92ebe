"""Lag measured on the real broker, and the alert it raises on the real `ops.alerts.v1`.

A test-only topic and consumer group make the lag exact: 25 messages, 5 of them committed.
"""

from __future__ import annotations

import contextlib
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from services.common.kafka import make_broker
from services.common.monitor import kafka_lag_source
from services.common.runtime import BrokerStarter, TaskGroup, start_monitor
from services.common.settings import ServiceSettings
from shared import Service
from shared.topics import OPS_ALERTS
from tests.support.kafka import collect, connection, produce, tooling

pytestmark = pytest.mark.integration


async def _topic_with_a_lagging_group(bootstrap: str) -> tuple[str, str]:
    topic, group = f"test.lag.{uuid4().hex[:12]}", f"test-lag-{uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    for n in range(25):
        await produce(bootstrap, topic, f'{{"n": {n}}}'.encode(), key=f"k{n}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.commit({partition: OffsetAndMetadata(5, "")})
    finally:
        await consumer.stop()
    return topic, group


async def _drop(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_lag_is_what_the_group_has_not_consumed(stack_env: dict[str, str]) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await _topic_with_a_lagging_group(bootstrap)
    source = kafka_lag_source(bootstrap, {group: (topic,)}, security=tooling())
    try:
        assert await source() == {(group, topic): 20}
    finally:
        await source.close()  # the clients it keeps between checks
        await _drop(bootstrap, topic)


async def test_a_group_behind_by_more_than_the_threshold_raises_an_ops_alert(
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = await _topic_with_a_lagging_group(bootstrap)
    settings = ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        http_port=0,
        monitor_interval_seconds=0.2,
        consumer_lag_alert_threshold=10,
        kafka_security=tooling(),
    )
    broker = make_broker(bootstrap, client_id="lag-test", security=tooling())
    starter = BrokerStarter(broker)
    tasks = TaskGroup()
    tasks.start("kafka-connect", starter.run())
    start_monitor(
        tasks, service=Service.ROUTER, settings=settings, starter=starter, groups={group: (topic,)}
    )
    try:
        found = await collect(
            bootstrap,
            OPS_ALERTS,
            lambda r: r.json().get("consumer_group") == group,
            until=bool,
            timeout=60,
            settle=1.0,
        )
    finally:
        await tasks.stop()
        with contextlib.suppress(Exception):
            await broker.stop()
        await _drop(bootstrap, topic)
    assert found, "no consumer_lag alert"
    assert len(found) == 1, "the same rise was announced more than once"
    alert = found[0].json()
    assert alert["kind"] == "consumer_lag"
    assert (alert["topic"], alert["count"], alert["severity"]) == (topic, 20, "warning")
    assert found[0].headers["ce_type"] == "uk.nottssas.ops.alert.v1"
