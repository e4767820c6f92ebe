"""Reading Kafka for ops: whole topics up to their current end, a followed tail, group offsets.

Rules kept here:
- the tool never joins a consumer group and never commits: it assigns partitions itself, so
  reading cannot move any service's position;
- "to the end" means to the end offsets taken when reading starts, so a read finishes even
  while producers keep writing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.ops.domain import OpsRecord, PartitionLag


def _record(m: Any) -> OpsRecord:
    return OpsRecord(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key.decode(errors="replace") if m.key is not None else None,
        value=m.value or b"",
        timestamp_ms=m.timestamp,
    )


async def partitions(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of `topics`; raises LookupError for a topic that does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found: list[TopicPartition] = []
    for topic in described:
        if topic["error_code"] != 0 or not topic["partitions"]:
            raise LookupError(f"topic {topic['topic']} does not exist")
        found.extend(TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"])
    return sorted(found)


async def records(
    bootstrap: str,
    topics: Iterable[str],
    *,
    from_beginning: bool = True,
    follow: bool = False,
) -> AsyncIterator[OpsRecord]:
    """The topics' messages, from the beginning (or the end); unless following, up to the end."""
    assigned = await partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
        while True:
            if not follow and await _all_reached(consumer, ends):
                return
            batches = await consumer.getmany(timeout_ms=500)
            for tp in sorted(batches):
                for message in batches[tp]:
                    if follow or message.offset < ends[tp]:
                        yield _record(message)
    finally:
        await consumer.stop()


async def _all_reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        position: int = await consumer.position(tp)
        if position < end:
            return False
    return True


async def read_all(bootstrap: str, topics: Iterable[str]) -> list[OpsRecord]:
    """Everything on the topics now, in partition order."""
    return [r async for r in records(bootstrap, topics)]


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]]) -> list[PartitionLag]:
    """Each group's committed offset and each partition's beginning and end offsets."""
    wanted = await partitions(bootstrap, sorted({t for ts in groups.values() for t in ts}))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = {
            group: await admin.list_consumer_group_offsets(
                group, partitions=[tp for tp in wanted if tp.topic in group_topics]
            )
            for group, group_topics in groups.items()
        }
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(wanted)
        beginnings = await consumer.beginning_offsets(wanted)
    finally:
        await consumer.stop()
    rows = []
    for group, group_topics in groups.items():
        for tp in wanted:
            if tp.topic not in group_topics:
                continue
            meta = committed[group].get(tp)
            rows.append(
                PartitionLag(
                    group=group,
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=meta.offset if meta is not None else None,
                    beginning=beginnings[tp],
                    end=ends[tp],
                )
            )
    return rows
