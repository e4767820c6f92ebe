"""A group-less consumer stopped right after `assign` stops cleanly (`stop_consumer`).

aiokafka 0.14's own `stop()` raises CancelledError there, every time (the first test shows the
premise on the real broker: if an aiokafka upgrade fixes it, `stop_consumer` can go); the tests'
topic reader hit it on a topic with nothing new to read.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.kafka_consumer import stop_consumer
from shared.topics import OPS_EVENTS
from tests.support.kafka import connection

pytestmark = pytest.mark.integration


async def _assigned(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    consumer.assign([TopicPartition(OPS_EVENTS, 0)])
    return consumer


async def test_aiokafkas_own_stop_right_after_assign_raises_cancelled(
    stack_env: dict[str, str],
) -> None:
    consumer = await _assigned(stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    with pytest.raises(asyncio.CancelledError):
        await consumer.stop()


async def test_stop_consumer_right_after_assign_stops_cleanly(stack_env: dict[str, str]) -> None:
    for _ in range(5):
        consumer = await _assigned(stack_env["KAFKA_BOOTSTRAP_SERVERS"])
        await stop_consumer(consumer)
        assert consumer._closed
