"""A test pipeline's consumer groups start where the topics end (tests/support/kafka_groups.py):
an idle group is committed at the end of every partition of its topics, and a group that has a
live member is left where it is rather than failing the pipeline's start. Real Kafka."""

from __future__ import annotations

from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.kafka_consumer import stop_consumer
from shared.topics import REFERRALS_RECEIVED
from tests.support.kafka import connection, end_offsets, produce
from tests.support.kafka_groups import skip_to_end

pytestmark = pytest.mark.integration


async def _committed(
    bootstrap: str, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **connection()
    )
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await stop_consumer(consumer)


async def test_an_idle_group_is_committed_at_the_end_of_every_partition(
    stack_env: dict[str, str],
) -> None:
    bootstrap, group = stack_env["KAFKA_BOOTSTRAP_SERVERS"], f"test-skip-{uuid4().hex[:8]}"
    for n in range(3):
        await produce(bootstrap, REFERRALS_RECEIVED, b"left behind", key=f"k{n}")
    ends = await end_offsets(bootstrap, (REFERRALS_RECEIVED,))

    skipped = await skip_to_end(bootstrap, {group: (REFERRALS_RECEIVED,)})

    assert skipped[group] >= 3
    assert await _committed(bootstrap, group, list(ends)) == ends


async def test_a_group_with_a_live_member_is_left_where_it_is(stack_env: dict[str, str]) -> None:
    bootstrap, group = stack_env["KAFKA_BOOTSTRAP_SERVERS"], f"test-skip-{uuid4().hex[:8]}"
    member = AIOKafkaConsumer(
        REFERRALS_RECEIVED, bootstrap_servers=bootstrap, group_id=group, **connection()
    )
    await member.start()
    try:
        await member.getmany(timeout_ms=3000)  # joins the group and is assigned its partitions
        skipped = await skip_to_end(bootstrap, {group: (REFERRALS_RECEIVED,)})
    finally:
        await stop_consumer(member)
    assert group not in skipped
