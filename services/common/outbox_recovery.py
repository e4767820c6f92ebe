"""The outbox relay's recovery at start: rows Kafka already holds are marked sent, not sent again.

Why: the relay marks a batch sent only once Kafka has acknowledged it. A process killed between
the acknowledgement and the mark leaves those rows unsent, and the next relay would publish them
a second time: harmless to consumers (they dedupe by `ce_id`), but a second copy of a decision
or an assignment on the topic. So before its first batch the relay reads back what is there.

Rules kept here:
- only the rows unsent at start are looked for (the oldest `limit`, by id), and only from the
  time the oldest of them was queued, less `clock_skew`, on: a row is published after its
  transaction commits, so a copy of it is at or after that time in every partition
  (`offsets_for_times`);
- a row counts as published when a message on its topic carries its `ce_id`; a row with no
  `ce_id` is left to be published;
- reading joins no group and commits nothing (a group-less consumer, assigned the partitions),
  and stops at the end offsets taken when it starts;
- bounded: at most `max_messages` read and `max_seconds` spent; what is not found by then stays
  unsent (published again under its own id, as without the recovery: nothing is lost);
- rows are marked with the table's own statement, only while still unsent (another replica's
  relay may have sent them meanwhile), so the router's trigger stamps its decisions published;
- it runs once per start, after Kafka answers and before the broker (its consumers, and so the
  relay, which waits for the broker) starts (`at_start`, run by `runtime.BrokerStarter`): only
  what a predecessor left is looked for, never a row this process queued from a redelivery;
- it never stops the service: a recovery that fails `ATTEMPTS` times (say a deployment without
  the READ grants) is given up with a warning, and those rows are published again under their
  own ids, which consumers dedupe (publishing late would be worse).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka import bootstrap_list
from services.common.kafka_consumer import stop_consumer
from services.common.kafka_security import KafkaSecurity
from services.common.outbox import OutboxTable

log = structlog.get_logger(__name__)

# (topic, ce_id) of the messages found on Kafka.
Published = set[tuple[str, str]]
# Given each topic's wanted ids and the earliest time to look from: those found.
FindPublished = Callable[[Mapping[str, set[str]], datetime], Awaitable[Published]]


ATTEMPTS = 3


@dataclass(frozen=True)
class RecoveryLimits:
    limit: int = 10_000  # unsent rows looked for
    clock_skew: timedelta = timedelta(minutes=1)  # between PostgreSQL's clock and Kafka's
    max_messages: int = 500_000
    max_seconds: float = 30.0


async def recover(
    pool: asyncpg.Pool,
    table: OutboxTable,
    find: FindPublished,
    limits: RecoveryLimits = RecoveryLimits(),
) -> int:
    """Mark sent the unsent rows whose message Kafka already holds; returns how many."""
    rows = await pool.fetch(table.unsent_events_sql, limits.limit)
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if row["ce_id"]:
            wanted.setdefault(row["topic"], set()).add(row["ce_id"])
    if not wanted:
        return 0
    since = min(row["created_at"] for row in rows) - limits.clock_skew
    found = await find(wanted, since)
    ids = [int(r["id"]) for r in rows if (r["topic"], r["ce_id"]) in found]
    if ids:
        await pool.execute(table.mark_unsent_sent_sql, ids)
        log.info("outbox rows already on kafka marked sent", rows=len(ids), table=table.table)
    return len(ids)


def at_start(recover_once: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[None]]:
    """`recover_once` for `BrokerStarter`: run until it succeeds or `ATTEMPTS` have failed, once
    per process (a broker start retried after it does not run it again); never raises."""
    done = False

    async def run() -> None:
        nonlocal done
        if done:
            return
        done = True  # whatever happens below: once per process
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await recover_once()
            except Exception as exc:  # noqa: BLE001 - any failure: try again, then give up (rules)
                log.warning("outbox recovery failed", error=type(exc).__name__, attempt=attempt)
                await asyncio.sleep(0.5 * attempt)
            else:
                return
        log.warning("outbox recovery given up; unsent rows will be published again")

    return run


def kafka_finder(
    bootstrap: str,
    *,
    security: KafkaSecurity | None = None,
    limits: RecoveryLimits = RecoveryLimits(),
) -> FindPublished:
    """Finds messages by `ce_id` on the cluster at `bootstrap`, reading each topic from `since`."""

    connection = security.aiokafka_kwargs() if security is not None else {}

    async def find(wanted: Mapping[str, set[str]], since: datetime) -> Published:
        partitions = await _partitions(bootstrap, connection, sorted(wanted))
        if not partitions:
            return set()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_list(bootstrap), enable_auto_commit=False, **connection
        )
        await consumer.start()
        found: Published = set()
        try:
            await asyncio.wait_for(
                _read_back(
                    consumer,
                    partitions,
                    wanted,
                    since=since,
                    found=found,
                    limit=limits.max_messages,
                ),
                limits.max_seconds,
            )
        except TimeoutError:
            log.warning("outbox recovery stopped at its time limit", seconds=limits.max_seconds)
        finally:
            await stop_consumer(consumer)
        return found

    return find


async def _partitions(
    bootstrap: str, connection: dict[str, Any], topics: list[str]
) -> list[TopicPartition]:
    """Every partition of those of `topics` that exist (a topic never published to may not)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_list(bootstrap), **connection)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        if topic["error_code"] == 0
        for p in sorted(topic["partitions"], key=lambda p: p["partition"])
    ]


async def _read_back(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    wanted: Mapping[str, set[str]],
    *,
    since: datetime,
    found: Published,
    limit: int,
) -> None:
    """Add to `found` each wanted message of `wanted`'s topics from `since` to their ends."""
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.offsets_for_times(
        {tp: int(since.timestamp() * 1000) for tp in partitions}
    )
    todo = {
        tp: ends[tp]
        for tp in partitions
        if (start := starts.get(tp)) is not None and start.offset < ends[tp]
    }
    if not todo:
        return
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, starts[tp].offset)
    remaining = sum(len(ids) for ids in wanted.values())
    read = 0
    while todo and read < limit and len(found) < remaining:
        for tp, records in (await consumer.getmany(timeout_ms=500, max_records=2000)).items():
            read += len(records)
            for record in records:
                ce_id = dict(record.headers).get("ce_id")
                if ce_id is not None and ce_id.decode(errors="replace") in wanted[tp.topic]:
                    found.add((tp.topic, ce_id.decode()))
        for tp, end in list(todo.items()):
            if await consumer.position(tp) >= end:
                del todo[tp]
                consumer.pause(tp)
