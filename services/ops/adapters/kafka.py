"""Reading Kafka for ops: whole topics up to their current end, and a followed tail.

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

from services.common.kafka import bootstrap_list
from services.common.kafka_consumer import stop_consumer
from services.common.kafka_security import KafkaSecurity
from services.common.lag import partitions
from services.ops.domain import OpsRecord


def _record(m: Any) -> OpsRecord:
    return OpsRecord(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key.decode(errors="replace") if m.key is not None else None,
        value=m.value or b"",
        timestamp_ms=m.timestamp,
    )


async def records(
    bootstrap: str,
    topics: Iterable[str],
    *,
    from_beginning: bool = True,
    follow: bool = False,
    security: KafkaSecurity | None = None,
) -> AsyncIterator[OpsRecord]:
    """The topics' messages, from the beginning (or the end); unless following, up to the end."""
    assigned = await partitions(bootstrap, topics, security=security)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_list(bootstrap),
        enable_auto_commit=False,
        group_id=None,
        **(security.aiokafka_kwargs() if security is not None else {}),
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
        await stop_consumer(consumer)


async def _all_reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        position: int = await consumer.position(tp)
        if position < end:
            return False
    return True


async def read_all(
    bootstrap: str, topics: Iterable[str], *, security: KafkaSecurity | None = None
) -> list[OpsRecord]:
    """Everything on the topics now, in partition order."""
    return [r async for r in records(bootstrap, topics, security=security)]
