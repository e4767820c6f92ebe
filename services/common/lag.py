"""Consumer lag: how far each consumer group is behind the end of the topics it reads.

Rules kept here:
- measuring never joins a group and never commits: committed offsets come from the admin API
  and end offsets from a group-less consumer, so measuring cannot move any service's position;
- a partition the group has not committed on lags by everything still in the log
  (end - beginning), because every subscriber starts from the earliest offset;
- a group subscribed by pattern (`^...`) is measured on every topic the pattern matches now;
- a monitor measures over clients it keeps (`LagReader`: one login per client, not per check),
  made again after a failure and closed when it stops.
"""

from __future__ import annotations

import contextlib
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
    """Each group's committed offset and each partition's beginning and end offsets, measured
    once (the clients are made for it and closed after; a monitor keeps a `LagReader`)."""
    reader = LagReader(bootstrap, security=security)
    try:
        return await reader.measure(groups)
    finally:
        await reader.close()


class LagReader:
    """Measures lag again and again over one admin client and one group-less consumer.

    Each client is a TLS + SCRAM login; a monitor that checks every half-minute keeps them
    rather than logging in twice per check. A measurement that fails on kept clients is tried
    once more on new ones (the broker restarted, a connection went stale); clients that fail
    are closed, and the next measurement makes new ones. `close` closes both.
    """

    def __init__(self, bootstrap: str, *, security: KafkaSecurity | None = None) -> None:
        self._bootstrap = bootstrap_list(bootstrap)
        self._connection = _connection(security)
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def measure(self, groups: Mapping[str, tuple[str, ...]]) -> list[PartitionLag]:
        kept = self._clients is not None
        try:
            return await _measure(*await self._open(), groups)
        except Exception:
            await self.close()
            if not kept:
                raise
        return await self.measure(groups)  # once more, on new clients

    async def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            admin, consumer = clients
            with contextlib.suppress(Exception):  # a client of a dead broker may fail to close
                await admin.close()
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _open(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._clients is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._connection)
            # No group: it never joins one and never commits (see the module's rules).
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._connection
            )
            self._clients = (admin, consumer)  # kept before starting: close() closes either
            await admin.start()
            await consumer.start()
        return self._clients


async def _measure(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    groups: Mapping[str, tuple[str, ...]],
) -> list[PartitionLag]:
    groups = expand_patterns(groups, await admin.list_topics())
    wanted = await _partitions(admin, sorted({t for ts in groups.values() for t in ts}))
    committed = {
        group: await admin.list_consumer_group_offsets(
            group, partitions=[tp for tp in wanted if tp.topic in group_topics]
        )
        for group, group_topics in groups.items()
    }
    ends = await consumer.end_offsets(wanted)
    beginnings = await consumer.beginning_offsets(wanted)
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
