"""Consumer lag: how far each consumer group is behind the end of the topics it reads.

Rules kept here:
- measuring never joins a group and never commits: committed offsets come from the admin API
  and end offsets from a group-less consumer, so measuring cannot move any service's position;
- a partition the group has not committed on lags by everything still in the log
  (end - beginning), because every subscriber starts from the earliest offset;
- a group subscribed by pattern (`^...`) is measured on every topic the pattern matches now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import bootstrap_list
from services.common.kafka_security import KafkaSecurity


def _connection(security: KafkaSecurity | None) -> dict[str, Any]:
    return security.aiokafka_kwargs() if security is not None else {}


@dataclass(frozen=True)
class PartitionLag:
    """One group's position on one partition."""

    group: str
    topic: str
    partition: int
    committed: int | None
    beginning: int
    end: int

    @property
    def lag(self) -> int:
        start = self.beginning if self.committed is None or self.committed < 0 else self.committed
        return max(self.end - start, 0)


async def partitions(
    bootstrap: str, topics: Iterable[str], *, security: KafkaSecurity | None = None
) -> list[TopicPartition]:
    """Every partition of `topics`; raises LookupError for a topic that does not exist."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_list(bootstrap), **_connection(security)
    )
    await admin.start()
    try:
        return await _partitions(admin, topics)
    finally:
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> list[TopicPartition]:
    described = await admin.describe_topics(list(topics))
    found: list[TopicPartition] = []
    for topic in described:
        if topic["error_code"] != 0 or not topic["partitions"]:
            raise LookupError(f"topic {topic['topic']} does not exist")
        found.extend(TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"])
    return sorted(found)


async def group_lag(
    bootstrap: str,
    groups: Mapping[str, tuple[str, ...]],
    *,
    security: KafkaSecurity | None = None,
) -> list[PartitionLag]:
    """Each group's committed offset and each partition's beginning and end offsets."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_list(bootstrap), **_connection(security)
    )
    await admin.start()
    try:  # one admin connection for the partitions and the groups' offsets
        groups = expand_patterns(groups, await admin.list_topics())
        wanted = await _partitions(admin, sorted({t for ts in groups.values() for t in ts}))
        committed = {
            group: await admin.list_consumer_group_offsets(
                group, partitions=[tp for tp in wanted if tp.topic in group_topics]
            )
            for group, group_topics in groups.items()
        }
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_list(bootstrap),
        enable_auto_commit=False,
        **_connection(security),
    )
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


def expand_patterns(
    groups: Mapping[str, tuple[str, ...]], existing: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Each group's topics, a subscription pattern (an entry starting `^`, as the identity
    topics' subscribers declare) standing for every existing topic it matches; a group that
    reads no existing topic yet is left out."""
    listed = sorted(existing)
    expanded: dict[str, tuple[str, ...]] = {}
    for group, entries in groups.items():
        topics = {
            topic
            for entry in entries
            for topic in (
                [t for t in listed if re.match(entry, t)] if entry[:1] == "^" else [entry]
            )
        }
        if topics:
            expanded[group] = tuple(sorted(topics))
    return expanded


def lag_by_topic(rows: Iterable[PartitionLag]) -> dict[tuple[str, str], int]:
    """Total lag per (group, topic)."""
    totals: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.group, row.topic)
        totals[key] = totals.get(key, 0) + row.lag
    return totals
